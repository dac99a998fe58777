"""AIS with step-size adaptation on the host path (a Python float ε) and on the GPU path (ε on the device, one value
per chain; finite_watch.DEFER_ON_CPU forces it on a CPU): how far apart the log-weights, step sizes and estimates are.
2-D Gaussian E = ½‖x − 1‖², base N(0, 1.5² I), 256 chains, 50 temperatures, 2 transitions each, seeds 0–2.

    OMP_NUM_THREADS=1 python docs/perf_results/s17/ais_adapt_paths.py
"""

import math

import torch

from ebmlab.estimators import GaussianProposal, ais
from ebmlab.samplers import GeometricPath, finite_watch

torch.set_num_threads(1)
path = GeometricPath(GaussianProposal(torch.zeros(2), std=1.5), lambda x: 0.5 * (x - 1.0).square().sum(1))
print(f"exact log Z = log 2π = {math.log(2 * math.pi):.6f}")
for kernel in ("mala", "hmc"):
    for seed in range(3):
        finite_watch.DEFER_ON_CPU = False
        host = ais(path, kernel, 256, 50, n_steps=2, seed=seed)
        finite_watch.DEFER_ON_CPU = True
        device = ais(path, kernel, 256, 50, n_steps=2, seed=seed)
        a, b = host.estimate(), device.estimate()
        print(
            f"{kernel} seed {seed}: max |Δ log w| {float((host.log_w - device.log_w).abs().max()):.2e}, "
            f"max relative Δε {float(((host.step_sizes - device.step_sizes) / host.step_sizes).abs().max()):.2e}, "
            f"log Ẑ {a.value:.7f} vs {b.value:.7f} (SE {a.stderr:.4f})"
        )
