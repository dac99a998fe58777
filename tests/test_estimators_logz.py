"""log Z by quadrature and importance sampling; weight statistics; the `ebmlab logz` CLI and method registry."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ebmlab.cli import main
from ebmlab.errors import ConfigError, NonFiniteError
from ebmlab.estimators import (
    Estimate,
    GaussianProposal,
    kish_ess,
    log_mean_exp,
    log_z_importance,
    log_z_quadrature,
)
from ebmlab.experiments.logz_methods import LOGZ_METHODS, LogZMethod, estimate_log_z, register_logz_method
from ebmlab.targets import get_target

DOUBLE_WELL_LOG_Z = 5.032284  # seed 004's U = x⁴ − 4x² + x (6 decimals)


def test_double_well_quadrature() -> None:
    target = get_target("double-well")
    est = log_z_quadrature(target, target.bounds, dtype=torch.float64)
    assert abs(est.value - DOUBLE_WELL_LOG_Z) < 5e-7
    assert abs(est.value - target.log_z()) <= est.stderr + 1e-12
    assert est.stderr < 1e-6


def test_double_well_importance_sampling_agrees_with_quadrature() -> None:
    target = get_target("double-well")
    quad = log_z_quadrature(target, target.bounds, dtype=torch.float64)
    proposal = GaussianProposal(torch.tensor([-1.0]), std=1.5, dtype=torch.float64)
    est = log_z_importance(target, proposal, 50_000, seed=0)
    assert 0 < est.stderr < 0.02 and 1000 < est.ess <= 50_000
    assert abs(est.value - quad.value) < 3 * est.stderr
    assert est.details["pareto_k"] < 0.5
    again = log_z_importance(target, proposal, 50_000, seed=0)
    assert again.value == est.value  # same seed, same result


def test_importance_sampling_se_is_calibrated_on_a_gaussian() -> None:
    """E = x²/2 in 3-D (log Z = 1.5 log 2π), proposal N(0, 1.3² I): z-scores over 20 seeds have E[z²] ≈ 1."""
    energy = lambda x: 0.5 * (x**2).sum(1)  # noqa: E731
    truth = 1.5 * math.log(2 * math.pi)
    prop = GaussianProposal(torch.zeros(3), std=1.3, dtype=torch.float64)
    zs = [log_z_importance(energy, prop, 2000, seed=s).z_score(truth) for s in range(20)]
    mean_z2 = sum(z * z for z in zs) / len(zs)
    assert 0.3 < mean_z2 < 2.5  # E[z²] = 1; the 99% range of a χ²₂₀/20 is about (0.37, 1.9)
    assert 3 <= sum(z > 0 for z in zs) <= 17


def test_log_mean_exp_and_kish_ess() -> None:
    log_w = torch.log(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)) + 800.0  # would overflow exp
    value, se, ess = log_mean_exp(log_w)
    assert abs(value - (800 + math.log(2.5))) < 1e-12
    w = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    assert abs(se - float(w.std() / (w.mean() * 2))) < 1e-12
    assert abs(ess - 100 / 30) < 1e-12
    assert abs(kish_ess(torch.zeros(10)) - 10) < 1e-9
    with pytest.raises(NonFiniteError):
        log_mean_exp(torch.tensor([0.0, float("nan")]))
    with pytest.raises(NonFiniteError, match="all"):
        log_mean_exp(torch.full((3,), -float("inf")))


def test_estimate_helpers() -> None:
    est = Estimate(1.0, 0.5, ess=10.0)
    assert est.z_score(0.0) == 2.0 and est.interval(2.0) == (0.0, 2.0)
    assert Estimate(1.0, 0.0).z_score(1.0) == 0.0
    assert json.dumps(est.to_dict())


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "logz", "double-well", "--method", "quadrature", "--json")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert set(rec) == {"target", "method", "log_z", "stderr", "exact", "ess", "seconds"}
    assert abs(rec["log_z"] - DOUBLE_WELL_LOG_Z) < 1e-6 and rec["ess"] is None
    code, out, _ = _cli(capsys, "logz", "mog8", "--method", "is", "--samples", "20000", "--seed", "1", "--json")
    rec = json.loads(out)  # the default on a built-in target is the user path: only the energy, and a verdict
    assert code == 0 and rec["ess"] > 100 and abs(rec["log_z"] - rec["exact"]) < 4 * rec["stderr"]
    assert "Student-t" in rec["proposal"] and rec["verdict"] == "trustworthy" and "pareto_k" in rec["diagnostics"]
    argv = ("logz", "mog8", "--method", "is", "--proposal", "exact-samples", "--samples", "20000", "--json")
    code, out, _ = _cli(capsys, *argv)
    rec = json.loads(out)
    assert code == 0 and rec["method"] == "is-oracle" and "exact samples" in rec["proposal"]  # oracle: labelled
    assert abs(rec["log_z"] - rec["exact"]) < 4 * rec["stderr"]


def test_cli_table_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "logz", "double-well", "--method", "is", "--samples", "5000")
    assert code == 0 and "log Z" in out and "exact" in out and "ESS" in out
    code, out, err = _cli(capsys, "logz", "many-well-32", "--method", "quadrature")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "methods that apply: is, ais" in err
    code, _, err = _cli(capsys, "logz", "no-such-target", "--method", "is")
    assert code == 2 and "no-such-target" in err
    code, _, err = _cli(capsys, "logz", "double-well", "--method", "magic")
    assert code == 2 and "quadrature" in err
    code, _, err = _cli(capsys, "logz", "double-well", "--method", "enumerate")
    assert code == 2 and "methods that apply" in err


def test_a_new_method_is_one_registry_entry(capsys: pytest.CaptureFixture[str]) -> None:
    def run(target, samples, seed):  # type: ignore[no-untyped-def]
        return Estimate(float(target.log_z()), 0.0, ess=float(samples), method="oracle")

    register_logz_method(LogZMethod("oracle", run, lambda t: True, "nothing", 7, "anything"))
    try:
        est = estimate_log_z(get_target("funnel-10"), "oracle")
        assert est.value == 0.0 and est.ess == 7
        code, out, _ = _cli(capsys, "logz", "funnel-10", "--method", "oracle", "--json")
        assert code == 0 and json.loads(out)["log_z"] == 0.0
    finally:
        del LOGZ_METHODS["oracle"]
    with pytest.raises(ConfigError, match="unknown log Z method"):
        estimate_log_z(get_target("funnel-10"), "oracle")
