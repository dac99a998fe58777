"""MLPEnergy(64, (W, W)).energy_and_grad (``--width W``, default 256) at ``--rows`` rows (default 4096): in row blocks (the default since session 14) against one
piece (blocks disabled), interleaved in one process, the order rotated each round; process CPU time, one thread.

    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/eg_row_blocks.py            # glibc's malloc defaults
    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/eg_row_blocks.py --tuned    # ebmlab.allocator.tune_malloc
    OMP_NUM_THREADS=1 python docs/perf_results/s14_scratch/eg_row_blocks.py --width 128 [--tuned]   # the default MLP
"""

from __future__ import annotations

import torch
from interleaved import compare, setup

from ebmlab.energies import neural


def main() -> None:
    args = setup(rows=True, width=True)
    torch.manual_seed(0)
    energy = neural.MLPEnergy(64, (args.width, args.width))
    x = torch.randn(args.rows, 64)
    blocks = neural.block_rows

    def one_piece(z):
        neural.block_rows = lambda width: 1 << 30
        try:
            return energy.energy_and_grad(z)
        finally:
            neural.block_rows = blocks

    variants = {f"row blocks ({blocks(args.width)} rows)": energy.energy_and_grad, "one piece": one_piece}
    compare(variants, x, args.rounds)


if __name__ == "__main__":
    main()
