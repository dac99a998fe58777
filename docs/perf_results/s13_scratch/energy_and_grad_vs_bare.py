"""The library's ``energy_and_grad`` on a plain ``nn.Module`` (benchmarks/training.py's PlainMLP, 128 chains × 2-D,
∇E by autograd) against the bare script's autograd lines, in one process, interleaved; µs per call, medians of 15
rounds (each the minimum of 3 timings of 200 calls).

    OMP_NUM_THREADS=1 python docs/perf_results/s13_scratch/energy_and_grad_vs_bare.py
"""

import statistics
import sys
import timeit
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.energies.base import energy_and_grad
from training import PlainMLP


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net, x = PlainMLP(), torch.randn(128, 2)

    def bare() -> torch.Tensor:
        xg = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(net(xg).sum(), xg)
        return g

    fns = {"bare autograd lines": bare, "energy_and_grad": lambda: energy_and_grad(net, x)}
    res: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(15):
        for k, f in fns.items():
            res[k].append(min(timeit.repeat(f, number=200, repeat=3)) / 200 * 1e6)
    for k, v in res.items():
        print(f"{k:22s} {statistics.median(v):6.1f} µs")


if __name__ == "__main__":
    main()
