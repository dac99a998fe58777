"""Where ULA's time goes on `MLPEnergy(64, (256, 256))` at 4096 chains, one thread: its cost (ours ÷ one E+∇E,
medians of 5 runs of 200 steps, all on the calling thread) and the torch profiler's table over 50 steps.

    OMP_NUM_THREADS=1 python docs/perf_results/s23/ula_profile.py > docs/perf_results/s23/ula_profile_1.txt
"""

from __future__ import annotations

import time

import torch
from torch.profiler import ProfilerActivity, profile

from ebmlab.allocator import tune_malloc
from ebmlab.energies import MLPEnergy
from ebmlab.energies.base import energy_and_grad
from ebmlab.samplers import ULA
from ebmlab.samplers.chains import run_chains


def median_seconds(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[runs // 2]


def main() -> None:
    torch.set_num_threads(1)
    tune_malloc()
    torch.manual_seed(0)
    energy = MLPEnergy(64, (256, 256)).requires_grad_(False)
    x0 = torch.randn(4096, 64)
    g = torch.Generator().manual_seed(0)
    steps = 200

    def chains(n: int) -> None:
        run_chains(ULA(1e-3), energy, x0, n, g, block=1 << 20, draw_ahead=False)

    chains(20)
    floor = median_seconds(lambda: [energy_and_grad(energy, x0) for _ in range(steps)]) / steps
    ours = median_seconds(lambda: chains(steps)) / steps
    print(f"ULA, MLP, 4096 chains: floor {floor * 1e3:.3f} ms, ours {ours * 1e3:.3f} ms, cost {ours / floor:.3f}")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        chains(50)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
