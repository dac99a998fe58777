"""ULA and kinetic Langevin off CUDA: the eager block runner against the step-by-step path that ``capture="auto"``
now takes there, side by side (same draws, same bits; CPU time of this process, interleaved, medians).

    OMP_NUM_THREADS=1 python benchmarks/unadjusted_paths.py [--cases mog8:4096,many-well:4096] [--repeats 7]

The block runner keeps every step's positions, energies and gradients of a block (K steps with one draw of
2²⁰ Gaussians) and stacks them; the step-by-step path keeps one row sum per step. Prints µs per step for each
path and their ratio per row.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import set_malloc
from ebmlab.samplers import ULA, KineticLangevin, sample
from user_energies import build_problem

CASES = "mog8:128,mog8:4096,many-well:128,many-well:4096,mlp:128,mlp:4096"
STEPS = {"mog8": 400, "many-well": 400, "mlp": 100, "conv": 25}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=CASES)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--malloc", default="system", choices=("system", "tuned"))
    args = p.parse_args(argv)
    set_malloc(args.malloc)
    torch.set_num_threads(1)
    print(
        "| kernel | energy / chains | steps | eager block, µs/step | auto (step by step), µs/step | block ÷ step by step |"
    )
    print("|---|---|---|---|---|---|")
    for case in args.cases.split(","):
        name, chains = case.split(":")
        problem = build_problem(name)
        x0 = problem.x0(int(chains))
        n = STEPS[name] // (4 if int(chains) >= 1024 and name in ("mlp", "conv") else 1)
        for kernel in (ULA(problem.step_size), KineticLangevin(problem.step_size)):
            times: dict[str, list[float]] = {"eager": [], "auto": []}
            outs = {}
            for mode in times:  # warm-up, and the two paths' chains compared bit for bit
                outs[mode] = sample(problem.energy, kernel, x0, n, thin=1, seed=0, diagnostics=False, capture=mode)
            assert torch.equal(outs["eager"].samples, outs["auto"].samples), (case, kernel.name)
            for _ in range(args.repeats):
                for mode in times:
                    start = time.process_time()
                    sample(problem.energy, kernel, x0, n, thin=n, seed=0, diagnostics=False, capture=mode)
                    times[mode].append((time.process_time() - start) / n * 1e6)
            block, lean = statistics.median(times["eager"]), statistics.median(times["auto"])
            print(
                f"| {kernel.name} | {name} / {chains} | {n} | {block:.0f} | {lean:.0f} | {block / lean:.3f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
