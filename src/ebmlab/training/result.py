"""What :func:`~ebmlab.training.fit` returns and writes at the end: the :class:`Run` and ``summary.json``."""

from __future__ import annotations

import datetime
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["SUMMARY_FILE", "Run", "summarize", "versions"]

SUMMARY_FILE = "summary.json"


@dataclass
class Run:
    """The outcome of :func:`~ebmlab.training.fit`.

    Attributes:
        method: the trained method (same object as passed in).
        run_dir: the run directory (None when ``fit`` used a temporary one).
        step: steps completed.
        status: ``"completed"``.
        history: all logged records (``{"step", "time", key: value}``), evaluation and event records included.
        summary: the content of ``summary.json`` (versions, seed, wall time, final metrics, rollbacks).
    """

    method: nn.Module
    run_dir: Path | None
    step: int
    status: str
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def final_metrics(self) -> dict[str, float]:
        """The last logged value of every metric (training and ``eval/``)."""
        return dict(self.summary.get("final_metrics", {}))

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of one logged key."""
        rows = [r for r in self.history if key in r and "event" not in r]
        return [int(r["step"]) for r in rows], [math.nan if r[key] is None else float(r[key]) for r in rows]


def versions() -> dict[str, str]:
    """Python, torch and ebmlab versions (recorded in every checkpoint and summary)."""
    from ebmlab import __version__

    return {"python": platform.python_version(), "torch": torch.__version__, "ebmlab": __version__}


def summarize(
    status: str,
    history: Sequence[dict[str, Any]],
    *,
    steps: int,
    planned_steps: int,
    seed: int,
    wall_time_s: float,
    resumed_from: int | None,
    rollbacks: list[dict[str, Any]],
    method: str,
    device: str,
) -> dict[str, Any]:
    """The content of ``summary.json``; ``final_metrics`` is the last logged value of every key."""
    final: dict[str, Any] = {}
    for record in history:
        if "event" not in record:
            final |= {k: v for k, v in record.items() if k not in ("step", "time")}
    return {
        "status": status,
        "steps": steps,
        "planned_steps": planned_steps,
        "seed": seed,
        "wall_time_s": round(wall_time_s, 3),
        "resumed_from": resumed_from,
        "rollbacks": rollbacks,
        "final_metrics": final,
        "method": method,
        "device": device,
        "versions": versions(),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
