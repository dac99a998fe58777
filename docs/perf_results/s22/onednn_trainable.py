"""E+∇E by ``energy_and_grad`` of a user's 64→256→256→1 SiLU module, as written (parameters requiring grad) and
frozen (``requires_grad_(False)``, what the benchmarks' energies do), on the default BLAS and through
``onednn_linears``: CPU ms per call, medians of 7, one thread.

    OMP_NUM_THREADS=1 python docs/perf_results/s22/onednn_trainable.py
    OMP_NUM_THREADS=1 PYTHONPATH=<a tree before the fix>/src python docs/perf_results/s22/onednn_trainable.py
"""

import statistics
import time

import torch

from ebmlab.energies import energy_and_grad, onednn_linears

torch.set_num_threads(1)


def make(trainable: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.SiLU(), torch.nn.Linear(256, 256), torch.nn.SiLU(), torch.nn.Linear(256, 1)
    )
    return net.requires_grad_(trainable)


def ms(module: torch.nn.Module, x: torch.Tensor, n: int) -> float:
    def f() -> None:
        energy_and_grad(lambda z: module(z).squeeze(-1), x)

    f()
    times = []
    for _ in range(7):
        start = time.process_time()
        for _ in range(n):
            f()
        times.append((time.process_time() - start) / n)
    return statistics.median(times) * 1e3


for rows, n in ((128, 50), (4096, 5)):
    x = torch.randn(rows, 64)
    for backend in ("default", "onednn"):
        t = {}
        for trainable in (False, True):
            net = make(trainable)
            t[trainable] = ms(onednn_linears(net) if backend == "onednn" else net, x, n)
        print(
            f"{rows:5d} rows {backend:8s} frozen {t[False]:7.3f} ms  as written {t[True]:7.3f} ms  "
            f"ratio {t[True] / t[False]:.2f}"
        )
