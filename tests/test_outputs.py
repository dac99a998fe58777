"""Output files are written whole or not at all (ebmlab.outputs): a failure half-way leaves the previous file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from ebmlab import outputs
from ebmlab.cli import main


def _torn_save(file, array, allow_pickle=True):
    """np.save that writes half of the array's bytes and is then interrupted."""
    file.write(b"\x93NUMPY half an array")
    raise KeyboardInterrupt


def test_an_interrupted_array_write_leaves_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "samples.npy"
    outputs.save_npy(path, np.arange(5.0))
    monkeypatch.setattr(outputs.np, "save", _torn_save)
    with pytest.raises(KeyboardInterrupt):
        outputs.save_npy(path, np.zeros(7))
    assert np.load(path).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [p.name for p in tmp_path.iterdir()] == ["samples.npy"]  # no temporary file left behind


def test_a_failed_fsync_leaves_the_previous_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "report.html"
    outputs.atomic_write_bytes(path, b"old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        outputs.atomic_write_bytes(path, b"new and longer")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_outputs_get_the_usual_file_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        outputs.save_npy(tmp_path / "a.npy", np.ones(2))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.npy").stat().st_mode) == 0o644


def test_save_figure_writes_the_suffixs_format(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png, svg = outputs.save_figure(fig, tmp_path / "f.png"), outputs.save_figure(fig, tmp_path / "f.svg")
    plt.close(fig)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg.read_bytes()[:400]


def test_a_sample_rerun_that_fails_keeps_the_earlier_samples(tmp_path: Path, monkeypatch) -> None:
    """`ebmlab sample --out DIR` twice; the second is interrupted while writing samples.npy: the first run's array
    is still there, whole (with np.save straight to the file it would be torn)."""
    argv = ["sample", "double-well", "--steps", "40", "--chains", "8", "--warmup", "8", "--out", str(tmp_path)]
    assert main(argv) == 0
    first = np.load(tmp_path / "samples.npy")
    monkeypatch.setattr(outputs.np, "save", _torn_save)
    assert main([*argv[:-2], "--seed", "1", "--out", str(tmp_path)]) == 130  # the CLI's code for an interrupt
    assert np.array_equal(np.load(tmp_path / "samples.npy"), first)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
