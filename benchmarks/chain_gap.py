"""The 20-step ULA chain of CD with a plain nn.Module energy (benchmarks/training.py's cd-short-user), piece by
piece: ``run_chains``; ``run_chains(final_energy=False)`` as the negatives call it (no E, ∇E at x_K; trees without
it: skipped); ``init`` + 20 ``ULA.move``; the same without the finiteness test; a loop through the
library's ``energy_and_grad`` (no initial evaluation, no test); the bare script's autograd loop. CPU time per
step, medians of 7 interleaved rounds of 30 chains (128 chains × 2-D), the order rotated each round.

    OMP_NUM_THREADS=1 python benchmarks/chain_gap.py
"""

import inspect
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import rotated
from ebmlab.energies.base import energy_and_grad
from ebmlab.samplers import ULA, run_chains
from ebmlab.samplers.base import SamplerState, axpy
from training import PlainMLP

torch.set_num_threads(1)
torch.manual_seed(0)
net = PlainMLP()
K, N = 20, 128
k = ULA(0.01)


def ours(gen):
    x0 = torch.rand(N, 2, generator=gen) * 10 - 5
    return run_chains(k, net, x0, K, gen).x


def ours_positions(gen):
    x0 = torch.rand(N, 2, generator=gen) * 10 - 5
    return run_chains(k, net, x0, K, gen, final_energy=False).x


def moves(gen):
    x0 = torch.rand(N, 2, generator=gen) * 10 - 5
    st = k.init(net, x0)
    for _ in range(K):
        st = k.move(net, st, gen)
    return st.x


def lib_eg(gen):
    neg = torch.rand(N, 2, generator=gen) * 10 - 5
    for _ in range(K):
        _, g = energy_and_grad(net, neg)
        neg = neg - 0.01 * g + math.sqrt(0.02) * torch.randn(neg.shape, generator=gen)
    return neg


def bare(gen):
    neg = torch.rand(N, 2, generator=gen) * 10 - 5
    for _ in range(K):
        neg = neg.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(net(neg).sum(), neg)
        neg = neg - 0.01 * g + math.sqrt(0.02) * torch.randn(neg.shape, generator=gen)
    return neg.detach()


def moves_nocheck(gen):
    x0 = torch.rand(N, 2, generator=gen) * 10 - 5
    st = k.init(net, x0)
    for _ in range(K):
        x, g = st.x, st.grad
        noise = torch.randn(x.shape, generator=gen)
        x_new = axpy(axpy(x, g, -0.01), noise, k.noise_scale(0.01))
        e_new, g_new = energy_and_grad(net, x_new)
        st = SamplerState(x_new, e_new, g_new, 0.01, st.iteration + 1)
    return st.x


LEAN = "final_energy" in inspect.signature(run_chains).parameters
FNS = {"run_chains": ours, **({"run_chains(final_energy=False)": ours_positions} if LEAN else {}),
       "init + moves": moves, "init + moves, no finiteness test": moves_nocheck,
       "loop through energy_and_grad": lib_eg, "bare script loop": bare}  # fmt: skip
print(f"load average {os.getloadavg()}")
res = {name: [] for name in FNS}
for r in range(7):  # the order rotated each round: no variant always runs first or last
    for name in rotated(list(FNS), r):
        fn = FNS[name]
        gen = torch.Generator().manual_seed(0)
        start = time.process_time()
        for _ in range(30):
            fn(gen)
        res[name].append((time.process_time() - start) / 30 / K * 1e6)
for name, v in res.items():
    print(f"{name:36s} {statistics.median(v):6.1f} µs per step (min {min(v):6.1f})")
print(f"load average {os.getloadavg()}")
