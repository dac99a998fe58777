"""µs per computation of the total gradient norm over the Boltzmann generator's 27 parameter tensors (training.py's
bg), one thread, 40 rounds of 200 calls of each in turn (minimum and median of the rounds): PyTorch's get_total_norm, ours (ebmlab.training.optim.total_norm,
the same bits), _foreach_norm alone, and a cat of the tensors followed by one norm (other bits). The gradients are
those of one bg loss.

    OMP_NUM_THREADS=1 python docs/perf_results/s16_scratch/grad_norm_variants.py
"""

import statistics
import sys
import timeit
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import training as T
from ebmlab.training.optim import total_norm

torch.set_num_threads(1)
method = T.make_method("bg", torch.device("cpu"))
params = list(method.parameters())
loss = method.objective(None, torch.Generator().manual_seed(0))["loss"]
grads = list(torch.autograd.grad(loss, params))
sizes = sorted(g.numel() for g in grads)
print(f"{len(grads)} tensors, {sum(sizes)} numbers, sizes {sizes[0]}–{sizes[-1]}")
variants = {
    "get_total_norm": lambda: torch.nn.utils.get_total_norm(grads),
    "ours (optim.total_norm)": lambda: total_norm(grads),
    "_foreach_norm alone": lambda: torch._foreach_norm(grads, 2.0),
    "cat, then one norm": lambda: torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])),
}
reference = torch.nn.utils.get_total_norm(grads)
rounds: dict[str, list[float]] = {name: [] for name in variants}
for _ in range(40):  # in turn: a slow spell of the machine hits every variant
    for name, fn in variants.items():
        rounds[name].append(timeit.timeit(fn, number=200) / 200 * 1e6)
for name, fn in variants.items():
    out = fn()
    same = "" if isinstance(out, (list, tuple)) else f"  same bits as get_total_norm: {bool(out == reference)}"
    print(f"{name:26s} min {min(rounds[name]):6.1f} µs, median {statistics.median(rounds[name]):6.1f}{same}")
