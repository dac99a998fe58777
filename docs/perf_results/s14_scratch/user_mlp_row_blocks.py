"""A user's own MLP (``nn.Sequential`` 64→256→256→1, SiLU; ∇E by autograd) at 4096 rows: E+∇E in one piece or
wrapped in ``RowBlocks(net, 1024)``, interleaved in one process, the order alternating each round; process CPU time,
one thread, page faults per call.

    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/user_mlp_row_blocks.py [--tuned]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch
from torch import nn


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tuned", action="store_true")
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.tuned:
        from ebmlab.allocator import tune_malloc

        print("tune_malloc:", tune_malloc())
    from row_blocks_wrapper import RowBlocks

    from ebmlab.energies import energy_and_grad

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, 1))
    net.requires_grad_(False)

    def user_energy(x: torch.Tensor) -> torch.Tensor:
        return net(x).squeeze(-1)

    blocked = RowBlocks(user_energy, 1024)
    variants = {"one piece (autograd)": user_energy, "RowBlocks(1024)": blocked}
    x = torch.randn(4096, 64)
    a, b = (energy_and_grad(v, x) for v in variants.values())
    print("bits equal:", torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]))
    times: dict[str, list[float]] = {k: [] for k in variants}
    faults: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(args.rounds):
        for name in names[r % 2 :] + names[: r % 2]:
            energy = variants[name]
            energy_and_grad(energy, x)
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t = time.process_time()
            for _ in range(10):
                energy_and_grad(energy, x)
            times[name].append((time.process_time() - t) / 10 * 1e3)
            faults[name].append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 10)
    for name in names:
        v = times[name]
        print(
            f"{name}: median {statistics.median(v):.2f} ms (min {min(v):.2f}, max {max(v):.2f}), "
            f"page faults per call: median {statistics.median(faults[name]):.0f}"
        )


if __name__ == "__main__":
    main()
