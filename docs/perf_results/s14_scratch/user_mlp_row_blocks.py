"""A user's own MLP (``nn.Sequential`` 64→256→256→1, SiLU; ∇E by autograd) at 4096 rows: E+∇E in one piece or
wrapped in ``RowBlocks(net, 1024)``, interleaved in one process, the order alternating each round; process CPU time,
one thread, page faults per call.

    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/user_mlp_row_blocks.py [--tuned]
"""

from __future__ import annotations

import torch
from interleaved import compare, setup
from torch import nn


def main() -> None:
    args = setup()
    from row_blocks_wrapper import RowBlocks

    from ebmlab.energies import energy_and_grad

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, 1))
    net.requires_grad_(False)

    def user_energy(x: torch.Tensor) -> torch.Tensor:
        return net(x).squeeze(-1)

    blocked = RowBlocks(user_energy, 1024)
    variants = {"one piece (autograd)": user_energy, "RowBlocks(1024)": blocked}
    compare(
        {k: (lambda z, v=v: energy_and_grad(v, z)) for k, v in variants.items()}, torch.randn(4096, 64), args.rounds
    )


if __name__ == "__main__":
    main()
