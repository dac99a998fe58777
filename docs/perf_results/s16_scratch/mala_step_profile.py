"""Where a MALA step's time goes beside E+∇E: MLPEnergy(64, (256, 256)), 128 chains (argument: chains), one thread,
capture="auto" (the default). Three rounds of 400 steps against 400 bare E+∇E evaluations (CPU time), then
torch.profiler's per-op self time over 200 steps.

    OMP_NUM_THREADS=1 python docs/perf_results/s16_scratch/mala_step_profile.py [chains]
"""

import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from ebmlab.energies import MLPEnergy, energy_and_grad
from ebmlab.samplers import MALA, sample

torch.set_num_threads(1)
chains = int(sys.argv[1]) if len(sys.argv) > 1 else 128
torch.manual_seed(0)
energy = MLPEnergy(64, (256, 256)).requires_grad_(False)
x0 = torch.randn(chains, 64)


def run(n: int) -> None:
    sample(energy, MALA(0.01), x0, n, thin=n, seed=0, diagnostics=False, capture="auto")


run(50)
for _ in range(3):
    start = time.process_time()
    run(400)
    step = (time.process_time() - start) / 400
    start = time.process_time()
    for _ in range(400):
        energy_and_grad(energy, x0)
    floor = (time.process_time() - start) / 400
    print(f"step {step * 1e6:.0f} µs, E+∇E {floor * 1e6:.0f} µs, cost {step / floor:.3f}")
with profile(activities=[ProfilerActivity.CPU]) as prof:
    run(200)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
