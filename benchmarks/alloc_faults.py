"""Page faults and time per sampler step with glibc's default allocator and with ``tune_malloc``, fresh processes.

    OMP_NUM_THREADS=1 python benchmarks/alloc_faults.py [--case conv:4096] [--processes 4] [--runs 5]

Each process (modes alternating) builds the seeded energy, runs ULA ``sample(..., capture="auto")`` once to warm
up, then ``--runs`` times ``--steps`` steps, and reports CPU ms per step and minor page faults per step of each run.
glibc's thresholds are dynamic, so with its defaults the same step can land in reused or in fresh pages depending
on what was allocated and freed before (docs/performance_log.md, "Session 8"); tuned, freed pages stay in the process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from _common import set_malloc
from ebmlab.samplers import ULA, sample
from user_energies import build_problem
mode, name, chains, steps, runs = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
set_malloc(mode)
problem = build_problem(name)
x0 = problem.x0(chains)
def run():
    return sample(problem.energy, ULA(problem.step_size), x0, steps, thin=steps, seed=0, diagnostics=False)
run()
out = []
for _ in range(runs):
    faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
    run()
    out.append([1e3 * (time.process_time() - start) / steps, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps])
print(json.dumps(out))
"""


def child(mode: str, name: str, chains: int, steps: int, runs: int) -> list[list[float]]:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    for key in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        env.pop(key, None)
    args = [sys.executable, "-c", CHILD, str(HERE), mode, name, str(chains), str(steps), str(runs)]
    return json.loads(subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", default="conv:4096", help="energy:chains (benchmarks/user_energies.py)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--processes", type=int, default=4, help="fresh processes per mode, alternating")
    args = p.parse_args(argv)
    name, chains = args.case.split(":")
    results: dict[str, list[list[float]]] = {"system": [], "tuned": []}
    for _ in range(args.processes):
        for mode in results:
            results[mode] += child(mode, name, int(chains), args.steps, args.runs)
    print(f"{args.case}, ULA, {args.steps} steps per run, {args.runs} runs × {args.processes} processes per mode")
    print("| malloc | ms / step: median (min–max) | faults / step: median (min–max) |\n|---|---|---|")
    for mode, rows in results.items():
        ms, faults = [r[0] for r in rows], [r[1] for r in rows]
        print(
            f"| {mode} | {statistics.median(ms):.1f} ({min(ms):.1f}–{max(ms):.1f}) "
            f"| {statistics.median(faults):.0f} ({min(faults):.0f}–{max(faults):.0f}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
