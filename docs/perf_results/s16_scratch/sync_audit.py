"""Host reads (Tensor → Python conversions: each a device → host synchronisation on a GPU) per training step of
every shipped config, counted on a CPU: fit with its logged values kept as tensors (the accelerator path of
``accumulate.keep_on_device``, forced) and, with ``--gpu-path``, the finiteness checks deferred as on CUDA
(``finite_watch.DEFER_ON_CPU``). Per step = (reads in 8 steps − reads in 4 steps) / 4, with the six call sites that
grow most. ``optimizer.py`` is PyTorch's Adam reading its step counter, a CPU tensor on every device: not a sync.

    OMP_NUM_THREADS=1 python docs/perf_results/s16_scratch/sync_audit.py [--gpu-path] [configs/...yaml]
"""

import glob
import sys
from pathlib import Path

import torch

import ebmlab.samplers.finite_watch as finite_watch
import ebmlab.training.loop as loop
from ebmlab.experiments.run import build_experiment
from ebmlab.experiments.spec import load_experiment_config
from ebmlab.training import fit

NAMES = ("__bool__", "item", "__float__", "__int__", "tolist", "cpu")
ORIGINALS = {name: getattr(torch.Tensor, name) for name in NAMES}
sites: dict[str, int] = {}


def counting(on: bool) -> None:
    for name, original in ORIGINALS.items():
        if not on:
            setattr(torch.Tensor, name, original)
            continue

        def counted(*args, _original=original, _name=name, **kwargs):
            frame = sys._getframe(1)
            site = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {_name}"
            sites[site] = sites.get(site, 0) + 1
            return _original(*args, **kwargs)

        setattr(torch.Tensor, name, counted)


def reads(path: str, steps: int) -> dict[str, int]:
    overrides = [f"train.steps={steps}", "train.log_every=1000", "train.checkpoint_every=0", "train.progress=false"]
    config = load_experiment_config(path, overrides)
    experiment = build_experiment(config)
    sites.clear()
    counting(True)
    try:
        fit(experiment.method, experiment.data, config.train)
    finally:
        counting(False)
    return dict(sites)


args = sys.argv[1:]
if "--gpu-path" in args:
    args.remove("--gpu-path")
    finite_watch.DEFER_ON_CPU = True
loop.keep_on_device = lambda device: True
torch.set_num_threads(1)
for path in args or sorted(glob.glob("configs/*.yaml")):
    short, long = reads(path, 4), reads(path, 8)
    grown = {site: (n - short.get(site, 0)) / 4 for site, n in long.items() if n != short.get(site, 0)}
    top = sorted(grown.items(), key=lambda kv: -kv[1])[:6]
    total = (sum(long.values()) - sum(short.values())) / 4
    print(f"{Path(path).stem:36s} {total:6.1f} per step  " + "; ".join(f"{s} ×{n:g}" for s, n in top), flush=True)
