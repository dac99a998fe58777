"""A block of ULA steps as ``torch._higher_order_ops.scan`` under ``torch.compile`` (a loop in the graph instead of
an unrolled block): in torch 2.13 inductor decomposes the scan into a while_loop and fails on this step
(``DataDependentOutputException: aten._local_scalar_dense``).

    OMP_NUM_THREADS=1 python docs/perf_results/s11_scratch/scan_block.py
"""

import sys
from pathlib import Path

import torch
from torch._higher_order_ops import scan

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.samplers.compiled import func_energy_and_grad
from user_energies import build_problem

torch.set_num_threads(1)
problem = build_problem("mog8")
x0 = problem.x0(128)
eg = func_energy_and_grad(problem.energy)
lam = problem.step_size


def body(carry, noise):
    x, g = carry
    x = x.add(g, alpha=-lam).add_(noise, alpha=(2 * lam) ** 0.5)
    e, g = eg(x)
    return (x, g), e


def block(x, g, noise):
    return scan(body, (x, g), noise)


noise = torch.randn(1000, 128, 2, generator=torch.Generator().manual_seed(0))
try:
    torch.compile(block, dynamic=False)(x0, eg(x0)[1], noise)
    print("compiled and ran")
except Exception as error:
    print(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")
