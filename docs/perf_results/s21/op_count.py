"""aten ops per sampler step beside E+∇E (argument: mala, ula or hmc), MLPEnergy(64, (256, 256)), 128 chains,
capture="auto": the ops of 256 steps minus those of 256 bare E+∇E (HMC: 5 per step), counted by a dispatch mode.

    OMP_NUM_THREADS=1 python docs/perf_results/s21/op_count.py mala
"""

import collections
import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ebmlab.energies import MLPEnergy, energy_and_grad
from ebmlab.samplers import HMC, MALA, ULA, sample

torch.set_num_threads(1)
torch.manual_seed(0)
energy = MLPEnergy(64, (256, 256)).requires_grad_(False)
x0 = torch.randn(128, 64)


class Count(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.c = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.c[str(func.overloadpacket.__name__)] += 1
        return func(*args, **(kwargs or {}))


kern = {"mala": MALA(0.01), "ula": ULA(0.01), "hmc": HMC(0.01, 5)}[sys.argv[1]]
n = 256
with Count() as a:
    sample(energy, kern, x0, n, thin=n, seed=0, diagnostics=False, capture="auto")
with Count() as b:
    for _ in range(n * (5 if sys.argv[1] == "hmc" else 1)):
        energy_and_grad(energy, x0)
diff = {k: (a.c[k] - b.c[k]) / n for k in set(a.c) | set(b.c)}
tot = sum(diff.values())
print(f"ops per step beyond E+∇E: {tot:.1f}")
for k, v in sorted(diff.items(), key=lambda kv: -kv[1]):
    if abs(v) >= 0.05:
        print(f"  {k:28s} {v:6.2f}")
