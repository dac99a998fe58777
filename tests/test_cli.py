"""The command line: help, one-line errors, `sample` outputs, and the demo report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ebmlab.cli import main


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("demo", "sample", "logz", "train", "rd"):
        assert name in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["sample", "no-such-target"], "valid targets: gaussian-50"),
        (["sample", "mog8", "--steps", "-3"], "expected a positive integer"),
        (["sample", "mog8", "--sampler", "nuts"], "invalid choice"),
        (["logz", "many-well-32", "--method", "quadrature"], "methods that apply"),
        (["sample", "mog8", "--rungs", "1"], "--rungs must be >= 2"),
        (["sample", "mog8", "--rungs", "3", "--sampler", "kinetic"], "carries a velocity per chain"),
        (["sample", "mog8", "--rungs", "3", "--beta-min", "2"], "--beta-min must be below 1"),
        (["sample", "mog8", "--device", "gpu0"], "expected a torch device (cpu, cuda, cuda:0, mps) or auto"),
        (["sample", "mog8", "--capture", "graphs"], "invalid choice"),
        (["sample", "mog8", "--rungs", "4", "--draw-ahead", "on"], "--draw-ahead applies to plain chains"),
    ],
)
def test_bad_input_is_one_line(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors exit directly
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def record_sample_kwarg(monkeypatch, name: str) -> list[object]:
    """The value of ``sample``'s keyword ``name`` at each call ``ebmlab sample`` makes from now on."""
    from ebmlab.cli import sample as sample_cli

    seen: list[object] = []
    real = sample_cli.sample

    def recording(*args, **kwargs):
        seen.append(kwargs[name])
        return real(*args, **kwargs)

    monkeypatch.setattr(sample_cli, "sample", recording)
    return seen


def test_sample_capture_reaches_the_chains_and_the_diagnostics(tmp_path, monkeypatch) -> None:
    """``--capture`` is handed to ``sample`` and recorded; off and the default auto give the same draws bit for bit.
    (``compile`` takes seconds to compile, so its run is in docs/performance_log.md, "Session 22", not here.)"""
    seen = record_sample_kwarg(monkeypatch, "capture")
    common = ["sample", "mog8", "--steps", "64", "--chains", "8", "--warmup", "16"]
    draws = {}
    for capture in ("off", None):
        out = tmp_path / str(capture)
        assert main([*common, "--out", str(out), *(["--capture", capture] if capture else [])]) == 0
        diagnostics = json.loads((out / "diagnostics.json").read_text())
        assert diagnostics["capture"] == (capture or "auto")  # asked for
        assert diagnostics["capture_used"] == ("off" if capture else "eager")  # ran: auto runs MALA as eager blocks
        draws[capture] = np.load(out / "samples.npy")
    assert seen == ["off", "auto"]
    assert np.array_equal(draws["off"], draws[None])


