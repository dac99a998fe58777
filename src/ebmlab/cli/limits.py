"""Upper bounds on the command line's size knobs, derived from this machine's memory and a time budget.

A request is refused with one line giving the estimate (bytes or hours), the limit, and the largest
value that fits, instead of growing until the allocator or the OOM killer stops it.

* memory: an estimate in bytes must stay below half of the memory available now
  (``MemAvailable`` of ``/proc/meminfo``, else physical memory);
* time: an estimate of float operations at :data:`RATE` per second must stay below
  :data:`MAX_HOURS` hours.
"""

from __future__ import annotations

import math
import os

from ebmlab.errors import ConfigError

__all__ = ["MAX_HOURS", "RATE", "available_memory", "check_memory", "check_time", "human_bytes"]

#: float operations per second assumed for the time estimate (a few cores, vectorised torch)
RATE = 1e9
#: longest run the CLI starts without the user splitting it
MAX_HOURS = 48.0


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable``), else physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def human_bytes(n: float) -> str:
    """``3.2 GiB`` style."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def check_memory(
    option: str, value: int, bytes_per_unit: float, fixed: float = 0.0, *, budget: int | None = None
) -> None:
    """Refuse ``option value`` when ``fixed + value × bytes_per_unit`` exceeds half the available memory."""
    limit = (available_memory() if budget is None else budget) / 2
    need = fixed + value * bytes_per_unit
    if need > limit:
        largest = max(0, math.floor((limit - fixed) / bytes_per_unit)) if bytes_per_unit > 0 else 0
        raise ConfigError(
            f"{option} {value} would need about {human_bytes(need)} of memory ({human_bytes(bytes_per_unit)} each), "
            f"more than half of the {human_bytes(2 * limit)} available; use at most {option} {largest}."
        )


def check_time(option: str, value: int, flops_per_unit: float, fixed: float = 0.0) -> None:
    """Refuse ``option value`` when ``(fixed + value × flops_per_unit) / RATE`` exceeds :data:`MAX_HOURS`."""
    hours = (fixed + value * flops_per_unit) / RATE / 3600
    if hours > MAX_HOURS:
        largest = max(1, math.floor((MAX_HOURS * 3600 * RATE - fixed) / flops_per_unit))
        raise ConfigError(
            f"{option} {value} would take about {hours:.3g} hours (≈ {flops_per_unit:.3g} float operations each at "
            f"{RATE:.0e}/s), more than the {MAX_HOURS:g} h the CLI starts; use at most {option} {largest} "
            "or split the run."
        )
