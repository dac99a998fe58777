"""Where fit's once-per-call cost goes on bg: cProfile over ten 1-step fits (after three warm-up calls), the 30
entries of largest cumulative time. cProfile inflates Python-heavy entries: read it as a ranking.

    OMP_NUM_THREADS=1 python docs/perf_results/s21/fit_once_profile.py
"""

import cProfile
import pstats
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import training as T

torch.set_num_threads(1)
dev = torch.device("cpu")
x = T.data(dev)
for _ in range(3):
    T.run_fit("bg", 1, dev, x)
profiler = cProfile.Profile()
profiler.enable()
for _ in range(10):
    T.run_fit("bg", 1, dev, x)
profiler.disable()
pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
