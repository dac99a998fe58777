"""Sampler steps on MLPEnergy(64, (W, W)) in a fresh process under glibc's malloc defaults: ms and page faults per step,
median of 3 timed runs after a 5-step warm-up. Run "before" with PYTHONPATH at a worktree of a0f4f9b:

    for v in before after; do OMP_NUM_THREADS=1 PYTHONPATH=<tree>/src python sampler_faults_ab.py N W ula|mala|hmc; done
"""

import resource
import sys
import time

import torch

from ebmlab.energies import MLPEnergy
from ebmlab.samplers import HMC, MALA, ULA, sample

torch.set_num_threads(1)

n, width, kname = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
torch.manual_seed(0)
m = MLPEnergy(64, (width, width)).requires_grad_(False)
x0 = torch.randn(n, 64)
k = {"ula": ULA(0.01), "mala": MALA(0.01), "hmc": HMC(0.01, 5)}[kname]
steps = max(4, int(40 * 4096 / n * (256 / width) ** 2)) // (5 if kname == "hmc" else 1)
sample(m, k, x0, 5, thin=5, seed=0, diagnostics=False)
ts = []
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    t = time.process_time()
    sample(m, k, x0, steps, thin=steps, seed=0, diagnostics=False)
    ts.append((time.process_time() - t) / steps * 1e3)
fl = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / (3 * steps)
print(f"{kname} n={n} w={width}: {sorted(ts)[1]:.2f} ms/step, {fl:.0f} faults/step")
