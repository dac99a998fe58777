"""Page faults and CPU ms per step of ULA, MALA and HMC (L = 5) on MLPEnergy(64, (256, 256)) at 4096 chains, after
the row blocks, one process; one warm-up ``sample`` of 5 steps per kernel first.

    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/faults_per_step.py [--tuned]
"""

from __future__ import annotations

import resource
import sys
import time

import torch

torch.set_num_threads(1)
if "--tuned" in sys.argv:
    from ebmlab.allocator import tune_malloc

    print("tune_malloc:", tune_malloc())
from ebmlab.energies import MLPEnergy  # noqa: E402
from ebmlab.samplers import HMC, MALA, ULA, sample  # noqa: E402

torch.manual_seed(0)
energy = MLPEnergy(64, (256, 256)).requires_grad_(False)
x0 = torch.randn(4096, 64)
for name, kernel, steps in (("ula", ULA(0.01), 40), ("mala", MALA(0.01), 40), ("hmc", HMC(0.01, 5), 10)):
    sample(energy, kernel, x0, 5, thin=5, seed=0, diagnostics=False)
    f0, t = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
    sample(energy, kernel, x0, steps, thin=steps, seed=0, diagnostics=False)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / steps
    print(f"{name}: {faults:.0f} page faults per step, {(time.process_time() - t) / steps * 1e3:.1f} ms per step")
