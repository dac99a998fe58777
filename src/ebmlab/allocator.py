"""Keep freed memory in the process on glibc: large tensors without a page fault per page on every step.

glibc's ``malloc`` serves blocks above a *dynamic* threshold (128 KiB at start, raised as blocks are freed, at
most 32 MiB) with ``mmap`` and returns them to the system on ``free``; freed memory at the top of the heap is
trimmed back above another dynamic threshold. A batched E+∇E of a neural energy allocates and frees the same
multi-megabyte activations on every call, and whether they land in reused or fresh pages depends on what was
freed before: a fresh page costs a page fault. Measured on the project's CPU (docs/performance_log.md, "Session 8"):
ULA on a ConvNet energy at 4096 chains took 99 ms per step (median; 75–148 ms) with glibc's defaults, at a median
of 10 206 page faults per step (0–17 814, by allocation history), and 76 ms (69–92 ms) tuned, with none
(``benchmarks/alloc_faults.py``; an MLP at 4096 chains: 31.0 → 25.8 ms).

:func:`tune_malloc` fixes both thresholds (``mallopt(M_MMAP_THRESHOLD, 32 MiB)``, ``mallopt(M_TRIM_THRESHOLD,
…)``): blocks up to 32 MiB come from the heap and freed memory stays in the process for the next call, as
jemalloc or tcmalloc (PyTorch's CPU tuning guide recommends either) would keep it. The cost: the process keeps
its peak heap until it exits. The ``ebmlab`` command line calls it at start (``EBMLAB_MALLOC=system`` keeps
glibc's defaults, as do ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` set by the user); a library user
calls it once, or sets those two variables before Python starts.

>>> from ebmlab.allocator import tune_malloc
>>> isinstance(tune_malloc(), bool)  # True where applied; False where the C library is not glibc (macOS, musl)
True
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_malloc"]

#: glibc's largest mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``)
MMAP_THRESHOLD = 32 << 20
#: freed memory at the top of the heap kept in the process (glibc trims only beyond this; mallopt takes an int)
TRIM_THRESHOLD = 2**31 - 1

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        libc = ctypes.CDLL(None)
        libc.mallopt  # noqa: B018 - glibc exports it; musl does not
    except (ValueError, OSError, AttributeError):
        return None
    return libc


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Fix glibc's mmap and trim thresholds for this process (module doc); True when applied, False where the C
    library is not glibc or it refused a value. Safe to call more than once."""
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = libc.mallopt(_M_MMAP_THRESHOLD, min(mmap_threshold, MMAP_THRESHOLD)) == 1
    return ok and libc.mallopt(_M_TRIM_THRESHOLD, min(trim_threshold, TRIM_THRESHOLD)) == 1
