"""The negative chain of cd-short-user inside its training loop: ``run_chains(final_energy=False)`` against a bare
autograd ULA loop from the same starting points, timed step by step in alternating order (CPU time, 400 steps).

    OMP_NUM_THREADS=1 python docs/perf_results/s11_scratch/chain_in_training.py
"""

import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import training as T
from ebmlab.samplers import run_chains

torch.set_num_threads(1)
x = T.data(torch.device("cpu"))
method = T.make_method("cd-short-user", torch.device("cpu"))
net, kernel = method.energy, method.negatives.kernel
opt = torch.optim.Adam(method.parameters(), lr=1e-3)
gen = torch.Generator().manual_seed(0)


def bare(neg: torch.Tensor) -> torch.Tensor:
    for _ in range(T.K):
        neg = neg.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(net(neg).sum(), neg)
        neg = neg - T.LAM * g + math.sqrt(2 * T.LAM) * torch.randn(neg.shape, generator=gen)
    return neg.detach()


def ours(neg: torch.Tensor) -> torch.Tensor:
    return run_chains(kernel, net, neg, T.K, gen, final_energy=False).x


times: dict[str, list[float]] = {"bare": [], "run_chains": []}
fns = {"bare": bare, "run_chains": ours}
for step in range(400):
    batch = x[torch.randint(x.shape[0], (T.BATCH,), generator=gen)]
    x0 = torch.rand(T.BATCH, 2, generator=gen) * 10 - 5
    for name in list(fns)[:: 1 if step % 2 else -1]:
        start = time.process_time()
        out = fns[name](x0)
        times[name].append(time.process_time() - start)
    loss = net(batch).mean() - net(out).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
for name, v in times.items():
    print(f"{name}: {statistics.median(v) * 1e3:.3f} ms per {T.K}-step chain (median)")
print("run_chains ÷ bare:", round(statistics.median(times["run_chains"]) / statistics.median(times["bare"]), 3))
