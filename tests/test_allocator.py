"""glibc's malloc tuned to keep freed memory: large blocks freed and allocated again reuse their pages.

Each case runs in a fresh interpreter (the allocator's settings are per process): 20 rounds of allocating five
8 MiB tensors and freeing them together, after 5 rounds of warm-up, counting minor page faults per round. glibc's
defaults are dynamic, so whether such a round faults depends on the allocation history (about half of fresh
processes here fault 8 160 pages a round, the rest none); both cases therefore start from glibc's *initial*
thresholds, pinned by its own environment variables (128 KiB: the blocks are mmapped and unmapped every round, the
negative control, ~10 000 faults), and the tuned case then calls :func:`tune_malloc`, which must override them
(0 faults in the median round).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ebmlab import cli
from ebmlab.allocator import tune_malloc
from ebmlab.errors import EbmlabError

GLIBC = sys.platform.startswith("linux") and bool(os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else "")

ROUNDS = """
import resource, sys, torch
from ebmlab.allocator import tune_malloc
if sys.argv[1] == "tuned":
    assert tune_malloc()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def round_():
    blocks = [torch.ones(2 << 20) for _ in range(5)]  # 5 × 8 MiB, freed together
    return float(sum(b.sum() for b in blocks))
for _ in range(5):
    round_()
per_round = []
for _ in range(20):
    start = faults()
    round_()
    per_round.append(faults() - start)
print(sorted(per_round)[len(per_round) // 2])
"""


def median_faults_per_round(mode: str) -> int:
    src = str(Path(__file__).resolve().parents[1] / "src")
    initial = str(128 << 10)  # glibc's initial mmap and trim thresholds, made static
    env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_=initial)
    env["MALLOC_TRIM_THRESHOLD_"] = initial
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt only")
def test_tuned_malloc_reuses_freed_pages_that_initial_thresholds_fault_in_again() -> None:
    default = median_faults_per_round("default")
    assert default > 5000, default  # the negative control: unmapped and faulted in again every round
    tuned = median_faults_per_round("tuned")
    assert tuned == 0, tuned


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt only")
def test_tune_malloc_applies_on_glibc() -> None:
    assert tune_malloc() is True
    assert tune_malloc() is True  # idempotent


def test_cli_allocator_setting_is_checked_and_respects_the_users_own(monkeypatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr("ebmlab.allocator.tune_malloc", lambda: calls.append(1) or True)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("EBMLAB_MALLOC", raising=False)
    cli.set_allocator()
    assert calls == [1]  # the default: tuned
    monkeypatch.setenv("EBMLAB_MALLOC", "system")
    cli.set_allocator()
    assert calls == [1]
    monkeypatch.setenv("EBMLAB_MALLOC", "tuned")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")  # the user's own glibc setting wins
    cli.set_allocator()
    assert calls == [1]
    monkeypatch.setenv("EBMLAB_MALLOC", "fast")
    with pytest.raises(EbmlabError, match="EBMLAB_MALLOC: expected 'tuned'"):
        cli.set_allocator()
