"""Fault tests: a failed command never damages a run, one writer per run, integrity of every checkpoint file,
data checked at load, one-line errors and loud warnings on the command line (issue 11).

The thorough version (hundreds of generated invocations, every corruption of every file, kill -9 at random
points) is ``benchmarks/fault_suite.py``; these are its fast, always-run core.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ebmlab.cli import build_parser, main
from ebmlab.errors import CheckpointError, ConfigError, NonFiniteError
from ebmlab.experiments import load_run
from ebmlab.training import CheckpointManager, RunLock, TrainConfig, fit, read_metrics
from ebmlab.training.examples import GaussianMLE
from ebmlab.yaml_io import load_yaml

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, steps: int = 20, **train) -> Path:
    data = tmp_path / "data.safetensors"
    save_file({"data": 1.0 + 0.5 * torch.randn(200, 2, generator=torch.Generator().manual_seed(0))}, str(data))
    extra = "".join(f", {k}: {v}" for k, v in train.items())
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"name: faults\ndata: {{name: file, path: '{data}'}}\nmethod: {{name: gaussian-mle}}\n"
        f"train: {{steps: {steps}, batch_size: 50, lr: 0.05, log_every: 5, checkpoint_every: 10{extra}}}\n"
    )
    return path


def _snapshot(run: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file() and p.name != ".lock"
    }


def _one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    assert main(["train", str(_config(tmp_path)), "--out", str(run), "--no-progress"]) == 0
    return run


def test_refused_resume_leaves_the_run_untouched(trained: Path, capsys):
    before = _snapshot(trained)
    code = main(["train", "--resume", str(trained), "--set", "method.dim=3", "--no-progress"])
    assert "does not fit GaussianMLE" in _one_line_error(capsys, code)
    assert _snapshot(trained) == before  # config.yaml, summary.json, metrics, checkpoints: byte-identical
    assert main(["train", "--resume", str(trained), "--set", "train.steps=30", "--no-progress"]) == 0


def test_second_writer_is_refused_naming_the_owner_and_a_stale_lock_is_taken_over(trained: Path, caplog):
    with RunLock(trained), pytest.raises(ConfigError, match=f"another process \\(pid {os.getpid()} "):
        RunLock(trained).acquire()
    (trained / ".lock").write_text(json.dumps({"pid": 999999999, "host": "h", "started": "t", "held": True}))
    with caplog.at_level(logging.WARNING, "ebmlab.training"), RunLock(trained) as lock:
        assert lock.took_over is not None and lock.took_over["pid"] == 999999999
    assert "took over the stale lock of pid 999999999" in caplog.text
    assert json.loads((trained / ".lock").read_text())["held"] is False


@pytest.mark.parametrize("edit", ["step", "data", "lr"])
def test_a_valid_json_edit_of_trainer_json_is_detected(trained: Path, edit: str):
    meta_file = trained / "checkpoints" / "step_0000020" / "trainer.json"
    meta = json.loads(meta_file.read_text())
    if edit == "step":
        meta["step"] = 19
    elif edit == "data":
        meta["data"]["position"] += 1
    else:
        meta["optimizers"]["model"]["param_groups"][0]["lr"] *= 2
    meta_file.write_text(json.dumps(meta, indent=1))
    with pytest.raises(CheckpointError, match=r"trainer.json is corrupt.*own SHA-256.*resume from step 10"):
        CheckpointManager(trained / "checkpoints").load(meta_file.parent)


def test_damaged_run_config_points_to_the_checkpoint_copy_which_wins(trained: Path, caplog, capsys):
    (trained / "config.yaml").write_text("method: {name: 'os:system'}\ntrain: {steps: [\n")
    with caplog.at_level(logging.WARNING, "ebmlab.training"):
        config, _ = load_run(trained)
    assert config.train.steps == 20 and "damaged or was edited" in caplog.text
    assert "checkpoints/step_0000020/config.yaml" in caplog.text
    assert main(["train", "--resume", str(trained), "--set", "train.steps=25", "--no-progress"]) == 0
    assert load_yaml(trained / "config.yaml")["train"]["steps"] == 25  # repaired from the authoritative copy


def test_run_files_are_readable_by_colleagues(tmp_path: Path):
    old = os.umask(0o022)
    try:
        run = fit(
            GaussianMLE(2), torch.randn(64, 2), TrainConfig(steps=2, batch_size=32, progress=False), run_dir=tmp_path
        )
    finally:
        os.umask(old)
    ckpt = run.run_dir / "checkpoints" / "step_0000002"
    for path in (
        run.run_dir / "config.yaml",
        run.run_dir / "summary.json",
        ckpt / "trainer.json",
        ckpt / "config.yaml",
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert stat.S_IMODE(ckpt.stat().st_mode) == 0o755


def test_duplicate_yaml_keys_are_an_error(tmp_path: Path):
    path = tmp_path / "dup.yaml"
    path.write_text("train: {steps: 5}\nmethod: {name: gaussian-mle}\ntrain: {steps: 9}\n")
    with pytest.raises(ConfigError, match=r"dup.yaml:3:1: invalid YAML \(duplicate key 'train' \(first on line 1\)"):
        load_yaml(path)
    path.write_text("train: {steps: 5, steps: 6}\n")
    with pytest.raises(ConfigError, match="duplicate key 'steps'"):
        load_yaml(path)


@pytest.mark.parametrize("suffix", [".npy", ".safetensors"])
def test_non_finite_data_is_caught_at_load_naming_file_and_row(tmp_path: Path, capsys, suffix: str):
    x = np.ones((100, 2), dtype=np.float32)
    x[37, 1] = np.nan
    x[80, 0] = np.inf
    data = tmp_path / f"bad{suffix}"
    np.save(data, x) if suffix == ".npy" else save_file({"data": torch.from_numpy(x)}, str(data))
    config = _config(tmp_path)
    config.write_text(config.read_text().replace(str(tmp_path / "data.safetensors"), str(data)))
    code = main(["train", str(config), "--out", str(tmp_path / "r"), "--no-progress"])
    err = _one_line_error(capsys, code)
    assert str(data) in err and "row 37, column 1" in err and "2 bad rows of 100" in err and "lr" not in err
    with pytest.raises(NonFiniteError, match="row 37"):
        fit(GaussianMLE(2), torch.from_numpy(x), TrainConfig(steps=1, batch_size=10, progress=False))


def test_bad_data_files_are_one_line(tmp_path: Path, capsys):
    (tmp_path / "dir.npy").mkdir()
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(tmp_path / "str.npy", np.array(["a", "b"]))
    (tmp_path / "junk.safetensors").write_bytes(os.urandom(300))
    expected = {
        "dir.npy": "is a directory",
        "obj.npy": "without pickle",
        "str.npy": "numeric",
        "junk.safetensors": "not a readable safetensors",
    }
    config = _config(tmp_path)
    for name, message in expected.items():
        code = main(["train", str(config), "--set", f"data.path={tmp_path / name}", "--out", str(tmp_path / name[:3])])
        assert message in _one_line_error(capsys, code)


def test_typos_in_open_maps_of_train_are_errors(tmp_path: Path):
    for key, value in (("monitor", ["losss"]), ("max_abs", {"los": 5.0})):
        cfg = TrainConfig(steps=3, batch_size=32, progress=False, **{key: value})
        with pytest.raises(ConfigError, match=f"train.{key}: GaussianMLE logs no key .*did you mean 'loss'"):
            fit(GaussianMLE(2), torch.randn(64, 2), cfg)
    fit(GaussianMLE(2), torch.randn(64, 2), TrainConfig(steps=2, batch_size=32, progress=False, monitor=["loss"]))


def test_garbage_metrics_jsonl_is_skipped_with_a_warning(tmp_path: Path, caplog):
    (tmp_path / "metrics.jsonl").write_bytes(b'{"step": 1, "loss": 2.0}\n\xff\xfe garbage \x00\n{"step": 2}\n')
    with caplog.at_level(logging.WARNING, "ebmlab.training"):
        assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]
    assert "skipped 1 damaged lines" in caplog.text


#: (argv, text the one-line error must contain): the issue's tracebacks and silent successes
BAD = [
    (["logz", "double-well", "--method", "is", "--samples", "100000000000000"], "of memory"),
    (["logz", "double-well", "--method", "ais", "--samples", "1000000000"], "would"),  # memory or time
    (["sample", "gmm-40", "--chains", "1000000000"], "of memory"),
    (["sample", "double-well", "--steps", "100000000000", "--chains", "1000"], "hours"),
    (["sample", "double-well", "--seed", str(2**64)], "a seed in [0, 2**63 - 1]"),
    (["logz", "double-well", "--seed", "-1"], "a seed"),
    (["sample", "double-well", "--step-size", "1e300"], "step size <= 10000"),
    (["sample", "double-well", "--out", "FILE"], "a file of that name exists"),
    (["sample", "double-well", "-n", "5"], "apply only to a run directory"),
    (["sample", "double-well", "--start", "noise"], "apply only to a run directory"),
    (["sample", "double-well", "--beta-min", "0.1"], "give --rungs"),
    (["sample", "FILE"], "is a file"),
    (["sample", "RUN", "--sampler", "hmc"], "do not apply to a run directory"),
    (["sample", "RUN", "--rungs", "3", "--chains", "4"], "--rungs, --chains do not apply"),
    (["sample", "RUN", "--step-size", "0.1", "--warmup", "3"], "--step-size, --warmup do not apply"),
    (["sample", "RUN", "--capture", "off"], "--capture do not apply to a run directory"),
    (["sample", "RUN", "--linears", "onednn"], "--linears do not apply to a run directory"),
    (["sample", "double-well", "--rungs", "3", "--capture", "compile"], "--capture applies to plain chains"),
    (["train", "CONFIG", "--out", "FILE"], "a file of that name exists"),
    (
        [
            "train",
            "CONFIG",
            "--set",
            "eval={name: toy-quality, target: rings}",
            "--set",
            "data={name: target, target: moons, n: 100}",
        ],
        "differs from data.target",
    ),
    (["train", "CONFIG", "--set", "device=cuda"], "cuda"),
    (["train", "CONFIG", "--set", "train.seed=abc"], "train.seed"),
    (["logz", "double-well", "--method", "nope"], "--method: expected one of"),
]


def test_bad_invocations_are_one_line_errors(trained: Path, tmp_path: Path, capsys):
    subs = {"FILE": str(tmp_path / "exp.yaml"), "RUN": str(trained), "CONFIG": str(tmp_path / "exp.yaml")}
    for argv, expected in BAD:
        argv = [subs.get(a, a) for a in argv]
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        err = _one_line_error(capsys, code)
        assert expected in err, (argv, err)


def test_help_is_plain_text_and_names_real_things(capsys):
    for sub in ("sample", "logz", "train", "demo"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([sub, "--help"])
        text = capsys.readouterr().out
        assert "``" not in text and ":class:" not in text and "--list" not in text, sub
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sample", "--help"])
    assert "double-well" in capsys.readouterr().out


def test_results_that_went_bad_warn_loudly(tmp_path: Path, capsys):
    out = tmp_path / "funnel"
    argv = ["sample", "funnel-10", "--sampler", "ula", "--step-size", "1", "--steps", "100", "--chains", "8"]
    assert main([*argv, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "WARNING: max split-R-hat is" in err
    assert any("R-hat" in w for w in json.loads((out / "diagnostics.json").read_text())["warnings"])
    argv = ["sample", "many-well-32", "--sampler", "hmc", "--step-size", "5", "--warmup", "0", "--steps", "5"]
    assert main([*argv, "--chains", "4", "--out", str(tmp_path / "mw")]) == 0
    assert "WARNING: all 20 proposals had a non-finite energy" in capsys.readouterr().err
    assert main(["logz", "gaussian-50", "--method", "is", "--proposal", "exact-samples", "--samples", "3"]) == 0
    assert "WARNING: the importance weights' ESS is" in capsys.readouterr().err


def test_torch_source_decision_and_cuda_detection():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import torch_source as ts
    finally:
        sys.path.remove(str(ROOT / "tools"))
    cpu_index = ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
    assert ts.decide(True, None)[0] == []  # a GPU machine: the default (CUDA) build
    assert ts.decide(False, "2.13.0+cpu")[0] == []  # a configured local CPU wheel (our machines, offline)
    assert ts.decide(False, "2.13.0")[0] == cpu_index  # plain PyPI torch on Linux is the CUDA build
    assert ts.decide(False, None)[0] == cpu_index
    cuda = [("torch", "2.13.0"), ("nvidia-cublas-cu12", "12.8"), ("triton", "3.5"), ("sympy", "1.14")]
    assert ts.cuda_packages(cuda) == ["nvidia-cublas-cu12", "triton"]
    assert ts.cuda_packages([("torch", "2.13.0+cu128")]) == ["torch==2.13.0+cu128"]
    assert ts.cuda_packages([("torch", "2.13.0+cpu"), ("sympy", "1.14")]) == []


def test_throughput_watch_says_when_the_rate_collapses():
    from ebmlab.training.throughput import ThroughputWatch

    now = [0.0]
    watch = ThroughputWatch(window=1.0, ratio=0.33, clock=lambda: now[0])
    said = []
    step = 0
    for rate in [5] * 3 + [100] * 3 + [60] * 2 + [20] * 3 + [100] * 2 + [10] * 2:  # steps per second, per window
        for _ in range(rate):
            step += 1
            now[0] += 1.0 / rate
            said.append(watch.update(step))
    messages = [m for m in said if m]
    assert len(messages) == 2  # once per collapse (20 and 10 steps/s against 100), not for 60 or warm-up 5
    assert "throughput fell to 20 steps/s, 5.0x below this run's 100 steps/s" in messages[0]
    assert "OMP_NUM_THREADS=1" in messages[0]
