"""benchmarks/gpu_smoke.py — does everything run on one device — on the CPU with the GPU path's deferred checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ebmlab.samplers import finite_watch

ROOT = Path(__file__).resolve().parents[1]


def test_every_config_sampler_and_estimator_runs_on_the_gpu_path(load_benchmark, monkeypatch, tmp_path) -> None:
    """Every shipped config, kernel, estimator, user log-Z method and `ebmlab rd` method runs with finite_watch.DEFER_ON_CPU, and no
    ebmlab line they run makes a tensor without ``device=`` (``--audit``); the estimates of log Z agree with the exact
    value within 4 SE."""
    smoke = load_benchmark("gpu_smoke")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", False)  # main sets it; monkeypatch puts it back
    out = tmp_path / "smoke.jsonl"
    assert smoke.main(["--device", "cpu", "--defer", "--audit", "--json", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["ok"] for r in rows), [r for r in rows if not r["ok"]]
    fits = [r for r in rows if r["case"].startswith("fit ")]
    assert len(fits) == len(list((ROOT / "configs").glob("*.yaml")))
    assert {r["sampled_on"] for r in fits} == {"cpu", None}  # None: the completion method has no sample()
    estimators = {"log_z ais", "log_z is", "replica exchange", "log_z stepping stone", "log_z seed only, module energy"}
    estimators |= {"log_z rbm ais joint", "log_z rbm ais marginal", "sample gibbs fvbm", "bg recover_potential"}
    estimators |= {f"ebmlab rd {m} {s}" for m in ("eba", "eba-ba") for s in ("gaussian", "bernoulli")}
    assert {r["case"] for r in rows} >= estimators
    assert {f"user log_z {m}" for m in smoke.USER_LOGZ} | {"ebmlab logz --device"} <= {r["case"] for r in rows}
    zs = [v for r in rows for k, v in r.items() if k == "z" or k.startswith("z_")]
    assert len(zs) >= 15 and all(abs(z) < 4 for z in zs), rows


def test_a_failing_case_is_reported_with_its_error_and_fails_the_run(load_benchmark, monkeypatch, capsys) -> None:
    smoke = load_benchmark("gpu_smoke")

    def broken() -> dict:
        raise RuntimeError("parameters on ['cpu'], not on cuda\nmore")

    monkeypatch.setattr(smoke, "sampler_cases", lambda device: {"sample broken": broken})
    assert smoke.main(["--device", "cpu", "--only", "samplers"]) == 1
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["ok"] is False and row["error"] == "RuntimeError: parameters on ['cpu'], not on cuda"
    with pytest.raises(SystemExit):
        smoke.main(["--only", "nothing"])
