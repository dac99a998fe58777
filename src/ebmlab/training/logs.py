"""Metric logs of a run: ``metrics.jsonl`` (one JSON object per logged step), ``metrics.csv``, and
optionally TensorBoard.

Records are ``{"step": s, "time": seconds, key: value, ...}``; evaluation records carry
``eval/``-prefixed keys; events (a rollback) carry an ``"event"`` key and are left out of the CSV.
Non-finite values are written as ``null`` so the file stays strict JSON. The CSV is regenerated
from the records (at every checkpoint and at the end), so columns that appear late (evaluation
metrics) get a header.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Any

from ebmlab.yaml_io import atomic_write_text

__all__ = ["MetricsLogger", "NullLogger", "json_safe", "read_metrics"]

log = logging.getLogger("ebmlab.training")

METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"


def json_safe(value: Any) -> Any:
    """``None`` for a non-finite float (JSON has no NaN/inf), the value otherwise."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file. A torn last line from a kill is skipped silently; other
    lines that are not JSON objects (a damaged file, bytes that are not UTF-8) are skipped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    bad = 0
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("step", 0), int):
            records.append(record)
        elif line.strip() and i < len(lines) - 1:
            bad += 1
    if bad:
        log.warning("%s: skipped %d damaged lines (not JSON records); the rest of the log is kept", path, bad)
    return records


class MetricsLogger:
    """Appends records to ``run_dir/metrics.jsonl`` (and TensorBoard), keeps them in ``history``."""

    def __init__(self, run_dir: Path, *, tensorboard: bool = False, durable: bool = True) -> None:
        self.run_dir, self.durable = run_dir, durable  # durable: fsync rewritten files (not for a temporary run)
        self.jsonl = run_dir / METRICS_JSONL
        self.csv = run_dir / METRICS_CSV
        self.history: list[dict[str, Any]] = read_metrics(self.jsonl)
        self._fh = open(self.jsonl, "a", encoding="utf-8")
        self._tb = _tensorboard_writer(run_dir) if tensorboard else None

    def log(self, record: dict[str, Any]) -> None:
        """Append one record (flushed at once, so a killed run keeps what it logged)."""
        record = {k: json_safe(v) for k, v in record.items()}
        self.history.append(record)
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        if self._tb is not None and "event" not in record:
            for key, value in record.items():
                if key not in ("step", "time") and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, record["step"])

    def truncate(self, step: int) -> None:
        """Forget records after ``step`` (a resume or rollback to that step) and rewrite the file."""
        self.history = [r for r in self.history if int(r.get("step", 0)) <= step]
        self._fh.close()
        atomic_write_text(self.jsonl, "".join(json.dumps(r) + "\n" for r in self.history), self.durable)
        self._fh = open(self.jsonl, "a", encoding="utf-8")

    def write_csv(self) -> None:
        """Regenerate ``metrics.csv`` (atomically) from the numeric records."""
        rows = [r for r in self.history if "event" not in r]
        keys: list[str] = ["step", "time"]
        for row in rows:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, restval="", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        atomic_write_text(self.csv, buf.getvalue(), self.durable)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None


class NullLogger:
    """The metrics logger of ranks other than 0: keeps the history in memory, writes nothing."""

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []

    def log(self, record: dict[str, Any]) -> None:
        self.history.append(record)

    def truncate(self, step: int) -> None:
        self.history = [r for r in self.history if int(r.get("step", 0)) <= step]

    def write_csv(self) -> None:
        pass

    def close(self) -> None:
        pass


def _tensorboard_writer(run_dir: Path) -> Any:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        log.warning("train.tensorboard is on but the `tensorboard` package is not installed; logging to files only.")
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))
