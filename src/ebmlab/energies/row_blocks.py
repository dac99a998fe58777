"""E and ∇E of a large batch on the CPU, a block of rows at a time.

A batched E+∇E of a neural energy allocates its activations afresh on every call: at 4096 chains an MLP's
256-wide activation is 4 MiB, a few are alive at once, and all are freed at the end. Under glibc's default
``malloc`` such blocks come back as fresh pages, a page fault per 4 KiB (:mod:`ebmlab.allocator`). Evaluated
``rows`` rows at a time, a block's activations hold at most :data:`BLOCK_NUMBERS` numbers (1 MiB of float32) and
are reused from one block to the next. ``MLPEnergy(64, (256, 256))`` at 4096 rows under glibc's defaults (what a
library script gets; docs/performance.md, "Session 14"): one E+∇E 18.9 → 9.3–9.5 ms, 4064 → 0 page faults per
call, the same bits; with :func:`~ebmlab.allocator.tune_malloc` (the command line's setting) about even.

Only for energies whose rows are independent (E of row i reads row i only). ``MLPEnergy`` uses it on the CPU; a
user's own per-row energy opts in with :class:`RowBlocks`. ``ConvEnergy`` does not: its blocks gained nothing
consistent in ULA steps at 4096 chains and lost up to 15 % with the tuned allocator ("Session 14"). A row's value
is the same function of that row's numbers either way; only a matmul whose kernel depends on the row count could
round differently.

>>> import torch
>>> from ebmlab.energies import RowBlocks, energy_and_grad
>>> energy = RowBlocks(lambda x: 0.5 * (x**2).sum(dim=1), rows=3)
>>> e, g = energy_and_grad(energy, torch.ones(7, 2))
>>> e.tolist(), bool((g == 1).all())
([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], True)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ebmlab.energies.base import EnergyFn, energy_and_grad, evaluate_energy, func_energy_and_grad
from ebmlab.errors import ConfigError

__all__ = ["BLOCK_NUMBERS", "RowBlocks", "block_rows", "in_row_blocks"]

#: numbers in the widest activation of one block (1 MiB of float32)
BLOCK_NUMBERS = 1 << 18

EnergyAndGrad = Callable[[Tensor], tuple[Tensor, Tensor]]


def block_rows(numbers_per_row: int) -> int:
    """Rows per block such that an activation of ``numbers_per_row`` numbers per row holds ≤ BLOCK_NUMBERS."""
    return max(1, BLOCK_NUMBERS // max(1, numbers_per_row))


def in_row_blocks(eg: EnergyAndGrad, x: Tensor, rows: int) -> tuple[Tensor, Tensor]:
    """``eg(x)`` evaluated ``rows`` rows of ``x`` at a time into one ``(E, ∇E)`` (one call when ``x`` has at most
    ``rows`` rows, or is not on the CPU: on a GPU blocks would only add kernel launches)."""
    n = x.shape[0]
    if n <= rows or x.device.type != "cpu" or torch.compiler.is_compiling():
        return eg(x)
    e: Tensor | None = None
    g = torch.empty_like(x, memory_format=torch.contiguous_format)
    for start in range(0, n, rows):
        e_block, g[start : start + rows] = eg(x[start : start + rows])
        if e is None:
            e = e_block.new_empty(n)
        e[start : start + rows] = e_block
    assert e is not None
    return e, g


class RowBlocks(nn.Module):
    """A per-row energy whose E and ∇E are evaluated ``rows`` rows at a time on the CPU (:func:`in_row_blocks`).

    Wrap your own energy only when E of row i depends on row i alone (no batch statistics); the energy itself
    (``forward``) is unchanged. ``rows``: rows per block, e.g. :func:`block_rows` of the widest activation's width.
    """

    def __init__(self, energy: EnergyFn, rows: int) -> None:
        super().__init__()
        if int(rows) < 1:
            raise ConfigError(f"RowBlocks: rows must be >= 1, got {rows}.")
        self.energy, self.rows = energy, int(rows)

    def forward(self, x: Tensor) -> Tensor:
        return evaluate_energy(self.energy, x)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(E, ∇ₓE) of the wrapped energy, block by block (its own gradient when it has one, else autograd); under
        ``torch.compile`` in one piece, traceably (:func:`~ebmlab.energies.base.func_energy_and_grad`)."""
        if torch.compiler.is_compiling():
            return func_energy_and_grad(self.energy)(x)
        with torch.nn.utils.parametrize.cached():  # a parametrised weight (spectral norm) computed once per call
            return in_row_blocks(lambda z: energy_and_grad(self.energy, z), x, self.rows)
