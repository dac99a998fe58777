"""One writer per run directory: an advisory lock on ``RUN_DIR/.lock``.

:class:`RunLock` takes an exclusive ``flock`` on the file and writes its owner (pid, host, start
time) into it. The kernel drops the lock when the owner exits in any way, ``kill -9`` included, so a
lock left by a dead process is never in the way: the next writer takes it over and says so. A
second live writer gets a one-line :class:`~ebmlab.errors.ConfigError` naming the owner's pid.
Platforms without ``fcntl`` (Windows) run unlocked.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from ebmlab.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "RunLock", "lock_owner"]

LOCK_FILE = ".lock"
log = logging.getLogger("ebmlab.training")


def lock_owner(run_dir: str | Path) -> dict[str, Any] | None:
    """The owner record written into ``run_dir/.lock`` by the last writer (None if absent/unreadable)."""
    try:
        data = json.loads((Path(run_dir) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class RunLock:
    """``with RunLock(run_dir):`` — hold the run directory's writer lock for the block."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None
        self.took_over: dict[str, Any] | None = None

    def acquire(self) -> None:
        if fcntl is None:  # pragma: no cover
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            owner = lock_owner(self.path.parent) or {}
            who = f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}, since {owner.get('started', '?')}"
            raise ConfigError(
                f"{self.path.parent} is being written by another process ({who}); wait for it to finish or stop "
                f"it (kill {owner.get('pid', 'PID')}) before running a second writer on the same run directory."
            ) from None
        previous = lock_owner(self.path.parent)
        if previous and previous.get("pid") not in (None, os.getpid()) and previous.get("held"):
            self.took_over = previous
            alive = _alive(int(previous["pid"])) if previous.get("host") == socket.gethostname() else False
            state = "still running but no longer holding it" if alive else "no longer running"
            log.warning(
                "%s: took over the stale lock of pid %s (%s; it was killed or crashed mid-run)",
                self.path.parent, previous["pid"], state,
            )  # fmt: skip
        self._fd = fd
        self._write({"held": True})

    def _write(self, extra: dict[str, Any]) -> None:
        assert self._fd is not None
        record = {"pid": os.getpid(), "host": socket.gethostname()}
        record["started"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        data = (json.dumps(record | extra) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self._write({"held": False})
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
