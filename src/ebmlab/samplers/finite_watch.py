"""Whether a block of ULA / kinetic-Langevin steps stayed finite, read by the host one block late on a GPU.

The unadjusted kernels accept every move, so a chain whose energy or gradient turns NaN/inf must stop the run with
a :class:`~ebmlab.errors.NonFiniteError` naming the first such step and its chains. Reading that flag right after
a block is queued makes the host wait for the block; on CUDA, :class:`BlockCheck` instead copies the block's flag
to pinned host memory asynchronously (an event marks it) and :func:`~ebmlab.samplers.chains.run_chains` reads it
after the *next* block is queued, so the GPU never idles waiting for the host. The step and the chains named are
the same: the block's per-step flags stay on the device and are only inspected on the failure path. The price is
that on failure one more block runs (on NaN values) before the error. On the CPU nothing is gained by waiting,
so the check is read at once unless ``DEFER_ON_CPU`` is set (tests use it to run the deferred path on a CPU).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlab.samplers.base import raise_diverged

__all__ = ["DEFER_ON_CPU", "BlockCheck", "deferred"]

#: read the flags of CPU blocks one block late too (for tests of the GPU path)
DEFER_ON_CPU = False


def deferred(device: torch.device) -> bool:
    """Whether the finiteness of a block on ``device`` is read one block late."""
    return device.type == "cuda" or DEFER_ON_CPU


class BlockCheck:
    """The finiteness flags ``ok`` (K, n) of K steps after ``iteration`` of kernel ``name``; no host sync to build."""

    def __init__(self, name: str, iteration: int, ok: Tensor, step_size: float | Tensor) -> None:
        self.name, self.iteration, self.ok, self.step_size = name, iteration, ok, step_size
        self.bad_steps = (~ok).any(dim=1)
        any_bad = self.bad_steps.any()
        self.event: torch.cuda.Event | None = None
        self.flag = any_bad
        if ok.is_cuda:
            self.flag = torch.empty((), dtype=torch.bool, pin_memory=True)
            self.flag.copy_(any_bad, non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record()

    def raise_if_bad(self) -> None:
        """Raise the kernel's NonFiniteError at the first non-finite step of the block (reads one host flag)."""
        if self.event is not None:
            self.event.synchronize()  # waits for this block's copy only, not for blocks queued after it
        if bool(self.flag):
            first = int(self.bad_steps.nonzero()[0, 0])
            raise_diverged(self.name, self.iteration + first + 1, self.ok[first], self.step_size)
