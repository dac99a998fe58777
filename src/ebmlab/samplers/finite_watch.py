"""Whether a block of ULA / kinetic-Langevin steps (or of Gibbs sweeps) stayed finite, read by the host one block late
on a GPU.

The unadjusted kernels accept every move, so a chain whose energy or gradient turns NaN/inf must stop the run with
a :class:`~ebmlab.errors.NonFiniteError` naming the first such step and its chains. Reading that flag right after
a block is queued makes the host wait for the block; on CUDA, :class:`BlockCheck` (``start_copy``) instead copies the block's flag
to pinned host memory asynchronously (an event marks it) and :func:`~ebmlab.samplers.chains.run_chains` reads it
after the *next* block is queued, so the GPU never idles waiting for the host. The step and the chains named are
the same: the block's per-step flags stay on the device and are only inspected on the failure path. The price is
that on failure one more block runs (on NaN values) before the error. On the CPU nothing is gained by waiting,
so the check is read at once unless ``DEFER_ON_CPU`` is set (tests use it to run the deferred path on a CPU).

:class:`~ebmlab.samplers.BlockGibbs` uses the same check on the GPU path, with one row of flags per sweep (one flag
per block of units): its error names the same sweep and units as its immediate check on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ebmlab.samplers.base import raise_diverged

__all__ = ["DEFER_ON_CPU", "READ_EVERY", "BlockCheck", "deferred", "queued", "read_checks"]

#: read the flags of CPU blocks one block late too (for tests of the GPU path)
DEFER_ON_CPU = False


def deferred(device: torch.device) -> bool:
    """Whether the finiteness of a block on ``device`` is read one block late."""
    return device.type == "cuda" or DEFER_ON_CPU


class BlockCheck:
    """The finiteness flags ``ok`` (K, m) of K steps; ``fail(i, ok[i])`` raises the kernel's error for the block's
    step i (0-based). No host sync to build."""

    def __init__(self, ok: Tensor, fail: Callable[[int, Tensor], None]) -> None:
        self.ok, self.fail = ok, fail
        self.bad_steps = (~ok).any(dim=1)
        self.event: torch.cuda.Event | None = None
        self.flag: Tensor | None = None

    def start_copy(self) -> BlockCheck:
        """For a check read after more work is queued: on CUDA, copy its flag to pinned host memory now
        (asynchronously; an event marks it), so that :meth:`raise_if_bad` waits for this block only."""
        any_bad = self.bad_steps.any()
        self.flag = any_bad
        if any_bad.is_cuda:
            self.flag = torch.empty((), dtype=torch.bool, pin_memory=True)
            self.flag.copy_(any_bad, non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record()
        return self

    @classmethod
    def unadjusted(cls, name: str, iteration: int, ok: Tensor, step_size: float | Tensor) -> BlockCheck:
        """The check of K steps after ``iteration`` of ULA / kinetic Langevin ``name`` (``ok``: per step and chain)."""
        return cls(ok, lambda i, row: raise_diverged(name, iteration + i + 1, row, step_size))

    def raise_if_bad(self) -> None:
        """Raise the kernel's error at the first non-finite step of the block (reads one host flag)."""
        if self.event is not None:
            self.event.synchronize()  # waits for this block's copy only, not for blocks queued after it
        if bool(self.bad_steps.any() if self.flag is None else self.flag):
            first = int(self.bad_steps.nonzero()[0, 0])
            self.fail(first, self.ok[first])


#: unread checks kept before they are read together (AIS temperatures, replica-exchange rounds)
READ_EVERY = 32


def queued(unread: tuple[BlockCheck, ...], check: BlockCheck | None) -> tuple[BlockCheck, ...]:
    """``unread`` with ``check`` added (e.g. one per AIS temperature or replica-exchange round); once ``READ_EVERY``
    are queued they are read together (:func:`read_checks`) and ``()`` is returned, so an error is the same, up to
    ``READ_EVERY`` checks later."""
    if check is None:
        return unread
    unread = (*unread, check)
    if len(unread) >= READ_EVERY:
        read_checks(unread)
        return ()
    return unread


def read_checks(checks: Sequence[BlockCheck]) -> None:
    """Read ``checks`` together (one host read) and raise the first bad one's error."""
    if checks and bool(torch.stack([c.bad_steps.any() for c in checks]).any()):
        for check in checks:
            check.raise_if_bad()
