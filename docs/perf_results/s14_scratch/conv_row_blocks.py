"""ULA on ConvEnergy(8) (the benchmark's ConvNet) at 4096 chains: one piece, or wrapped in ``RowBlocks(rows)``
(row_blocks_wrapper.py).

One configuration per process (the allocator's history is per process); ms per step, median of 5 timed runs of 20
steps, process CPU time, one thread. ``run`` alternates the configurations over rounds:

    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/conv_row_blocks.py run --rounds 2
    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/conv_row_blocks.py one --rows 512 [--tuned]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch


def one(rows: int, tuned: bool) -> str:
    torch.set_num_threads(1)
    if tuned:
        from ebmlab.allocator import tune_malloc

        tune_malloc()
    from row_blocks_wrapper import RowBlocks

    from ebmlab.energies import ConvEnergy
    from ebmlab.samplers import ULA, sample

    torch.manual_seed(0)
    net = ConvEnergy(8).eval().requires_grad_(False)
    energy = net if rows == 0 else RowBlocks(net, rows)
    x0 = torch.randn(4096, 1, 8, 8)
    sample(energy, ULA(0.01), x0, 3, thin=3, seed=0, diagnostics=False)
    times = []
    for _ in range(5):
        t = time.process_time()
        sample(energy, ULA(0.01), x0, 20, thin=20, seed=0, diagnostics=False)
        times.append((time.process_time() - t) / 20 * 1e3)
    label = "one piece" if rows == 0 else f"RowBlocks({rows})"
    return f"{'tuned' if tuned else 'glibc'} {label}: {statistics.median(times):.1f} ms/step"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["run", "one"])
    p.add_argument("--rows", type=int, default=0)
    p.add_argument("--tuned", action="store_true")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    if args.mode == "one":
        print(one(args.rows, args.tuned))
        return
    for r in range(args.rounds):
        for tuned in (False, True):
            for rows in (0, 512, 1024, 2048):
                cmd = [sys.executable, __file__, "one", "--rows", str(rows)] + (["--tuned"] if tuned else [])
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
                print(f"round {r + 1}: {out}", flush=True)


if __name__ == "__main__":
    main()
