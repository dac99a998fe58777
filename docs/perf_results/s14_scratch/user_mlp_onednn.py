"""A user's own ``nn.Sequential`` MLP (64→256→256→1, SiLU): E+∇E by autograd as written (default BLAS) and through
``ebmlab.energies.onednn_linears`` (oneDNN), interleaved in one process; then ``sample`` (ULA, MALA) with each, 40
steps per timed run, median of 3.

    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/user_mlp_onednn.py --tuned [--rows 128]
"""

from __future__ import annotations

import statistics
import time

import torch
from interleaved import compare, setup
from torch import nn

from ebmlab.energies import energy_and_grad, onednn_linears
from ebmlab.samplers import MALA, ULA, sample


def main() -> None:
    args = setup(rows=True)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, 1))
    net.requires_grad_(False)
    fast = onednn_linears(net)
    energies = {
        "user nn.Sequential (default BLAS)": lambda z: net(z).squeeze(-1),
        "onednn_linears(user nn.Sequential)": lambda z: fast(z).squeeze(-1),
    }
    x = torch.randn(args.rows, 64)
    (e0, g0), (e1, g1) = (energy_and_grad(f, x) for f in energies.values())
    print(f"max |ΔE| {(e0 - e1).abs().max().item():.2e}, max |Δ∇E| {(g0 - g1).abs().max().item():.2e}")
    compare({k: (lambda z, f=f: energy_and_grad(f, z)) for k, f in energies.items()}, x, args.rounds)
    for kernel in (ULA(0.01), MALA(0.01)):
        for name, f in energies.items():
            sample(f, kernel, x, 5, thin=5, seed=0, diagnostics=False)
            times = []
            for _ in range(3):
                t = time.process_time()
                sample(f, kernel, x, 40, thin=40, seed=0, diagnostics=False)
                times.append((time.process_time() - t) / 40)
            print(f"{kernel.name}, {name}: {args.rows / statistics.median(times) / 1e3:.0f}k chain-steps/s")


if __name__ == "__main__":
    main()
