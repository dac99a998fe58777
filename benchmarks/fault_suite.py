"""Fault suite: the CLI and the training loop as an adversary would use them (issue 11).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/fault_suite.py --json docs/fault_suite.json

Four sections, each counted in the summary JSON:

* ``invocations``: bad command lines generated from the CLI's own argparse schema (every typed option
  with values its type rejects, every choice with a bogus value, unknown options, missing values) and
  from the config schema (every ``train.*`` field with a wrong type or out-of-range value, unknown keys,
  bad components), plus hand-written ones (the issue's list). Each runs in-process through
  ``ebmlab.cli.main``; outcome: ``one_line_error`` (exit 2, one stderr line, no traceback), ``warned``
  (exit 0 with a WARNING line, for cases whose spec is a warning), ``traceback`` or ``silent_success``.
* ``corruptions``: every file of every checkpoint and of the run directory damaged in several ways
  (deleted, emptied, truncated, a byte flipped, garbage appended, random bytes, valid-JSON/YAML edits);
  then ``ebmlab train --resume``. Outcome: ``clear_error`` (one line naming the damaged file),
  ``exact_recovery`` (final weights, optimiser, RNG and data position bit-identical to an uninterrupted
  run), ``silent_non_exact`` or ``traceback``.
* ``kills``: ``kill -9`` of ``ebmlab train`` subprocesses at random moments (checkpoints every step, so
  many land inside a checkpoint write: counted from the temp directories left behind), each run killed
  several times, then resumed to the end and compared bit-for-bit with an uninterrupted run.
* ``data``: NaN/±inf planted in data files (npy/safetensors, float32/float64, first/middle/last row) and
  in a DataLoader's batch; the error must name the file (or batch) and the row.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.cli import build_parser, main  # noqa: E402
from ebmlab.errors import EbmlabError  # noqa: E402
from ebmlab.training import TrainConfig, fit  # noqa: E402
from ebmlab.training.examples import GaussianMLE  # noqa: E402


# ------------------------------------------------------------------------------------------ running
def run_cli(argv: list[str], timeout: int = 180) -> dict[str, Any]:
    """Run ``ebmlab ARGV`` in-process; return code, stderr and the outcome class."""
    err, out = io.StringIO(), io.StringIO()

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer after {timeout} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(timeout)
    tb = None
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # what escaped main() is a traceback for the user
        code, tb = None, f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    text = err.getvalue()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if tb is not None or "Traceback" in text:
        outcome = "traceback"
    elif code == 0:
        outcome = "warned" if any("WARNING" in ln for ln in lines) else "silent_success"
    elif len(lines) == 1:
        outcome = "one_line_error"
    else:
        outcome = "multi_line_error"
    return {"argv": argv, "code": code, "stderr": tb or text.strip()[-400:], "outcome": outcome}


# ------------------------------------------------------------------------------------------ fixtures
def write_data(path: Path, n: int = 200, dim: int = 2, seed: int = 0) -> Path:
    save_file({"data": 1.0 + 0.5 * torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))}, str(path))
    return path


def write_config(path: Path, data: Path, steps: int, **train: Any) -> Path:
    extra = "".join(f", {k}: {v}" for k, v in train.items())
    path.write_text(
        f"name: faults\ndata: {{name: file, path: '{data}'}}\nmethod: {{name: gaussian-mle}}\n"
        f"train: {{steps: {steps}, batch_size: 50, lr: 0.05, log_every: 5{extra}}}\n"
    )
    return path


def final_state(run: Path) -> dict[str, Any]:
    """Tensors of the latest checkpoint (weights, optimiser, RNG, extra) and its data position/step."""
    latest = (run / "checkpoints" / "latest").read_text().strip()
    ckpt = run / "checkpoints" / latest
    meta = json.loads((ckpt / "trainer.json").read_text())
    tensors = {f"model/{k}": v for k, v in load_file(str(ckpt / "model.safetensors")).items()}
    tensors |= {f"state/{k}": v for k, v in load_file(str(ckpt / "state.safetensors")).items()}
    return {"tensors": tensors, "data": meta["data"], "step": meta["step"], "log": meta["log"]}


def same_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a["step"] != b["step"] or a["data"] != b["data"] or a["log"] != b["log"]:
        return False
    if a["tensors"].keys() != b["tensors"].keys():
        return False
    return all(torch.equal(a["tensors"][k], b["tensors"][k]) for k in a["tensors"])


# ------------------------------------------------------------------------------------- invocations
def _rejects(type_fn: Callable[[str], Any], value: str) -> bool:
    try:
        type_fn(value)
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return True
    return False


CANDIDATES = ["abc", "-1", "0", "1.5", "nan", "inf", "-inf", "1e400", "", "0x10", str(2**64), "1e300", "-0.0"]


def generated_cli_cases(tmp: Path, config: Path, run_dir: Path) -> list[tuple[list[str], str]]:
    """Bad invocations from argparse: rejected typed values, bogus choices, unknown options, missing values."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    bases = {
        "sample": [["sample", "double-well", "--out", str(tmp / "s")], ["sample", str(run_dir)]],
        "logz": [["logz", "double-well"]],
        "train": [["train", str(config), "--out", str(tmp / "t-new")]],
        "demo": [["demo", "--out", str(tmp / "d"), "--quick"]],
    }
    cases = []
    for name, p in sub.choices.items():
        for base in bases.get(name, [[name]]):
            cases.append(([*base, "--no-such-option"], "error"))
            for action in p._actions:
                if not action.option_strings or action.nargs == 0 or action.dest == "help":
                    continue
                flag = action.option_strings[-1]
                cases.append(([*base, flag], "error"))  # the value is missing
                if action.choices:
                    cases.append(([*base, flag, "bogus-choice"], "error"))
                type_fn = action.type if callable(action.type) else None
                if type_fn is not None and type_fn is not str and type_fn is not Path:
                    cases += [([*base, flag, v], "error") for v in CANDIDATES if _rejects(type_fn, v)]
    return cases


