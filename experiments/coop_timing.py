"""Seconds per training iteration of each arm (A, B, C, C′, C0) at equal K, measured side by side.

Each arm is built from its config (as in ``coop_toy.py`` / ``coop_digits.py``) and trained by the same plain loop
(``losses`` → backward → Adam step on every parameter group; no logging or checkpoints). Rounds rotate the order of
the arms, each round times ``--iters`` iterations of every arm after one warm-up iteration; the table reports the
median (and the 25–75 % range) over rounds of the mean wall time and of the mean CPU time of this process per
iteration. The load average is read before and after: on a shared, loaded machine the wall times are inflated by
waiting for a core; the CPU times are not (cache sharing still inflates them somewhat).

Run::

    OMP_NUM_THREADS=1 python experiments/coop_timing.py --rounds 7 --iters 20

Writes ``docs/results_coop_timing.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]

SETUPS = {
    "eight-gaussians": {
        "A": ("configs/cd_eight_gaussians_short_run.yaml", []),
        "B": ("configs/cd_eight_gaussians_persistent.yaml", []),
        "C": ("configs/coop_eight_gaussians.yaml", []),
        "C'": ("configs/coop_eight_gaussians.yaml", ["method.vae_training=frozen", "train.groups={}"]),
        "C0": ("configs/coop_vae_eight_gaussians.yaml", []),
    },
    "digits": {
        "A": ("configs/cd_digits_short_run.yaml", []),
        "B": (
            "configs/cd_digits_short_run.yaml",
            ["method.negatives=persistent", "method.buffer_size=10000", "method.reinit_prob=0.05"],
        ),
        "C": ("configs/coop_digits.yaml", []),
        "C'": ("configs/coop_digits.yaml", ["method.vae_training=frozen", "train.groups={}"]),
        "C0": ("configs/coop_vae_digits.yaml", []),
    },
}


def build(data: str, arm: str, k: int, batch_size: int, hidden: str) -> tuple[Any, torch.Tensor, torch.optim.Optimizer]:
    from ebmlab.experiments import build_experiment, load_experiment_config

    path, sets = SETUPS[data][arm]
    sets = [*sets, "eval=null", f"train.batch_size={batch_size}"]
    if arm != "C0":
        sets += [f"method.n_steps={k}", f"energy.hidden={hidden}"]
    experiment = build_experiment(load_experiment_config(ROOT / path, sets))
    params = [p for p in experiment.method.parameters() if p.requires_grad]
    return experiment.method, experiment.data, torch.optim.Adam(params, lr=1e-4)


def iterate(
    method: Any, data: torch.Tensor, opt: torch.optim.Optimizer, n: int, bs: int, g: torch.Generator
) -> tuple[float, float]:
    """Mean wall and CPU (this process) seconds of ``n`` iterations: a batch, ``losses``, backward of every group's
    loss, one Adam step. On a loaded machine the CPU time is the closer proxy for an idle machine's wall time."""
    from ebmlab.training import StepContext

    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        batch = data[torch.randint(0, data.shape[0], (bs,), generator=g)]
        out = method.losses(batch, StepContext(step=i + 1, generator=g))
        opt.zero_grad(set_to_none=True)
        sum(out.minimize.values()).backward()
        opt.step()
    return (time.perf_counter() - start) / n, (time.process_time() - cpu) / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=["eight-gaussians", "digits"])
    p.add_argument("--ks", nargs="+", type=int, default=[5, 20])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--json", type=Path, default=ROOT / "docs/results_coop_timing.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    rows = []
    for data in args.data:
        bs, hidden = (128, "[64,64]") if data != "digits" else (64, "[256,256]")
        for k in args.ks:
            arms = list(SETUPS[data])
            built = {a: build(data, a, k, bs, hidden) for a in arms}
            times: dict[str, list[float]] = {a: [] for a in arms}
            cpu: dict[str, list[float]] = {a: [] for a in arms}
            g = torch.Generator().manual_seed(0)
            for r in range(args.rounds):
                order = arms[r % len(arms) :] + arms[: r % len(arms)]
                for a in order:
                    iterate(*built[a], 1, bs, g)  # warm-up
                    wall, used = iterate(*built[a], args.iters, bs, g)
                    times[a].append(wall), cpu[a].append(used)
            for a in arms:
                q = statistics.quantiles(times[a], n=4) if len(times[a]) > 1 else [times[a][0]] * 3
                row = {"data": data, "K": k, "arm": a, "median_s": statistics.median(times[a])}
                row |= {"q25_s": q[0], "q75_s": q[2], "per_round_s": times[a]}
                qc = statistics.quantiles(cpu[a], n=4) if len(cpu[a]) > 1 else [cpu[a][0]] * 3
                row |= {"cpu_median_s": statistics.median(cpu[a]), "cpu_q25_s": qc[0], "cpu_q75_s": qc[2]}
                rows.append(row | {"cpu_per_round_s": cpu[a]})
                print(
                    json.dumps({key: row[key] for key in ("data", "K", "arm", "median_s", "cpu_median_s")}), flush=True
                )
    out = {"settings": {k: str(v) for k, v in vars(args).items()}, "loadavg_before": load_before}
    out |= {"loadavg_after": os.getloadavg(), "cpu_count": os.cpu_count(), "rows": rows}
    args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
