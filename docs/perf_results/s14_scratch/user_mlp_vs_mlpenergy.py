"""Where a user's own MLP loses to ``MLPEnergy``: E+∇E of the same 64→256→256→1 SiLU network, same weights, at 4096
and 128 rows, three ways interleaved in one process: a user's ``nn.Sequential`` with autograd (PyTorch's default
BLAS), ``MLPEnergy`` with ``onednn_linear = False`` (the same BLAS, written-out backward) and ``MLPEnergy`` (oneDNN).

    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/user_mlp_vs_mlpenergy.py --tuned [--rows 128]
"""

from __future__ import annotations

import copy

import torch
from interleaved import compare, setup

from ebmlab.energies import MLPEnergy, energy_and_grad


def main() -> None:
    args = setup(rows=True)
    torch.manual_seed(0)
    ours = MLPEnergy(64, (256, 256)).requires_grad_(False)
    blas = copy.deepcopy(ours)
    blas.onednn_linear = False
    net = copy.deepcopy(ours.net)

    def user_energy(x: torch.Tensor) -> torch.Tensor:
        return net(x).squeeze(-1)

    variants = {
        "MLPEnergy, BLAS": blas.energy_and_grad,
        "user nn.Sequential, autograd (BLAS)": lambda z: energy_and_grad(user_energy, z),
        "MLPEnergy (oneDNN)": ours.energy_and_grad,
    }
    compare(variants, torch.randn(args.rows, 64), args.rounds)


if __name__ == "__main__":
    main()
