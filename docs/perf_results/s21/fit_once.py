"""fit's once-per-call cost on bg: a 1-step and a 21-step fit against the method loop's, medians of 7, CPU time.

OMP_NUM_THREADS=1 python docs/perf_results/s21/fit_once.py
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import training as T

torch.set_num_threads(1)
dev = torch.device("cpu")
x = T.data(dev)
runs = {"fit": T.run_fit, "loop": T.run_method_loop}
res: dict[str, list[float]] = {f"{k} {n}": [] for n in (1, 21) for k in runs}
for _ in range(7):
    for steps in (1, 21):
        for name, run in runs.items():
            start = time.process_time()
            run("bg", steps, dev, x)
            res[f"{name} {steps}"].append(time.process_time() - start)
for key, values in res.items():
    print(f"{key:8s} {statistics.median(values) * 1e3:6.1f} ms")
