"""HMC (L = 5) on MLPEnergy(64, (256, 256)) with the inner leapfrog steps taking ∇E alone (``MLPEnergy.grad``,
this session) against E + ∇E at every leapfrog step (the same energy behind a wrapper without ``grad``: what HMC
did before), in one process, interleaved; CPU time per HMC iteration, medians of 15 rounds (``ROUNDS``), glibc tuned as the CLI.
The two give the same chains bit for bit (checked here on the first round). It measures commit 7363240, which added
the gradient-only path; the next commit removed it again (no gain measured in HMC; docs/performance_log.md, "Session 13"):

    git checkout 7363240 && OMP_NUM_THREADS=1 python docs/perf_results/s13_scratch/hmc_grad_only_ab.py [ROUNDS] [CHAINS,...]
"""

import os
import statistics
import sys
import time

import torch

from ebmlab.allocator import tune_malloc
from ebmlab.energies import MLPEnergy
from ebmlab.samplers import HMC, sample

tune_malloc()
torch.set_num_threads(1)


class WithoutGrad:
    def __init__(self, energy):
        self.energy = energy

    def __call__(self, x):
        return self.energy(x)

    def energy_and_grad(self, x):
        return self.energy.energy_and_grad(x)


print(f"load average {os.getloadavg()}")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
CHAINS = [int(c) for c in sys.argv[2].split(",")] if len(sys.argv) > 2 else [128, 4096]
for n in CHAINS:
    steps = 200 if n <= 128 else 16
    torch.manual_seed(0)
    energy = MLPEnergy(64, (256, 256))
    x0 = torch.randn(n, 64)
    variants = {"grad alone (new)": energy, "E + grad (before)": WithoutGrad(energy)}
    times = {k: [] for k in variants}
    for r in range(ROUNDS):
        out = {}
        for name, e in variants.items():
            start = time.process_time()
            out[name] = sample(e, HMC(0.01, 5), x0, steps, thin=steps, seed=1, diagnostics=False)
            times[name].append((time.process_time() - start) / steps * 1e3)
        if r == 0:
            a, b = out.values()
            assert torch.equal(a.samples, b.samples) and torch.equal(a.energies, b.energies)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = statistics.median(x / y for x, y in zip(*times.values(), strict=True))
    print(
        f"{n} chains: " + ", ".join(f"{k} {v:.3f} ms" for k, v in med.items()) + f"; new ÷ before (paired) {ratio:.3f}"
    )
print(f"load average {os.getloadavg()}")
