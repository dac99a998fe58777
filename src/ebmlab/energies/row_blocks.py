"""E and ∇E of a large batch on the CPU, a block of rows at a time.

A batched E+∇E of a neural energy allocates its activations afresh on every call: at 4096 chains an MLP's
256-wide activation is 4 MiB, a few are alive at once, and all are freed at the end. Under glibc's default
``malloc`` such blocks come back as fresh pages, a page fault per 4 KiB (:mod:`ebmlab.allocator`). Evaluated
``rows`` rows at a time, a block's activations hold at most :data:`BLOCK_NUMBERS` numbers (1 MiB of float32) and
can be reused from one block to the next: glibc keeps them once its dynamic mmap threshold has been raised above
1 MiB, as a sampler's 4 MiB noise block does. Under glibc's defaults (what a library script gets; docs/performance_log.md,
"Session 14") MLP sampler steps at 2048–8192 chains took 3–49 % less time with 3–17× fewer page faults, with the
same bits; with :func:`~ebmlab.allocator.tune_malloc` (the command line's setting, and the robust fix) about even.

Only for energies whose rows are independent (E of row i reads row i only): ``MLPEnergy`` uses it on the CPU.
Not ``ConvEnergy`` nor a user's autograd MLP: blocks gained nothing consistent for them ("Session 14"). A row's
value is the same function of that row's numbers either way; only a matmul whose kernel depends on the row count
could round differently.

>>> import torch
>>> def eg(x):  # E = ½‖x‖² per row, ∇E = x
...     return 0.5 * (x**2).sum(dim=1), x.clone()
>>> e, g = in_row_blocks(eg, torch.ones(7, 2), rows=3)  # blocks of 3, 3 and 1 rows
>>> e.tolist(), bool((g == 1).all())
([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], True)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["BLOCK_NUMBERS", "block_rows", "in_row_blocks"]

#: numbers in the widest activation of one block (1 MiB of float32)
BLOCK_NUMBERS = 1 << 18

EnergyAndGrad = Callable[[Tensor], tuple[Tensor, Tensor]]


def block_rows(numbers_per_row: int) -> int:
    """Rows per block such that an activation of ``numbers_per_row`` numbers per row holds ≤ BLOCK_NUMBERS."""
    return max(1, BLOCK_NUMBERS // max(1, numbers_per_row))


def in_row_blocks(eg: EnergyAndGrad, x: Tensor, rows: int) -> tuple[Tensor, Tensor]:
    """``eg(x)`` evaluated ``rows`` rows of ``x`` at a time into one ``(E, ∇E)``. One call when ``x`` has at most
    ``rows`` rows, is not on the CPU (on a GPU blocks would only add kernel launches) or is traced by ``torch.compile``."""
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
