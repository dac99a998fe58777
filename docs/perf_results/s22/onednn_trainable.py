"""E+∇E by ``energy_and_grad`` of a user's 64→256→256→1 SiLU module, as written (parameters requiring grad) and
frozen (``requires_grad_(False)``, what the benchmarks' energies do), on the default BLAS and through
``onednn_linears``: CPU ms per call, medians of 7 interleaved rounds, one thread.

    OMP_NUM_THREADS=1 python docs/perf_results/s22/onednn_trainable.py
    OMP_NUM_THREADS=1 PYTHONPATH=<a tree before the fix>/src python docs/perf_results/s22/onednn_trainable.py
"""

import statistics
import sys
from pathlib import Path

import torch

from ebmlab.energies import energy_and_grad, onednn_linears

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "s21"))
from timing import interleaved  # session 21's interleaved CPU-time loop

torch.set_num_threads(1)


def make(trainable: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.SiLU(), torch.nn.Linear(256, 256), torch.nn.SiLU(), torch.nn.Linear(256, 1)
    )
    return net.requires_grad_(trainable)


for rows, calls in ((128, 50), (4096, 5)):
    x = torch.randn(rows, 64)
    for backend in ("default", "onednn"):
        fns = {}
        for trainable in (False, True):
            net = make(trainable)
            module = onednn_linears(net) if backend == "onednn" else net
            fns[trainable] = lambda m=module, x=x: energy_and_grad(lambda z: m(z).squeeze(-1), x)
            fns[trainable]()
        t = {k: statistics.median(v) / 1e3 for k, v in interleaved(fns, rounds=7, calls=calls).items()}
        print(
            f"{rows:5d} rows {backend:8s} frozen {t[False]:7.3f} ms  as written {t[True]:7.3f} ms  "
            f"ratio {t[True] / t[False]:.2f}"
        )