def generated_config_cases(tmp: Path, config: Path) -> list[tuple[list[str], str]]:
    """Bad ``--set`` overrides from the config schema: wrong types, out-of-range values, unknown keys."""
    base = ["train", str(config), "--out", str(tmp / "t-new"), "--no-progress"]
    hints = typing.get_type_hints(TrainConfig)
    cases = []
    for f in dataclasses.fields(TrainConfig):
        tp, check = hints[f.name], f.metadata.get("check")
        bad = ["{a: [1"]  # not YAML
        bad += ["abc"] if tp is not str else []
        bad += ["maybe"] if tp is bool else []
        bad += ["-5"] if check is not None and not check(-5) else []
        bad += ["2.5"] if tp is int else []
        bad += ["[1, 2]"] if typing.get_origin(tp) not in (list, tuple) else []
        for v in bad:
            cases.append(([*base, "--set", f"train.{f.name}={v}"], "error"))
        cases.append(([*base, "--set", f"train.{f.name}x=1"], "error"))
    for key, value in [
        ("device", "gpu7"), ("device", "cuda"), ("data.name", "bogus"), ("method.name", "bogus"),
        ("method.bogus_param", "1"), ("data.path", "/nonexistent.npy"), ("eval.name", "bogus"), ("bogus_section", "1"),
        ("data", "[1, 2]"), ("train", "5"), ("train.monitor", "[losss]"), ("train.max_abs.los", "5"),
        ("train.groups.nope.lr", "0.1"), ("train.groups.model.lr", "-1"), ("method.dim", "0"), ("name", "[a]"),
    ]:  # fmt: skip
        cases.append(([*base, "--set", f"{key}={value}"], "error"))
    cases.append(([*base, "--set", "no_equals_sign"], "error"))
    return cases


