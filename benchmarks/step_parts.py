"""What a Langevin step costs beside its energy: the parts of a step as shares of one E+∇E evaluation.

For each (energy, chains) of benchmarks/user_energies.py: CPU time of one ``energy_and_grad`` (the floor),
of drawing the step's Gaussian noise, of the ULA update (two ``add``), of the finiteness test
(``finite_rows``) and of MALA's own work in a block step (a block of 16 eager MALA steps, ``block_steps``, whose
energy returns a cached E, ∇E: everything a MALA step does beside E+∇E, per step); each the minimum over 7 loops (robust on a loaded machine), this process's CPU time.

    OMP_NUM_THREADS=1 python benchmarks/step_parts.py [--cases mog8:128,many-well:4096]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ebmlab.energies import energy_and_grad
from ebmlab.samplers import MALA
from ebmlab.samplers.base import finite_rows
from ebmlab.samplers.block_steps import block_fn, step_fn
from user_energies import build_problem

CASES = "mog8:128,mog8:4096,many-well:4096,mlp:128,mlp:4096"
STEPS = 16


def mala_block(x: torch.Tensor, e: torch.Tensor, g: torch.Tensor):
    """A block of STEPS eager MALA steps whose energy returns the cached (e, g): the step's work beside E+∇E."""
    step = step_fn(MALA(0.01), lambda y: (e, g), 0.01)
    try:  # a tree with block_extras (log u and the flags once per block)
        from ebmlab.samplers.block_steps import block_extras

        block = block_fn(step, *block_extras(MALA(0.01)))
    except ImportError:
        block = block_fn(step)
    noise = torch.randn(STEPS, *x.shape, generator=torch.Generator().manual_seed(1))
    u = torch.rand(STEPS, x.shape[0], generator=torch.Generator().manual_seed(2))
    return lambda: block(x, e, g, None, noise, u)


def cpu_us(fn, n: int, loops: int = 7) -> float:
    """Minimum over ``loops`` of the mean CPU time of ``n`` calls, in µs."""
    fn()
    best = float("inf")
    for _ in range(loops):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - start) / n * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=CASES)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()}")
    print(
        "| row | floor µs | random normals | the update (2 add) | finite_rows | MALA step beside E+∇E |\n|---|---|---|---|---|---|"
    )
    for case in args.cases.split(","):
        name, chains = case.split(":")[0], int(case.split(":")[1])
        problem = build_problem(name)
        x = problem.x0(chains)
        e, g = energy_and_grad(problem.energy, x)
        noise, gen = torch.randn(x.shape), torch.Generator().manual_seed(0)
        n = 10 if name in ("mlp", "conv") and chains > 1000 else 200
        floor = cpu_us(lambda: energy_and_grad(problem.energy, x), n)  # noqa: B023
        parts = [
            cpu_us(lambda: torch.randn(x.shape, generator=gen), n),  # noqa: B023
            cpu_us(lambda: x.add(g, alpha=-0.01).add(noise, alpha=0.14), n),  # noqa: B023
            cpu_us(lambda: finite_rows(e, g), n),  # noqa: B023
            cpu_us(mala_block(x, e, g), max(n // STEPS, 2)) / STEPS,
        ]
        print(f"| {name} / {chains} | {floor:.0f} | " + " | ".join(f"{v / floor:.1%}" for v in parts) + " |")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
