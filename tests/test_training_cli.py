"""``ebmlab train``: runs from YAML, resume (also after a real SIGKILL), ``load_run``, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ebmlab.cli import main
from ebmlab.experiments import load_experiment_config, load_run, run_experiment
from ebmlab.training import read_metrics

ROOT = Path(__file__).resolve().parents[1]


def _write_config(tmp_path: Path, steps: int, **train) -> Path:
    data = tmp_path / "data.safetensors"
    g = torch.Generator().manual_seed(0)
    save_file({"data": 1.0 + 0.5 * torch.randn(500, 2, generator=g)}, str(data))
    extra = "".join(f", {k}: {v}" for k, v in train.items())
    config = tmp_path / "exp.yaml"
    config.write_text(
        "name: cli-test\n"
        f"data: {{name: file, path: '{data}'}}\n"
        "method: {name: gaussian-mle}\n"
        f"train: {{steps: {steps}, batch_size: 50, lr: 0.05, log_every: 10{extra}}}\n"
    )
    return config


def _records(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in read_metrics(run_dir / "metrics.jsonl")]


def test_train_load_run_and_extend(tmp_path: Path, capsys):
    config = _write_config(tmp_path, 40, checkpoint_every=20)
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out), "--no-progress", "--set", "train.seed=3"]) == 0
    printed = capsys.readouterr().out
    assert f"run directory: {out}" in printed and "completed: 40 steps" in printed
    cfg, method = load_run(out)
    assert cfg.train.seed == 3 and cfg.name == "cli-test" and not method.training
    sample = method.sample(1000, torch.Generator().manual_seed(0))
    assert sample.shape == (1000, 2)
    assert main(["train", "--resume", str(out), "--set", "train.steps=60", "--no-progress"]) == 0
    cfg, _ = load_run(out)
    assert cfg.train.steps == 60 and (out / "checkpoints/latest").read_text() == "step_0000060\n"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "give either a CONFIG file to start a run or --resume RUN_DIR"),
        (["--resume", "nowhere"], "--resume nowhere: no config.yaml there"),
        (["CONFIG", "--set", "train.lrr=1"], "train.lrr: unknown key; did you mean 'lr'?"),
        (["CONFIG", "--set", "train.lr=abc"], "train.lr: expected a positive float, got 'abc'"),
        (["CONFIG", "--set", "method.name=cd-typo-xyz"], "method.name: unknown method 'cd-typo-xyz'"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, capsys, argv, expected):
    config = _write_config(tmp_path, 5)
    argv = [str(config) if a == "CONFIG" else a for a in argv]
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ebmlab train: error: {expected}") and err.count("\n") == 1


def test_sigkill_mid_run_then_resume_matches_straight_run(tmp_path: Path):
    """A real ``kill -9`` of ``ebmlab train`` mid-run; ``--resume`` continues it bit-identically."""
    config = _write_config(tmp_path, 10**7, checkpoint_every=20, keep_checkpoints=2)  # would run for hours
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "ebmlab", "train"]
    proc = subprocess.Popen([*cmd, str(config), "--out", str(out), "--no-progress"], env=env, cwd=tmp_path)
    latest = out / "checkpoints" / "latest"
    try:
        deadline = time.monotonic() + 120
        while not (latest.exists() and latest.read_text().strip() >= "step_0000040"):
            assert proc.poll() is None, "the training process exited early"
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = int(latest.read_text().strip()[5:])
    target = killed_at + 30
    resumed = subprocess.run(
        [*cmd, "--resume", str(out), "--set", f"train.steps={target}", "--no-progress"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    straight_cfg = load_experiment_config(config, [f"train.steps={target}"])
    straight = run_experiment(straight_cfg, tmp_path / "straight")
    _, method = load_run(out)
    for (name, p), q in zip(straight.method.state_dict().items(), method.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    assert _records(out) == _records(tmp_path / "straight")


def test_sample_a_run_directory_with_start_and_steps(tmp_path: Path, capsys):
    """`ebmlab sample RUN_DIR`: the method's own sampler, or chains started as asked; bad starts are one line."""
    import numpy as np

    out = tmp_path / "cd"
    config = ROOT / "configs" / "cd_eight_gaussians_tempered.yaml"
    argv = ["train", str(config), "--out", str(out), "--no-progress", "--set", "train.steps=3", "--set", "eval=null"]
    assert main([*argv, "--set", "method.n_rungs=3", "--set", "train.batch_size=16"]) == 0
    assert (
        main(["sample", str(out), "-n", "12", "--start", "tempered", "--steps", "4", "--out", str(tmp_path / "s")]) == 0
    )
    assert np.load(tmp_path / "s" / "samples.npy").shape == (12, 2)
    assert main(["sample", str(out), "-n", "5"]) == 0  # default: the training K steps from noise
    assert np.load(out / "samples" / "samples.npy").shape == (5, 2)
    capsys.readouterr()
    assert main(["sample", str(out), "-n", "5", "--json"]) == 0  # one JSON object on stdout
    assert json.loads(capsys.readouterr().out)["shape"] == [5, 2]
    assert main(["sample", str(out), "-n", "5", "--start", "buffer"]) == 2
    assert "filled replay buffer" in capsys.readouterr().err
    assert main(["sample", str(out), "-n", "5", "--device", "auto", "--out", str(tmp_path / "d")]) == 0
    assert np.array_equal(np.load(tmp_path / "d" / "samples.npy"), np.load(out / "samples" / "samples.npy"))


def test_a_run_directory_loads_on_the_device_asked_for(tmp_path: Path, monkeypatch, capsys) -> None:
    """A run trained on a GPU opens on a laptop: `load_run(dir, device)` builds it on `device`, not on the config's
    (which a CPU-only build refuses); `ebmlab sample RUN_DIR` and `complete` take --device (default cpu)."""
    from ebmlab.errors import ConfigError
    from ebmlab.experiments import load_run
    from ebmlab.experiments import run as run_module

    out = tmp_path / "cd"
    config = ROOT / "configs" / "cd_eight_gaussians_short_run.yaml"
    assert main(["train", str(config), "--out", str(out), "--no-progress", "--set", "train.steps=2"]) == 0
    real = run_module.run_config
    monkeypatch.setattr(run_module, "run_config", lambda d: {**real(d), "device": "cuda"})  # as trained on a GPU
    _, method = load_run(out, "cpu")
    assert {p.device.type for p in method.parameters()} == {"cpu"}
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CPU-only build"):
            load_run(out)
        assert main(["sample", str(out), "-n", "4", "--out", str(tmp_path / "s")]) == 0  # --device cpu by default
        capsys.readouterr()
        assert main(["sample", str(out), "-n", "4", "--device", "cuda"]) == 2
        assert "CPU-only build" in capsys.readouterr().err
