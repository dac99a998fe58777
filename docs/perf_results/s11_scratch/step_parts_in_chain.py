"""What each part of the library's ULA step costs inside a chain (cd-short-user's plain MLP, 128 × 2, 20-step chains,
300 of them): the draw, the drift, E+∇E and the finiteness sum (``row_sums``), each timed around its call; then
``row_sums`` alone and the one-op ``addmv`` alternative (E + ∇E·1, not used: BLAS's summation order) by ``timeit``.

    OMP_NUM_THREADS=1 python docs/perf_results/s11_scratch/step_parts_in_chain.py
"""

import sys
import time
import timeit
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.energies.base import energy_and_grad
from ebmlab.samplers import ULA
from ebmlab.samplers.base import row_sums
from training import PlainMLP

torch.set_num_threads(1)
net, gen = PlainMLP(), torch.Generator().manual_seed(0)
x0 = torch.randn(128, 2, generator=gen)
drift = ULA(0.01).transition(0.01).drift
clock = time.perf_counter_ns
spent = {"randn": 0, "drift": 0, "E+∇E": 0, "row_sums": 0}
steps = 0
for _ in range(300):
    x, v = x0, None
    e, g = energy_and_grad(net, x)
    sums = []
    for _ in range(20):
        t0 = clock()
        noise = torch.randn(x.shape, generator=gen)
        t1 = clock()
        x, v = drift(x, v, g, noise)
        t2 = clock()
        e, g = energy_and_grad(net, x)
        t3 = clock()
        sums.append(row_sums(e, g))
        t4 = clock()
        for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[key] += dt
        steps += 1
print({k: round(v / steps / 1e3, 2) for k, v in spent.items()}, "µs per step (wall clock)")

e, g, ones = torch.randn(128), torch.randn(128, 2), torch.ones(2)
for name, fn in (("row_sums", lambda: row_sums(e, g)), ("addmv", lambda: torch.addmv(e, g, ones))):
    print(f"{name} alone (timeit, min of 7): {min(timeit.repeat(fn, number=2000, repeat=7)) / 2000 * 1e6:.2f} µs")
