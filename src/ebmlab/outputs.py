"""Output files written whole or not at all: arrays, figures and text that commands leave for the user.

Every file goes to a temporary name in its own directory and is renamed into place with ``os.replace``, so a
reader (or a command killed half-way) sees the previous file or the new one, never a torn one; an earlier run's
``samples.npy`` survives a rerun into the same directory that fails. The bytes are produced in memory first, so a
failure while serialising (a plotting error, Ctrl-C) touches nothing on disk.

>>> import numpy as np, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
>>> save_npy(path, np.arange(3))
>>> np.load(path).tolist()
[0, 1, 2]
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write_bytes", "current_umask", "save_figure", "save_npy"]


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file, never a torn one (a temporary
    file in the same directory, then ``os.replace``); ``durable``: fsync the data before the rename, so that a power
    loss cannot leave an empty file (False only for files that are removed when the process ends)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save(path, array)``, atomically (no pickled objects: ``allow_pickle=False``)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """``fig.savefig(path, dpi=dpi)``, atomically, in the format of the file's suffix (png, pdf, svg)."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".").lower() or "png", dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())
    return path