def handwritten_cases(tmp: Path, config: Path, run_dir: Path) -> list[tuple[list[str], str]]:
    """The issue's tracebacks and silent successes, and other ordinary mistakes."""
    f = tmp / "a-file.txt"
    f.write_text("x")
    (tmp / "dir.npy").mkdir(exist_ok=True)
    np.save(tmp / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(tmp / "str.npy", np.array(["a", "b"]))
    np.save(tmp / "bool.npy", np.array([[True], [False]]))
    np.save(tmp / "scalar.npy", np.float32(3.0))
    (tmp / "junk.safetensors").write_bytes(os.urandom(500))
    (tmp / "junk.npy").write_bytes(os.urandom(500))
    (tmp / "dup.yaml").write_text("method: {name: gaussian-mle}\nmethod: {name: cd}\n")
    (tmp / "bad.yaml").write_text("train: {steps: [\n")
    (tmp / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (tmp / "list.yaml").write_text("- 1\n- 2\n")
    empty_dir = tmp / "empty-run"
    empty_dir.mkdir(exist_ok=True)
    t = ["train", str(config), "--out", str(tmp / "t-new"), "--no-progress"]
    s, r = ["sample", "double-well", "--out", str(tmp / "s")], ["sample", str(run_dir)]
    cases: list[tuple[list[str], str]] = [
        (["logz", "double-well", "--method", "is", "--samples", "100000000000000"], "error"),
        (["logz", "double-well", "--method", "ais", "--samples", str(10**12)], "error"),
        (["logz", "double-well", "--method", "quadrature", "--samples", str(10**12)], "error"),
        (["logz", "double-well", "--method", "bogus"], "error"),
        (["logz", "no-such-target"], "error"),
        (["logz", "double-well", "--seed", str(2**64)], "error"),
        (["logz", "gaussian-50", "--method", "quadrature"], "error"),
        (["logz", "gaussian-50", "--method", "is", "--samples", "3"], "warning"),
        ([*s, "--chains", str(10**10)], "error"),
        ([*s, "--steps", str(10**12), "--chains", "1000"], "error"),
        ([*s, "--rungs", str(10**9)], "error"),
        ([*s, "--rungs", "1"], "error"),
        ([*s, "--rungs", "3", "--beta-min", "2"], "error"),
        ([*s, "--beta-min", "0.1"], "error"),
        ([*s, "--base-scale", "2"], "error"),
        ([*s, "--seed", str(2**64)], "error"),
        ([*s, "--step-size", "1e300"], "error"),
        ([*s, "-n", "5"], "error"),
        ([*s, "--start", "noise"], "error"),
        (["sample", "double-well", "--out", str(f)], "error"),
        (["sample", "no-such-target"], "error"),
        (["sample", str(f)], "error"),
        (["sample", str(empty_dir)], "error"),
        (
            [
                "sample",
                "many-well-32",
                "--sampler",
                "hmc",
                "--step-size",
                "5",
                "--warmup",
                "0",
                "--steps",
                "20",
                "--chains",
                "8",
                "--out",
                str(tmp / "mw"),
            ],
            "warning",
        ),
        (
            [
                "sample",
                "funnel-10",
                "--sampler",
                "ula",
                "--step-size",
                "1",
                "--steps",
                "200",
                "--chains",
                "16",
                "--out",
                str(tmp / "fu"),
            ],
            "warning",
        ),
        ([*r, "--sampler", "hmc"], "error"),
        ([*r, "--rungs", "3"], "error"),
        ([*r, "--chains", "7"], "error"),
        ([*r, "--step-size", "0.1"], "error"),
        ([*r, "--warmup", "5"], "error"),
        ([*r, "--beta-min", "0.1"], "error"),
        ([*r, "-n", str(10**13)], "error"),
        ([*r, "--start", "bogus"], "error"),
        ([*r, "--out", str(f)], "error"),
        (["train"], "error"),
        (["train", str(config), "--resume", str(run_dir)], "error"),
        (["train", "--resume", str(run_dir), "--out", str(tmp / "x")], "error"),
        (["train", "--resume", str(tmp / "nowhere")], "error"),
        (["train", "--resume", str(empty_dir)], "error"),
        (["train", "--resume", str(run_dir), "--set", "method.dim=3"], "error"),
        (["train", str(config), "--out", str(run_dir)], "error"),
        (["train", str(config), "--out", str(f)], "error"),
        (["train", str(tmp / "missing.yaml")], "error"),
        (["train", str(tmp)], "error"),
        (["train", str(tmp / "dup.yaml")], "error"),
        (["train", str(tmp / "bad.yaml")], "error"),
        (["train", str(tmp / "latin1.yaml")], "error"),
        (["train", str(tmp / "list.yaml")], "error"),
        (
            [
                *t,
                "--set",
                "eval={name: toy-quality, target: rings}",
                "--set",
                "data={name: target, target: moons, n: 100}",
            ],
            "error",
        ),
        ([*t, "--set", "device=cuda"], "error"),
        ([*t, "--set", "train.monitor=[typo]"], "error"),
        ([*t, "--set", "train.max_abs.typo=1"], "error"),
        ([*t, "--set", "train.seed=abc"], "error"),
        ([*t, "--set", "train.batch_size=100000"], "error"),
    ]
    for name in (
        "dir.npy",
        "obj.npy",
        "str.npy",
        "bool.npy",
        "scalar.npy",
        "junk.safetensors",
        "junk.npy",
        "a-file.txt",
    ):
        cases.append(([*t, "--set", f"data.path={tmp / name}"], "error"))
    return cases


def section_invocations(tmp: Path) -> dict[str, Any]:
    config = write_config(tmp / "exp.yaml", write_data(tmp / "data.safetensors"), 10, checkpoint_every=5)
    run_dir = tmp / "run"
    assert main(["train", str(config), "--out", str(run_dir), "--no-progress"]) == 0
    groups = {
        "generated_cli": generated_cli_cases(tmp, config, run_dir),
        "generated_config": generated_config_cases(tmp, config),
        "handwritten": handwritten_cases(tmp, config, run_dir),
    }
    results, failures, examples = {}, [], []
    for group, cases in groups.items():
        counts: Counter[str] = Counter()
        for argv, expect in cases:
            shutil.rmtree(tmp / "t-new", ignore_errors=True)
            r = run_cli(argv)
            ok = r["outcome"] == ("one_line_error" if expect == "error" else "warned")
            counts[r["outcome"]] += 1
            counts["as_expected"] += ok
            if len(examples) < 400 and (len(examples) % 1 == 0):
                examples.append(
                    f"{' '.join(argv[:1] + argv[-2:])} -> {r['stderr'].splitlines()[-1][:160] if r['stderr'] else ''}"
                )
            if not ok:
                failures.append({"group": group, "expected": expect, **r})
        results[group] = {"cases": len(cases), **counts}
    total = sum(len(c) for c in groups.values())
    return {"cases": total, "groups": results, "failures": failures, "examples": examples[::5]}


# ------------------------------------------------------------------------------------- corruptions
def _corruptions(path: Path) -> list[tuple[str, Callable[[Path], None]]]:
    def write(data: bytes) -> Callable[[Path], None]:
        return lambda p: p.write_bytes(data)

    def flip(p: Path) -> None:
        b = bytearray(p.read_bytes())
        if b:
            b[len(b) // 2] ^= 0x5A
        p.write_bytes(bytes(b))

    out = [
        ("delete", lambda p: p.unlink()),
        ("empty", write(b"")),
        ("truncate_half", lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])),
        ("flip_byte", flip),
        ("append_garbage", lambda p: p.write_bytes(p.read_bytes() + b"\x00garbage\xff")),
        ("random_bytes", lambda p: p.write_bytes(os.urandom(max(64, p.stat().st_size)))),
    ]
    if path.name == "trainer.json":
        for key, edit in (("step", lambda m: m.update(step=m["step"] - 1)),
                          ("position", lambda m: m["data"].update(position=m["data"]["position"] + 1)),
                          ("lr", lambda m: m["optimizers"]["model"]["param_groups"][0].update(lr=1.0)),
                          ("drop_files", lambda m: m.update(files={})),
                          ("format_version_1", lambda m: m.update(format_version=1))):  # fmt: skip

            def edit_json(p: Path, edit: Callable[[dict[str, Any]], None] = edit) -> None:
                meta = json.loads(p.read_text())
                edit(meta)
                p.write_text(json.dumps(meta, indent=1))

            out.append((f"json_edit_{key}", edit_json))
    if path.name == "config.yaml":
        out.append(("yaml_edit_seed", lambda p: p.write_text(p.read_text().replace("seed: 0", "seed: 7"))))
        out.append(("yaml_plant_import", lambda p: p.write_text(p.read_text().replace("gaussian-mle", "'os:system'"))))
    if path.name == "latest":
        out.append(("point_to_missing", write(b"step_9999999\n")))
        out.append(("point_to_older", write(b"step_0000010\n")))
    return out


def section_corruptions(tmp: Path) -> dict[str, Any]:
    data = write_data(tmp / "data.safetensors")
    config = write_config(tmp / "c.yaml", data, 20, checkpoint_every=10, keep_checkpoints=3)
    pristine, reference = tmp / "pristine", tmp / "reference"
    assert main(["train", str(config), "--out", str(pristine), "--no-progress"]) == 0
    assert main(["train", str(config), "--out", str(reference), "--no-progress", "--set", "train.steps=30"]) == 0
    ref, ref_records = final_state(reference), _records(reference)
    targets = [p for p in sorted(pristine.rglob("*")) if p.is_file()]
    counts: Counter[str] = Counter()
    failures, cases, table = [], 0, []
    for target in targets:
        rel = target.relative_to(pristine)
        for kind, damage in _corruptions(target):
            cases += 1
            run = tmp / "case"
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(pristine, run)
            damage(run / rel)
            r = run_cli(["train", "--resume", str(run), "--set", "train.steps=30", "--no-progress"])
            if r["outcome"] == "one_line_error":
                named = rel.name in r["stderr"] or "config.yaml" in r["stderr"] or "checkpoint" in r["stderr"]
                outcome = "clear_error" if named else "unclear_error"
            elif r["outcome"] in ("silent_success", "warned"):
                try:
                    outcome = "exact_recovery" if same_state(final_state(run), ref) else "silent_non_exact"
                    counts["metrics_log_identical"] += outcome == "exact_recovery" and _records(run) == ref_records
                except (OSError, ValueError, KeyError):
                    outcome = "silent_non_exact"
            else:
                outcome = r["outcome"]
            counts[outcome] += 1
            table.append(f"{rel} {kind}: {outcome}" + (f" — {r['stderr'][:150]}" if outcome == "clear_error" else ""))
            if outcome not in ("clear_error", "exact_recovery"):
                failures.append({"file": str(rel), "corruption": kind, "outcome": outcome, "stderr": r["stderr"]})
    return {"cases": cases, "files": len(targets), **counts, "failures": failures, "table": table}


# ------------------------------------------------------------------------------------------- kills
def section_kills(tmp: Path, runs: int, kills_per_run: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    data = write_data(tmp / "data.safetensors", n=500)
    steps = 100
    config = write_config(tmp / "k.yaml", data, steps, checkpoint_every=1, keep_checkpoints=2)
    reference = tmp / "k-reference"
    assert main(["train", str(config), "--out", str(reference), "--no-progress"]) == 0
    ref = final_state(reference)
    ref_records = _records(reference)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "ebmlab", "train"]
    kills, mid_write, exact, results = 0, 0, 0, []
    for i in range(runs):
        run = tmp / f"k-{i}"
        points = []
        for k in range(kills_per_run):
            args = [str(config), "--out", str(run)] if k == 0 else ["--resume", str(run)]
            proc = subprocess.Popen([*cmd, *args, "--no-progress"], env=env, cwd=tmp,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            latest = run / "checkpoints" / "latest"
            start_step = _latest_step(latest)
            deadline = time.monotonic() + 300
            while proc.poll() is None and _latest_step(latest) <= start_step and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 2.0))
            if proc.poll() is not None:
                points.append({"kill": k, "finished_before_kill": True})
                break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            leftovers = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".tmp-")]
            mid_write += bool(leftovers)
            points.append({"kill": k, "at_step": _latest_step(latest), "during_checkpoint_write": bool(leftovers)})
        done = subprocess.run([*cmd, "--resume", str(run), "--no-progress"], env=env, cwd=tmp,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        ok = done.returncode == 0 and same_state(final_state(run), ref) and _records(run) == ref_records
        exact += ok
        results.append({"run": i, "kills": points, "bit_exact": ok, "stderr": done.stderr.strip()[-300:]})
    return {"runs": runs, "kills": kills, "kills_during_checkpoint_write": mid_write, "bit_exact_runs": exact,
            "concurrent_writer": _concurrent_writer(tmp, config, env, cmd), "details": results}  # fmt: skip


def _concurrent_writer(tmp: Path, config: Path, env: dict[str, str], cmd: list[str]) -> dict[str, Any]:
    """Two writers on one run directory: the second is refused with the first's pid; the first completes."""
    run = tmp / "k-two-writers"
    long = [str(config), "--out", str(run), "--no-progress", "--set", "train.steps=1000000"]  # outlives the second
    first = subprocess.Popen(
        [*cmd, *long], env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while _latest_step(run / "checkpoints" / "latest") < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run([*cmd, "--resume", str(run), "--no-progress"], env=env, cwd=tmp,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    still_running = first.poll() is None
    first.kill()
    first.communicate(timeout=600)
    refused = second.returncode == 2 and f"pid {first.pid}" in second.stderr and second.stderr.count("\n") == 1
    return {"second_refused_naming_pid": refused, "first_still_running_then": still_running,
            "second_stderr": second.stderr.strip()[-300:]}  # fmt: skip


def _latest_step(latest: Path) -> int:
    try:
        return int(latest.read_text().strip()[5:])
    except (OSError, ValueError):
        return -1


def _records(run: Path) -> list[dict[str, Any]]:
    from ebmlab.training import read_metrics

    return [{k: v for k, v in r.items() if k != "time"} for r in read_metrics(run / "metrics.jsonl")]


# -------------------------------------------------------------------------------------------- data
def section_data(tmp: Path) -> dict[str, Any]:
    config = write_config(tmp / "d.yaml", write_data(tmp / "ok.safetensors"), 5)
    caught, cases, failures = 0, 0, []
    for dtype in (np.float32, np.float64):
        for fmt in (".npy", ".safetensors"):
            for row in (0, 57, 99):
                for value in (np.nan, np.inf, -np.inf):
                    cases += 1
                    x = np.ones((100, 3), dtype=dtype)
                    x[row, 2] = value
                    path = tmp / f"bad-{np.dtype(dtype).name}-{row}-{value}{fmt}"
                    if fmt == ".npy":
                        np.save(path, x)
                    else:
                        save_file({"data": torch.from_numpy(x)}, str(path))
                    out = tmp / "d-run"
                    shutil.rmtree(out, ignore_errors=True)
                    r = run_cli(["train", str(config), "--set", f"data.path={path}", "--out", str(out)])
                    ok = r["outcome"] == "one_line_error" and str(path) in r["stderr"] and f"row {row}," in r["stderr"]
                    caught += ok
                    if not ok:
                        failures.append(r)
    loader_ok = 0
    for bad_batch in (0, 3):
        cases += 1
        batches = [torch.ones(10, 2) for _ in range(5)]
        batches[bad_batch][4, 1] = float("nan")
        try:
            fit(GaussianMLE(2), batches, TrainConfig(steps=8, progress=False))
        except EbmlabError as exc:
            ok = f"batch {bad_batch} of epoch 0" in str(exc) and "row 4" in str(exc)
            loader_ok += ok
            caught += ok
    return {"cases": cases, "caught_and_named": caught, "loader_cases_named": loader_ok, "failures": failures}


# -------------------------------------------------------------------------------------------- main
def main_suite(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ebmlab fault suite (issue 11)")
    parser.add_argument("--json", default=None, help="write the summary JSON here")
    parser.add_argument("--runs", type=int, default=8, help="runs killed with kill -9 (default 8)")
    parser.add_argument("--kills-per-run", type=int, default=3, help="kills per run (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sections", default="invocations,corruptions,kills,data")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    summary: dict[str, Any] = {
        "command": "OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/fault_suite.py " + " ".join(argv or sys.argv[1:])
    }
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ebmlab-faults-") as tmp_name:
        tmp = Path(tmp_name)
        cwd = os.getcwd()
        os.chdir(tmp)  # default output directories (runs/...) land in the temporary directory
        try:
            for section in args.sections.split(","):
                start = time.perf_counter()
                (tmp / section).mkdir()
                if section == "invocations":
                    summary[section] = section_invocations(tmp / section)
                elif section == "corruptions":
                    summary[section] = section_corruptions(tmp / section)
                elif section == "kills":
                    summary[section] = section_kills(tmp / section, args.runs, args.kills_per_run, args.seed)
                elif section == "data":
                    summary[section] = section_data(tmp / section)
                summary[section]["seconds"] = round(time.perf_counter() - start, 1)
                print(
                    f"{section}: {json.dumps({k: v for k, v in summary[section].items() if k not in ('failures', 'details')})}",
                    flush=True,
                )
        finally:
            os.chdir(cwd)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_suite())
