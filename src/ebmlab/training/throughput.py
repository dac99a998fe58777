"""Say when training runs far below its expected speed (a busy shared machine, thread oversubscription).

The expected rate is the best rate this run has shown: steps per second over windows of ``window``
seconds, the best window after the first (which includes warm-up) being the reference. When a
window's rate falls below ``ratio`` × the reference, :meth:`ThroughputWatch.update` returns one
message (then stays quiet until the rate has recovered), naming the rates, the load average
against the number of cores, and the fix (docs/performance.md: one thread per process).
"""

from __future__ import annotations

import os
import time

__all__ = ["ThroughputWatch"]


def _load() -> str:
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return ""
    return f"; load average {load:.1f} on {os.cpu_count() or '?'} cores"


class ThroughputWatch:
    """``update(step)`` after each step; returns a warning text when throughput collapses, else None."""

    def __init__(self, window: float = 10.0, ratio: float = 0.33, clock: object = time.perf_counter) -> None:
        self.window, self.ratio, self.clock = window, ratio, clock
        self.start_time: float | None = None
        self.start_step = 0
        self.windows = 0
        self.best: float | None = None
        self.warned = False

    def update(self, step: int) -> str | None:
        now = self.clock()  # type: ignore[operator]
        if self.start_time is None:
            self.start_time, self.start_step = now, step
            return None
        elapsed = now - self.start_time
        if elapsed < self.window:
            return None
        rate = (step - self.start_step) / elapsed
        self.start_time, self.start_step = now, step
        self.windows += 1
        if self.windows == 1:  # includes warm-up (imports, first allocations): not a reference
            return None
        if self.best is None or rate > self.best:
            self.best = rate
            self.warned = False
            return None
        if rate < self.ratio * self.best and not self.warned:
            self.warned = True
            return (
                f"throughput fell to {rate:.3g} steps/s, {self.best / max(rate, 1e-12):.1f}x below this run's "
                f"{self.best:.3g} steps/s{_load()}: the machine is busy or oversubscribed; run one thread per "
                "process (OMP_NUM_THREADS=1, the CLI default) and fewer jobs at once (docs/performance.md)"
            )
        if rate >= 0.8 * self.best:
            self.warned = False
        return None
