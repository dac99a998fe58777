"""benchmarks/logz_calibration.py's merge (a re-run replaces the old run of the same energy, method and seed) and
the IS tail check on the tail-validation energies of benchmarks/heldout_energies.py, which it was not designed on."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from ebmlab.estimators.user import log_z

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("logz_calibration")


def _run(energy: str, method: str, seed: int, log_z: float) -> dict:
    return {"energy": energy, "method": method, "seed": seed, "log_z": log_z, "stderr": 0.1, "exact": 0.0,
            "verdict": "trustworthy", "seconds": 1.0, "energy_evaluations": 10, "width": None}  # fmt: skip


def test_merge_replaces_runs_of_the_same_key_and_keeps_the_rest(bench, tmp_path: Path, monkeypatch, capsys) -> None:
    old = [
        _run("e", "bracket", 0, 0.5),
        _run("e", "bracket", 1, 0.5),
        _run("e", "is", 0, 0.5),
        _run("f", "bracket", 0, 0.5),
    ]
    new = [_run("e", "bracket", 0, 0.1), _run("e", "bracket", 2, 0.1)]
    main, extra = tmp_path / "main.json", tmp_path / "new.json"
    main.write_text(json.dumps({"note": "kept", "rows": [], "runs": old}))
    extra.write_text(json.dumps({"runs": new}))
    monkeypatch.setattr(sys, "argv", ["logz_calibration.py", "--table", "--json", str(main), "--merge", str(extra)])
    bench.main()
    out = json.loads(main.read_text())
    got = {(r["energy"], r["method"], r["seed"]): r["log_z"] for r in out["runs"]}
    assert got == {("e", "bracket", 0): 0.1, ("e", "bracket", 1): 0.5, ("e", "bracket", 2): 0.1,
                   ("e", "is", 0): 0.5, ("f", "bracket", 0): 0.5}  # fmt: skip
    row = next(r for r in out["rows"] if (r["energy"], r["method"]) == ("e", "bracket"))
    assert row["seeds"] == [0, 1, 2] and row["mean_z2"] == pytest.approx((1 + 25 + 1) / 3)
    assert out["note"] == "kept" and "| e | bracket | 3 |" in capsys.readouterr().out


def test_is_tail_check_fires_on_a_heavy_product_and_not_on_a_light_one(bench) -> None:
    """student2.5-6 (six ν = 2.5 Student-t factors) under the default ν = 5 t proposal: along an axis
    w ∝ r^((5+6) − 3.5) = r^7.5, unbounded; sech-8 (exponential tails): ℓ falls without bound along every ray."""
    from heldout_energies import by_name

    heavy, light = by_name("student2.5-6"), by_name("sech-8")
    est = log_z(heavy.energy, (heavy.dim,), "is", n=2000, seed=0)
    assert est.details["checks"]["tail_growth"] == pytest.approx(7.5, abs=0.05)
    assert any("grow as r^7.5" in r for r in est.details["reasons"]), est.details["reasons"]
    est = log_z(light.energy, (light.dim,), "is", n=2000, seed=0)
    assert est.details["checks"]["tail_growth"] < -100, est.details["checks"]
    assert est.details["verdict"] == "trustworthy", est.details["reasons"]


def test_tail_validation_energies_have_the_stated_log_z(bench) -> None:
    """The closed forms against quadrature of the 1-D and 2-D versions: the trapezoidal rule in u on x = sinh(u),
    |u| ≤ 9 (|x| ≤ 4051, where the heaviest tail, ν = 2.5, leaves ≈ 10⁻⁹ of the mass)."""
    from heldout_energies import multi_t, quartic, rotated_student, sech, student

    u = torch.linspace(-9, 9, 1801, dtype=torch.float64)
    x, jac = torch.sinh(u), torch.cosh(u)
    for h in (student(1, 2.5), sech(1), quartic(1)):
        val = torch.trapezoid(torch.exp(-h.energy(x[:, None])) * jac, u)
        assert math.log(float(val)) == pytest.approx(h.log_z, abs=1e-7), h.name
    gx, gy = torch.meshgrid(x, x, indexing="ij")
    for h in (rotated_student(2), multi_t(2)):
        dens = torch.exp(-h.energy(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1))).reshape(gx.shape)
        val = torch.trapezoid(torch.trapezoid(dens * jac[:, None] * jac[None, :], u, dim=1), u)
        assert math.log(float(val)) == pytest.approx(h.log_z, abs=1e-6), h.name
