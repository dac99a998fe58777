"""What `fit` adds per Boltzmann-generator step, counted rather than timed (counts do not depend on the machine's
load): ATen ops dispatched (a TorchDispatchMode) and Python function calls (cProfile's call counts) per step of
`fit`, the method loop and the bare script of `benchmarks/training.py`, as (30-step run − 10-step run) / 20 after a
warm-up run of each.

    OMP_NUM_THREADS=1 python docs/perf_results/s22/fit_counts.py
"""

import collections
import cProfile
import pstats
import sys
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import training as T

torch.set_num_threads(1)
dev = torch.device("cpu")
x = T.data(dev)
RUNS = {"fit": T.run_fit, "method loop": T.run_method_loop, "bare": T.run_bare}


class OpCount(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def ops(run, steps: int) -> collections.Counter:
    with OpCount() as mode:
        run("bg", steps, dev, x)
    return mode.counts


def calls(run, steps: int) -> collections.Counter:
    profile = cProfile.Profile()
    profile.enable()
    run("bg", steps, dev, x)
    profile.disable()
    return collections.Counter({f"{k[0].split('/')[-1]}:{k[2]}": v[1] for k, v in pstats.Stats(profile).stats.items()})


def per_step(count, run) -> collections.Counter:
    diff = count(run, 30)
    diff.subtract(count(run, 10))
    return collections.Counter({k: v / 20 for k, v in diff.items() if v})


for run in RUNS.values():
    run("bg", 2, dev, x)  # imports and first-call work out of the way
op = {name: per_step(ops, run) for name, run in RUNS.items()}
py = {name: per_step(calls, run) for name, run in RUNS.items()}
for name in RUNS:
    print(
        f"{name:12s} ATen ops per step {sum(op[name].values()):7.1f}   Python calls per step {sum(py[name].values()):7.1f}"
    )
d = op["fit"].copy()
d.subtract(op["method loop"])
print("ATen ops, fit − method loop:", {k: v for k, v in sorted(d.items()) if v})
d = py["fit"].copy()
d.subtract(py["method loop"])
print("Python calls, fit − method loop, the largest:", {k: v for k, v in d.most_common(12)})
