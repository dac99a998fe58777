"""The gradient norm of bg's 27 gradients: fit's total_norm, torch's _foreach_norm and get_total_norm, and one
norm of the concatenation (other bits); µs per call, medians and minima of 20 × 200, CPU time.

    OMP_NUM_THREADS=1 python docs/perf_results/s21/norm_probe.py
"""

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved

import training as T
from ebmlab.training.optim import total_norm

torch.set_num_threads(1)
method = T.make_method("bg", torch.device("cpu"))
method.objective(None, torch.Generator().manual_seed(0))["loss"].backward()
grads = [p.grad for p in method.parameters() if p.grad is not None]
print(f"{len(grads)} gradients, {sum(g.numel() for g in grads)} numbers")
variants = {
    "total_norm": lambda: total_norm(grads),
    "_foreach_norm": lambda: torch._foreach_norm(grads, 2.0),
    "get_total_norm": lambda: torch.nn.utils.get_total_norm(grads),
    "cat+norm": lambda: torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])),
}
times = interleaved(variants, rounds=20, calls=200)
for key, values in times.items():
    print(f"{key:16s} median {statistics.median(values):6.1f} µs, min {min(values):6.1f}")
