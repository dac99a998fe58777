"""A user's nn.Sequential MLP (64→256→256→1): E+∇E by the library's autograd path against torch.func.vjp, 128 and 4096
rows, interleaved, 15 rounds of 20 calls, tune_malloc, one thread.

    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/func_vs_autograd.py
"""

import statistics
import time

import torch
from torch import nn

from ebmlab.allocator import tune_malloc
from ebmlab.energies import energy_and_grad

torch.set_num_threads(1)
tune_malloc()
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, 1)).requires_grad_(
    False
)


def f(z):
    return net(z).squeeze(-1)


def vjp(x):
    e, pullback = torch.func.vjp(f, x)
    (g,) = pullback(torch.ones_like(e))
    return e, g


def library(x):
    return energy_and_grad(f, x)


for n in (128, 4096):
    x = torch.randn(n, 64)
    vs = {"autograd (library)": library, "torch.func.vjp": vjp}
    res = {k: [] for k in vs}
    for r in range(15):
        for k in list(vs)[r % 2 :] + list(vs)[: r % 2]:
            fn = vs[k]
            fn(x)
            t = time.process_time()
            for _ in range(20):
                fn(x)
            res[k].append((time.process_time() - t) / 20 * 1e3)
    print(n, {k: round(statistics.median(v), 3) for k, v in res.items()})
