"""The draws of successive blocks of steps, in order from one generator, the next block drawn ahead on a helper thread.

:func:`~ebmlab.samplers.chains.run_chains` draws the noise (and MH uniforms) of a block of K steps at once. PyTorch's
CPU generator draws serially, about 3–5 ns per number: 8 % of the CPU time of ULA on an ``MLPEnergy`` at 4096
chains (docs/performance_log.md, "Session 23"). :class:`BlockDraws` draws block b + 1 on a helper thread while block b runs (ATen releases the
GIL while it draws), so where a second core is free the draws cost the chains no time.

The numbers are the same, in the same order, as drawing each block when it is needed:

* only the planned blocks are drawn, one at a time, and the chain loop draws nothing itself while a draw is in
  flight (only the block runners and ULA / kinetic Langevin step by step use this: their steps take their draws);
* the generator's state before each draw ahead is kept, so a chunk check that rewinds the generator
  (:class:`~ebmlab.samplers.step_watch.StepWatch`) starts from the right state;
* :meth:`BlockDraws.settle` (an error, or any exit before the planned end) waits for a draw in flight and puts the
  generator back to its state before that draw, where drawing block by block would have left it.

``ahead="auto"`` measures instead of assuming a free core: on a busy machine the helper competes with other work, and
a run whose main thread waits on it gets slower. The first ``len(PROBE)`` blocks alternate segments of blocks drawn
on the calling thread and drawn ahead; each block is timed from one :meth:`BlockDraws.next` to the next (its draw or
its wait, and its run). The first block of a segment is not counted (its draw was made the other way). The faster
way, by the median time per block, draws the next blocks. Runs of fewer than ``len(PROBE) + 1`` blocks draw on the
calling thread. A machine's load changes during a long run, so the probe is run again once ``REPROBE_SECONDS``, or ten
times the last probe's own duration if longer, have passed since the last choice, when more than ``len(PROBE)``
blocks are left. Whatever is chosen, the numbers are the same.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> draws = BlockDraws(lambda k: torch.randn(k, generator=g), 8, 3, g, ahead=True)  # blocks of 3, 3 and 2 steps
>>> got = [draws.next()[0] for _ in range(3)]
>>> draws.close()
>>> bool(torch.equal(torch.cat(got), torch.randn(8, generator=torch.Generator().manual_seed(0))))
True
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

import torch
from torch import Tensor

__all__ = ["AHEAD_MIN_ELEMENTS", "PROBE", "REPROBE_SECONDS", "BlockDraws"]

T = TypeVar("T")

#: blocks of fewer random numbers are drawn when needed: handing a draw to the helper thread costs tens of µs
AHEAD_MIN_ELEMENTS = 1 << 16
#: ``ahead="auto"``: whether each of the first blocks is run with the next one drawn ahead (segments of three)
PROBE = (False,) * 3 + (True,) * 3 + (False,) * 3 + (True,) * 3
#: ``ahead="auto"``: the least wall time from one choice to the next probe (at least ten times a probe's duration)
REPROBE_SECONDS = 30.0


class BlockDraws(Generic[T]):
    """``draw(k)`` for the blocks of ``per_block`` steps (the last one shorter) of ``steps`` steps, in order (module doc).

    Args:
        draw: draws one block of ``k`` steps from ``rng`` (the only generator it uses).
        steps, per_block: the planned steps and the steps per block.
        rng: the generator ``draw`` uses (None: the helper thread is not used).
        ahead: draw the next block on a helper thread while the caller runs this one; ``"auto"``: whichever of the
            two the first blocks measured faster (module doc).

    Attributes:
        chosen: whether the blocks are drawn ahead (``"auto"``: None while a probe runs).
        timings: ``"auto"``'s latest probe, seconds per counted block: ``{False: [...], True: [...]}``.
        probes: ``"auto"``'s probes so far.
        ahead_blocks: blocks handed out whose draws were made ahead (:attr:`share`).
    """

    def __init__(
        self, draw: Callable[[int], T], steps: int, per_block: int, rng: torch.Generator | None, ahead: bool | str
    ) -> None:
        if ahead not in (True, False, "auto"):
            raise ValueError(f"ahead must be True, False or 'auto', got {ahead!r}.")
        self.draw, self.steps, self.per_block, self.rng = draw, steps, per_block, rng
        self.handed = self.ahead_blocks = 0  # blocks handed out; of them, drawn ahead
        self.blocks = -(-steps // per_block)
        probe = ahead == "auto" and self.blocks > len(PROBE)
        use = rng is not None and self.blocks > 1 and (ahead is True or probe)
        self.chosen: bool | None = None if probe and use else bool(use)
        self.timings: dict[bool, list[float]] = {False: [], True: []}
        self.probes = 1 if self.chosen is None else 0
        self.probe_start = 0  # the block the latest probe began with
        self.last: float | None = None  # when the previous block was handed out (during a probe)
        self.probe_began = 0.0  # when (perf_counter) the latest probe began
        self.reprobe_at = float("inf")  # ``"auto"``: when the next probe is due
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="ebmlab-draws") if use else None
        self.pending: Future[T] | None = None
        self.pending_before: Tensor | None = None  # the generator's state before the draw in flight

    def _ahead_while(self, block: int) -> bool:
        """Whether the block after ``block`` (0-based) is drawn while ``block`` runs."""
        if self.chosen is not None and not self._reprobe(block):
            return self.chosen
        if block - self.probe_start < len(PROBE):
            return PROBE[block - self.probe_start]
        on, off = self.timings[True], self.timings[False]
        self.chosen = statistics.median(on) < statistics.median(off)
        now = time.perf_counter()
        self.reprobe_at = now + max(REPROBE_SECONDS, 10.0 * (now - self.probe_began))
        return self.chosen

    def _reprobe(self, block: int) -> bool:
        """Start a new probe with ``block`` when one is due (``"auto"``) and more than ``len(PROBE)`` blocks follow."""
        if self.blocks - 1 - block <= len(PROBE) or time.perf_counter() < self.reprobe_at:
            return False
        self.chosen, self.probe_start, self.probes = None, block, self.probes + 1
        self.timings = {False: [], True: []}
        self.last = self.probe_began = time.perf_counter()  # when ``block`` was handed out, near enough
        return True

    def _time(self) -> None:
        """Count the block just finished (``"auto"``'s probe) unless it opened a segment."""
        now = time.perf_counter()
        if self.handed == 0:
            self.probe_began = now
        done = self.handed - 1 - self.probe_start  # the block whose run ended now, counted from the probe's first
        if self.last is not None and 0 < done < len(PROBE) and PROBE[done] == PROBE[done - 1]:
            self.timings[PROBE[done]].append(now - self.last)
        self.last = now

    def next(self, state: bool = False) -> tuple[T, Tensor | None]:
        """The next block's draws and the generator's state before them: when drawn ahead, or when ``state`` is asked
        for (else None)."""
        if self.chosen is None:
            self._time()
        before = None
        if self.pending is not None:
            out, before = self.pending.result(), self.pending_before
            self.pending = self.pending_before = None
            self.ahead_blocks += 1
        else:
            before = self.rng.get_state() if state and self.rng is not None else None
            out = self.draw(self.size(self.handed))
        self.handed += 1
        if self.pool is not None and self.handed * self.per_block < self.steps and self._ahead_while(self.handed - 1):
            assert self.rng is not None
            self.pending_before = self.rng.get_state()  # nothing draws now: this thread's draw is done
            self.pending = self.pool.submit(self.draw, self.size(self.handed))
        return out, before

    @property
    def share(self) -> float:
        """The share of the blocks after the first whose draws were made ahead (0.0 for one block or none)."""
        return self.ahead_blocks / (self.handed - 1) if self.handed > 1 else 0.0

    def size(self, block: int) -> int:
        """Steps of block ``block`` (0-based)."""
        return min(self.per_block, self.steps - block * self.per_block)

    def settle(self) -> None:
        """Wait for a draw in flight and undo it: the generator as after the blocks handed out so far."""
        if self.pending is None:
            return
        pending, before = self.pending, self.pending_before
        self.pending = self.pending_before = None
        try:
            pending.result()
        except Exception:  # its error belongs to a block no longer wanted; the state is put back below
            pass
        assert self.rng is not None and before is not None
        self.rng.set_state(before)

    def close(self) -> None:
        """:meth:`settle` and stop the helper thread."""
        self.settle()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
