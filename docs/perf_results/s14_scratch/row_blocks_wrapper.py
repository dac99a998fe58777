"""``RowBlocks``: a per-row energy's E+∇E a block of rows at a time, for the session 14 scripts. It was
``ebmlab.energies.RowBlocks`` at commit 0248877 and was taken out of the library the same session: it gained nothing
consistent for a user's autograd MLP or for ``ConvEnergy`` (docs/performance_log.md, "Session 14")."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebmlab.energies import energy_and_grad, evaluate_energy
from ebmlab.energies.row_blocks import in_row_blocks


class RowBlocks(nn.Module):
    """``energy`` with ``energy_and_grad`` evaluated ``rows`` rows at a time on the CPU (weights computed once)."""

    def __init__(self, energy, rows: int) -> None:
        super().__init__()
        self.energy, self.rows = energy, rows

    def forward(self, x: Tensor) -> Tensor:
        return evaluate_energy(self.energy, x)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        with torch.nn.utils.parametrize.cached():
            return in_row_blocks(lambda z: energy_and_grad(self.energy, z), x, self.rows)
