"""Tensor ops a sampler step dispatches beside its E+∇E: the chain loop's per-step op count, counted, not timed.

Counts every ATen op dispatched (``TorchDispatchMode``, views included) while ``sample`` runs a kernel for S and for
2·S steps on a plain-function mixture (128 chains × 2), takes the difference per step and subtracts the ops of one
``energy_and_grad``; per-block work (noise, uniforms, stacking) is spread over the block's steps. Run with each
tree's ``PYTHONPATH`` to compare two trees:

    OMP_NUM_THREADS=1 PYTHONPATH=<tree>/src python benchmarks/step_ops.py [--samplers mala,ula] [--capture auto]
"""

from __future__ import annotations

import argparse
import collections
import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ebmlab.energies.base import energy_and_grad
from ebmlab.samplers import HMC, MALA, ULA, KineticLangevin, sample

KERNELS = {"ula": ULA(0.05), "mala": MALA(0.1), "hmc": HMC(0.05, 5), "kinetic": KineticLangevin(0.05)}


class OpCount(TorchDispatchMode):
    """Counts the ATen ops dispatched inside the ``with`` block, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def mixture(x: torch.Tensor) -> torch.Tensor:
    a = (x - 1.5).square().sum(-1)
    b = (x + 1.5).square().sum(-1)
    return -torch.logsumexp(torch.stack([-a, -b]), 0)


def ops_of(fn) -> collections.Counter[str]:
    with OpCount() as count:
        fn()
    return count.ops


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samplers", default="ula,mala,hmc,kinetic")
    p.add_argument("--capture", default="auto")
    p.add_argument("--steps", type=int, default=64)
    args = p.parse_args(argv)
    x0 = torch.randn(128, 2, generator=torch.Generator().manual_seed(0))
    floor = sum(ops_of(lambda: energy_and_grad(mixture, x0)).values())
    print(f"one E+∇E: {floor} ops; capture={args.capture}")
    for name in args.samplers.split(","):
        kernel, s = KERNELS[name], args.steps
        run = [ops_of(lambda k=k, kernel=kernel: sample(mixture, kernel, x0, k, seed=1, diagnostics=False, capture=args.capture))
               for k in (s, 2 * s)]  # fmt: skip
        per_step = {op: (run[1][op] - run[0][op]) / s for op in run[1] if run[1][op] != run[0][op]}
        evals = getattr(kernel, "n_leapfrog", 1)
        beside = sum(per_step.values()) - evals * floor
        print(f"{name}: {sum(per_step.values()):.2f} ops per step, {beside:.2f} beside its {evals} E+∇E")
    return 0


if __name__ == "__main__":
    sys.exit(main())
