"""MLPEnergy(64, (256, 256)).energy_and_grad at 4096 rows: in row blocks (the default since session 14) against one
piece (blocks disabled), interleaved in one process, the order rotated each round; process CPU time, one thread.

    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/eg_row_blocks.py            # glibc's malloc defaults
    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/eg_row_blocks.py --tuned    # ebmlab.allocator.tune_malloc
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from ebmlab.energies import neural


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tuned", action="store_true")
    p.add_argument("--rows", type=int, default=4096)
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.tuned:
        from ebmlab.allocator import tune_malloc

        print("tune_malloc:", tune_malloc())
    torch.manual_seed(0)
    energy = neural.MLPEnergy(64, (256, 256))
    x = torch.randn(args.rows, 64)
    blocks = neural.block_rows

    def one_piece(z):
        neural.block_rows = lambda width: 1 << 30
        try:
            return energy.energy_and_grad(z)
        finally:
            neural.block_rows = blocks

    variants = {f"row blocks ({blocks(256)} rows)": energy.energy_and_grad, "one piece": one_piece}
    ref, got = one_piece(x), energy.energy_and_grad(x)
    print("bits equal:", torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1]))
    times: dict[str, list[float]] = {k: [] for k in variants}
    faults: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(args.rounds):
        for name in names[r % 2 :] + names[: r % 2]:
            f = variants[name]
            f(x)
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t = time.process_time()
            for _ in range(10):
                f(x)
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
