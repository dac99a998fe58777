"""EBA runs against closed forms (short, seeded), the ``ebmlab rd`` command and its one-line errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ebmlab.cli import main
from ebmlab.methods.eba import EBA
from ebmlab.ratedistortion import BernoulliSource, GaussianSource, binary_entropy, gaussian_rd
from ebmlab.ratedistortion.run import closed_form_rate, evaluate_eba, train_eba
from ebmlab.samplers.langevin import MALA

FIELDS = {"beta", "distortion", "rate", "rate_upper", "rate_lower", "rate_critic", "rate_closed_form", "seconds"}


def _scalar_eba(steps: int, variant: str = "eba"):
    torch.manual_seed(0)
    m = EBA(GaussianSource([1.0]), "squared", 1.0, variant=variant, sampler=MALA(0.2), n_chains=256, n_steps=5)
    if steps:
        train_eba(m, steps, seed=0, lr=0.03)
    return m, evaluate_eba(m, seed=1, n_y=50_000)


def test_short_eba_run_on_a_scalar_gaussian() -> None:
    # β = 1: D* = θ = 0.5, R* = ½ ln 2. The rate at the achieved distortion is checked to 3 Monte Carlo SEs;
    # D to 4 % (the spread of D over seeds at this budget is ~1 %; see docs/rate_distortion.md).
    m, b = _scalar_eba(150)
    truth = closed_form_rate(m.source, "squared", b.distortion)
    assert abs(b.rate_upper - truth) <= 3 * b.rate_upper_se + 2 * b.distortion_se
    assert b.rate_lower - 3 * b.rate_lower_se <= truth <= b.rate_upper + 3 * b.rate_upper_se
    assert abs(b.distortion / gaussian_rd([1.0], 1.0).distortion - 1) < 0.04
    # negative control: the untrained EBM (r = N(0, 1)) misses D* by ~11 %, and its band excludes R(β) at D*
    _, b0 = _scalar_eba(0)
    assert abs(b0.distortion / 0.5 - 1) > 0.08
    assert b0.rate_upper - b0.rate_lower > 10 * b0.rate_lower_se


@pytest.mark.parametrize("variant", ["eba", "ba"])
def test_bernoulli_hamming_by_enumeration(variant: str) -> None:
    src, beta = BernoulliSource(0.3), 2.0
    torch.manual_seed(0)
    m = EBA(src, "hamming", beta, variant=variant, n_chains=512)
    train_eba(m, 150, seed=0, lr=0.05)
    b = evaluate_eba(m, seed=1, n_y=50_000)
    truth = binary_entropy(0.3) - binary_entropy(b.distortion)
    assert abs(b.rate_upper - truth) / math.log(2) <= 0.005 + 3 * b.rate_upper_se / math.log(2)
    assert b.search.startswith("enumeration")


def _rd(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["rd", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json_fields(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _rd(
        [
            "--source",
            "gaussian",
            "--variances",
            "1,0.5",
            "--distortion",
            "squared",
            "--beta",
            "1,4",
            "--method",
            "closed-form",
            "--json",
        ],
        capsys,
    )
    pts = json.loads(out)
    assert code == 0 and len(pts) == 2 and all(set(p) == FIELDS for p in pts)
    assert pts[0]["rate"] == pytest.approx(0.5 * math.log(2)) and pts[0]["rate_upper"] is None
    code, out, _ = _rd(
        ["--source", "bernoulli", "--p", "0.3", "--distortion", "hamming", "--beta", "2", "--method", "ba", "--json"],
        capsys,
    )
    (p,) = json.loads(out)
    assert p["rate"] == pytest.approx(p["rate_closed_form"], abs=1e-6) and p["rate_lower"] <= p["rate"]
    np.save(tmp_path / "y.npy", np.random.default_rng(0).normal(size=(500, 1)))
    code, out, _ = _rd(
        [
            "--source",
            str(tmp_path / "y.npy"),
            "--distortion",
            "squared",
            "--beta",
            "2",
            "--method",
            "eba",
            "--steps",
            "5",
            "--chains",
            "32",
            "--json",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    (p,) = json.loads(out)
    assert code == 0 and set(p) == FIELDS and p["rate_closed_form"] is None and p["rate_critic"] is not None
    assert (tmp_path / "o" / "rd.png").is_file() and "extra" in json.loads((tmp_path / "o" / "rd.json").read_text())[
        "points"
    ][0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--source", "gaussian", "--variances", "1,-1", "--distortion", "squared", "--beta", "1"], "positive finite"),
        (["--source", "bernoulli", "--p", "1.2", "--distortion", "hamming", "--beta", "1"], "must lie in (0, 1)"),
        (["--source", "gaussian", "--distortion", "squared", "--beta", "0"], "beta must be positive"),
        (["--source", "gaussian", "--p", "0.3", "--distortion", "squared", "--beta", "1"], "does not apply"),
        (["--source", "laplace", "--distortion", "squared", "--beta", "1"], "pairs with distortion abs"),
        (["--source", "gaussian", "--distortion", "l7", "--beta", "1"], "unknown distortion"),
        (["--source", "gaussian", "--distortion", "squared", "--beta", "1", "--method", "x"], "unknown method"),
        (["--source", "nope.npy", "--distortion", "squared", "--beta", "1"], "not found"),
    ],
)
def test_cli_errors_are_one_line(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _rd(argv, capsys)
    assert code == 2 and expected in err and err.count("\n") == 1
