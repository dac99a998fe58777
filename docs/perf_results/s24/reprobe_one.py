"""One `sample` run (many-well 32-D, ULA, 4096 chains, one intra-op thread) with `draw_ahead` off, on or auto; prints
its wall seconds and the share of blocks drawn ahead. STEPS 0: runs of 400 steps until killed (`reprobe_busy.py`'s
other run).
    python docs/perf_results/s24/reprobe_one.py MODE STEPS"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.allocator import tune_malloc
from ebmlab.samplers import ULA, sample
from user_energies import build_problem

torch.set_num_threads(1)
tune_malloc()
problem = build_problem("many-well")
x0 = problem.x0(4096)
sample(problem.energy, ULA(problem.step_size), x0, 20, seed=0, diagnostics=False)  # warm
mode = {"off": False, "on": True, "auto": "auto"}[sys.argv[1]]
while sys.argv[2] == "0":
    sample(problem.energy, ULA(problem.step_size), x0, 400, seed=0, diagnostics=False, draw_ahead=mode)
start = time.perf_counter()
res = sample(
    problem.energy, ULA(problem.step_size), x0, int(sys.argv[2]), thin=100, seed=0, diagnostics=False, draw_ahead=mode
)
print(f"{time.perf_counter() - start:.1f} s, share drawn ahead {res.draw_ahead:.2f}")
