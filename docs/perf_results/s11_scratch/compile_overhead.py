"""capture="compile" on a cheap energy: µs per step (HMC: per iteration of L = 5) with inductor's options.

    OMP_NUM_THREADS=1 python docs/perf_results/s11_scratch/compile_overhead.py MODE mog8 128 ula,hmc

MODE: ``base``; ``cpp`` (``options={"cpp_wrapper": True}``: the wrapper that allocates the graph's buffers and
calls its kernel in C++ instead of Python); ``evalsN`` (``COMPILE_EVALS = N`` evaluations per compiled block).
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import ebmlab.samplers.compiled as compiled
from ebmlab.samplers import HMC, ULA, sample
from user_energies import build_problem

torch.set_num_threads(1)
mode, energy, chains, kernels = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if mode.startswith("evals"):
    compiled.COMPILE_EVALS = int(mode.removeprefix("evals"))
if mode == "cpp":
    compiled._compile = lambda fn: torch.compile(fn, dynamic=False, options={"cpp_wrapper": True})
problem = build_problem(energy)
x0 = problem.x0(chains)
for name in kernels.split(","):
    kernel = HMC(problem.step_size, 5) if name == "hmc" else ULA(problem.step_size)
    n = 200 if name == "hmc" else 1000

    def run():
        return sample(problem.energy, kernel, x0, n, thin=n, seed=0, diagnostics=False, capture="compile")  # noqa: B023

    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    times = []
    for _ in range(7):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    per_step = statistics.median(times) / n
    print(f"{mode} {energy}/{chains} {name}: first call {first:.1f} s, {per_step * 1e6:.1f} µs per step")
