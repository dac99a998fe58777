"""Shared helpers for the benchmark scripts: robust timing and side-by-side tables.

Timing protocol (the one BENCHMARKS.md uses): run the workload once or more to warm up (allocator,
lazy initialisation, compiled kernels), then time ``repeats`` runs and report the median, with the
spread (min, max) so that a loaded machine shows up in the numbers instead of hiding in them.

>>> t = time_median(lambda: sum(range(1000)), repeats=3, warmup=1)
>>> t.median > 0 and t.low <= t.median <= t.high
True
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ebmlab.energies import neural
from ebmlab.yaml_io import atomic_write_text

__all__ = [
    "Timing",
    "format_rate",
    "format_table",
    "machine_info",
    "ratio",
    "time_median",
    "write_json",
]


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of ``repeats`` timed runs: median, min and max."""

    median: float
    low: float
    high: float
    runs: tuple[float, ...]

    def rate(self, work: float) -> float:
        """Units of work per second at the median time, ``work / median``."""
        return work / self.median if self.median > 0 else math.inf

    @property
    def spread(self) -> float:
        """(max − min) / median: how noisy the runs were (0.1 = 10 %)."""
        return (self.high - self.low) / self.median if self.median > 0 else 0.0


def time_median(
    fn: Callable[[], Any], repeats: int = 3, warmup: int = 1, between: Callable[[], Any] | None = None
) -> Timing:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs; ``between()`` (untimed)
    after each timed run."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"time_median needs repeats >= 1 and warmup >= 0, got {repeats}, {warmup}.")
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
        if between is not None:
            between()
    return Timing(statistics.median(runs), min(runs), max(runs), tuple(runs))


def ratio(ours: float, reference: float) -> float:
    """``ours / reference`` (NaN when the reference is missing or zero)."""
    if reference is None or reference == 0 or reference != reference:
        return math.nan
    return ours / reference


def format_rate(value: float | None) -> str:
    """A rate with a k/M suffix: 12.4M, 621k, 950; '—' when missing."""
    if value is None or value != value:
        return "—"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (also readable as plain text)."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def rotated(items: Sequence[str], r: int) -> list[str]:
    """``items`` rotated left by ``r``: repeat r's order of interleaved variants, so that none always runs first or
    last (where a variant runs in a repeat can change its time: caches, the allocator's state)."""
    k = r % len(items)
    return [*items[k:], *items[:k]]


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU (model name, family / model / stepping as /proc/cpuinfo gives them, and
    the vector ISA PyTorch dispatches to: two "AMD EPYC"s of different generations rank BLAS and oneDNN differently),
    cores, threads, torch version, load average."""
    cpu = platform.processor() or platform.machine()
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "stepping") and key not in fields:
                fields[key] = value.strip()
            if not line.strip() and fields:
                break  # the first processor's block
    except OSError:
        pass
    cpu = fields.get("model name", cpu)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "cpu_family_model": "/".join(fields.get(k, "?") for k in ("cpu family", "model", "stepping")),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": None if load is None else [round(v, 2) for v in load],
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "malloc": MALLOC["mode"],
    }


#: the allocator setting of this process (set by :func:`set_malloc`; glibc's defaults unless the environment
#: sets MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_)
MALLOC = {"mode": "system"}


def set_malloc(mode: str) -> None:
    """``--malloc``: ``system`` (glibc's defaults: what a library user's script gets) or ``tuned``
    (:func:`ebmlab.allocator.tune_malloc`, what the ``ebmlab`` command line does)."""
    if mode == "tuned":
        from ebmlab.allocator import tune_malloc

        MALLOC["mode"] = "tuned" if tune_malloc() else "system (tune_malloc not applicable here)"
    env = [k for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_") if k in os.environ]
    if env:
        MALLOC["mode"] += " + " + ", ".join(f"{k}={os.environ[k]}" for k in env)


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (dataclasses allowed) as indented JSON."""

    def default(obj: object) -> object:
        if hasattr(obj, "__dataclass_fields__"):
            return asdict(obj)  # type: ignore[arg-type]
        raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

    atomic_write_text(Path(path), json.dumps(payload, indent=2, default=default) + "\n")


def onednn_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` by oneDNN's linear (weight ``bᵀ``), the op ``MLPEnergy.energy_and_grad`` uses for large float32 CPU
    matmuls; only where ``ebmlab.energies.neural._ONEDNN`` is not None."""
    assert neural._ONEDNN is not None
    return neural._ONEDNN(a, b.t(), None, "none", [], "")
