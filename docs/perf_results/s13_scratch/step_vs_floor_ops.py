"""Where a ULA (or MALA) step on MLPEnergy(64, (256, 256)) at 4096 chains spends the time beyond one E+∇E:
torch.profiler self time per op, per step, for ``sample`` (40 steps, the default path) against 40 E+∇E evaluations
in a tight loop at the same positions (the benchmark's floor), glibc tuned as the CLI.

    OMP_NUM_THREADS=1 python docs/perf_results/s13_scratch/step_vs_floor_ops.py [ula|mala]
"""

import sys

import torch

from ebmlab.allocator import tune_malloc
from ebmlab.energies import MLPEnergy
from ebmlab.samplers import MALA, ULA, sample

STEPS = 40


def per_op(prof: torch.profiler.profile) -> dict[str, float]:
    """Self CPU µs per step, by op."""
    return {e.key: e.self_cpu_time_total / STEPS for e in prof.key_averages()}


def main(kernel_name: str) -> None:
    kernel = {"ula": ULA, "mala": MALA}[kernel_name](0.001)
    tune_malloc()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    energy, x0 = MLPEnergy(64, (256, 256)), torch.randn(4096, 64)
    sample(energy, kernel, x0, 8, thin=8, seed=1, diagnostics=False)  # warm-up
    with torch.profiler.profile() as chain_prof:
        sample(energy, kernel, x0, STEPS, thin=STEPS, seed=1, diagnostics=False)
    with torch.profiler.profile() as floor_prof:
        for _ in range(STEPS):
            energy.energy_and_grad(x0)
    chain, floor = per_op(chain_prof), per_op(floor_prof)
    print(f"per step: chain {sum(chain.values()) / 1e3:.2f} ms, floor {sum(floor.values()) / 1e3:.2f} ms")
    for key in sorted(chain, key=lambda k: -chain[k])[:14]:
        print(f"{key:28s} chain {chain[key]:8.1f} µs   floor {floor.get(key, 0.0):8.1f} µs")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ula")