def test_sample_prints_and_records_auto_s_suggestion_to_compile(tmp_path, monkeypatch, capsys) -> None:
    """After a long, cheap eager run the note suggesting ``--capture compile`` reaches the terminal and the file."""
    from ebmlab.samplers import driver

    monkeypatch.setattr(driver, "COMPILE_HINT_SECONDS", 0.0)  # any run counts as long
    monkeypatch.setattr(driver, "COMPILE_HINT_MAX_EVAL", float("inf"))
    out = tmp_path / "o"
    assert main(["sample", "mog8", "--steps", "64", "--chains", "8", "--warmup", "16", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "capture: ran eager (these steps took" in printed and "--capture compile" in printed
    assert "--capture compile" in json.loads((out / "diagnostics.json").read_text())["capture_note"]


def test_sample_draw_ahead_reaches_the_chains_and_gives_the_same_draws(tmp_path, monkeypatch) -> None:
    """``--draw-ahead`` is handed to ``sample`` (default auto) and recorded; the draws are the same whatever it is, bit
    for bit; with ``--rungs`` it is a one-line error (test_bad_input_is_one_line)."""
    from ebmlab.samplers import draw_ahead, driver

    monkeypatch.setattr(draw_ahead, "AHEAD_MIN_ELEMENTS", 1)  # small chains still draw ahead,
    monkeypatch.setattr(driver, "_BLOCK_ELEMENTS", 96)  # in blocks of 6 steps (50 blocks)
    seen = record_sample_kwarg(monkeypatch, "draw_ahead")
    common = ["sample", "mog8", "--steps", "300", "--chains", "8", "--warmup", "16"]
    draws = {}
    for mode in (None, "on", "off"):
        out = tmp_path / str(mode)
        assert main([*common, "--out", str(out), *(["--draw-ahead", mode] if mode else [])]) == 0
        diagnostics = json.loads((out / "diagnostics.json").read_text())
        assert diagnostics["draw_ahead"] == (mode or "auto")  # asked for
        share = diagnostics["draw_ahead_share"]  # ran: all later blocks (on), none (off), the probe's and its choice
        assert share == {"on": 1.0, "off": 0.0}[mode] if mode else 6 / 49 <= share <= 1.0
        draws[mode] = np.load(out / "samples.npy")
    assert seen == ["auto", True, False]
    assert np.array_equal(draws[None], draws["on"]) and np.array_equal(draws[None], draws["off"])


def test_sample_writes_samples_diagnostics_and_plot(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dw"
    code = main(["sample", "double-well", "--steps", "200", "--chains", "64", "--warmup", "50", "--out", str(out)])
    assert code == 0
    samples = np.load(out / "samples.npy")
    assert samples.shape == (100, 64, 1)
    diagnostics = json.loads((out / "diagnostics.json").read_text())
    assert diagnostics["target"] == "double-well" and 0.3 < diagnostics["accept_rate"] < 0.9
    assert diagnostics["exact_log_z"] == pytest.approx(5.032284, abs=1e-6)
    assert (out / "samples.png").stat().st_size > 1000


def test_sample_with_replica_exchange(tmp_path) -> None:
    """`--rungs R`: the β = 1 rung is kept; diagnostics carry the ladder and one swap rate per pair."""
    out = tmp_path / "pt"
    argv = ["sample", "mog8", "--rungs", "4", "--steps", "50", "--warmup", "10", "--chains", "16", "--out", str(out)]
    assert main(argv) == 0
    assert np.load(out / "samples.npy").shape == (50, 16, 2)
    diagnostics = json.loads((out / "diagnostics.json").read_text())
    assert diagnostics["betas"][0] == 0 and diagnostics["betas"][-1] == 1 and len(diagnostics["swap_accept"]) == 3
    assert all(0 <= a <= 1 for a in diagnostics["swap_accept"]) and diagnostics["base_scale"] == pytest.approx(3.75)


def test_replica_exchange_visits_every_gmm40_mode_where_mala_does_not_mix(tmp_path) -> None:
    """gmm-40 with the same kernel and seed: replica exchange visits all 40 modes and mixes (R-hat near 1);
    MALA alone, started uniformly on the box, does not mix between modes (R-hat far above 1)."""
    common = ["--steps", "300", "--warmup", "100", "--chains", "64", "--step-size", "1.0"]
    assert main(["sample", "gmm-40", "--rungs", "8", *common, "--out", str(tmp_path / "pt")]) == 0
    assert main(["sample", "gmm-40", *common, "--out", str(tmp_path / "mala")]) == 0
    pt = json.loads((tmp_path / "pt" / "diagnostics.json").read_text())
    mala = json.loads((tmp_path / "mala" / "diagnostics.json").read_text())
    assert pt["mode_coverage"] >= 0.95 and pt["rhat_max"] < 1.2
    assert mala["rhat_max"] > 1.5


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without CUDA")
def test_sample_device_auto_runs_on_the_cpu_here_and_cuda_is_a_one_line_error(tmp_path, capsys) -> None:
    """`--device auto` is the CPU on a machine without CUDA, with the same draws as the default; `--device cuda`
    names the build and the fix; a run directory does not take the target's options."""
    common = ["sample", "mog8", "--steps", "20", "--warmup", "5", "--chains", "8"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--device", "auto", "--out", str(tmp_path / "b")]) == 0
    assert np.array_equal(np.load(tmp_path / "a" / "samples.npy"), np.load(tmp_path / "b" / "samples.npy"))
    capsys.readouterr()
    assert main([*common, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "CPU-only build" in err and "use cpu or auto" in err and len(err.strip().splitlines()) == 1
    assert main(["sample", str(tmp_path), "--chains", "8"]) == 2
    assert "--chains do not apply to a run directory" in capsys.readouterr().err
