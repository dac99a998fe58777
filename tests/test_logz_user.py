"""log Z of a user's own energy: proposals from mode search + Laplace, brackets, verdicts, stuck chains."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.diagnostics import chain_health
from ebmlab.estimators.bracket import bidirectional_log_z
from ebmlab.estimators.laplace import find_modes, laplace_proposal
from ebmlab.estimators.user import log_z, wide_base
from ebmlab.estimators.verdict import chao1, judge
from ebmlab.samplers import MALA, sample
from ebmlab.targets import get_target


def asym_well(x: torch.Tensor) -> torch.Tensor:  # not a built-in target; log Z by quadrature below
    return (0.5 * x**4 - 3 * x**2 + 1.2 * x).sum(1)


def _quad_log_z() -> float:
    v = torch.linspace(-8, 8, 400_001, dtype=torch.float64)
    return math.log(float(torch.trapezoid(torch.exp(-asym_well(v[:, None])), v)))


def test_mode_search_finds_both_wells_with_their_counts() -> None:
    modes = find_modes(asym_well, (1,), torch.Generator().manual_seed(0))
    assert modes.x.shape[0] == 2 and sum(modes.counts) == modes.n_starts
    roots = sorted(float(r) for r in modes.x.flatten())
    # minima of 0.5x⁴ − 3x² + 1.2x: 2x³ − 6x + 1.2 = 0
    for r in roots:
        assert abs(2 * r**3 - 6 * r + 1.2) < 1e-5


def test_user_energy_is_and_bracket_within_their_errors() -> None:
    truth = _quad_log_z()
    est = log_z(asym_well, (1,), "is", n=20_000, seed=1)
    assert abs(est.z_score(truth)) < 4 and est.details["verdict"] == "trustworthy"
    assert "mixture of 2 Student-t" in est.details["proposal"]
    g = torch.Generator().manual_seed(2)
    q = laplace_proposal(asym_well, (1,), g)
    br = bidirectional_log_z(asym_well, wide_base(q), g, n_chains=128, n_temperatures=100, tempering={"n_rounds": 400})
    assert br.reverse_samples == "tempered MCMC" and br.validated and br.contains(truth, z=4.0)


def test_heavy_tails_are_flagged_when_the_proposal_is_too_light() -> None:
    """A Gaussian (df=None) proposal on a bivariate Student-t (ν = 3, tails |x|⁻⁵) has infinite-variance weights:
    k̂ > 0.5. Negative control: Student-t components with ν = 1 (tails |x|⁻³) give bounded weights."""

    def cauchy(x: torch.Tensor) -> torch.Tensor:  # Z = Γ(3/2)·3π/Γ(5/2) = 2π
        return 2.5 * torch.log1p(x.square().sum(1) / 3)

    q = laplace_proposal(cauchy, (2,), torch.Generator().manual_seed(0), df=None)
    est = log_z(cauchy, (2,), "is", n=20_000, seed=0, proposal=q)
    assert est.details["verdict"].startswith("not trustworthy") and "Pareto" in est.details["verdict"]
    # negative control: Student-t (ν = 1) components make the same run trustworthy
    ok = log_z(
        cauchy,
        (2,),
        "is",
        n=20_000,
        seed=0,
        proposal=laplace_proposal(cauchy, (2,), torch.Generator().manual_seed(0), df=1),
    )
    assert ok.details["verdict"] == "trustworthy" and abs(ok.z_score(math.log(2 * math.pi))) < 4


def test_verdict_rules_each_fire_and_chao1() -> None:
    assert judge({"ess": 10}).reasons and not judge({"ess": 100}).reasons
    assert judge({"pareto_k": 0.9}).reasons and not judge({"pareto_k": 0.3}).reasons
    scattered = ([0.0, 1.0, -1.0, 2.0], [0.01] * 4)
    assert "scatter" in judge({"groups": scattered}).summary()
    assert judge({"groups": ([0.0, 0.01, -0.01, 0.005], [0.01] * 4)}).trustworthy
    assert "reverse AIS" in judge({"bracket": (1.0, 0.01, 1.5, 0.01)}).summary()
    assert judge({"bracket": (1.0, 0.01, 1.01, 0.01)}).trustworthy
    assert chao1([5, 3, 1, 1, 2]) == pytest.approx(5 + 4 / 2)
    assert "misses mass" in judge({"mode_counts": [1] * 10}).summary()
    assert judge({"mode_counts": [30, 20, 2]}).trustworthy


def test_a_stuck_chain_is_flagged_while_mean_acceptance_looks_healthy() -> None:
    t = get_target("double-well")
    g = torch.Generator().manual_seed(0)
    x0 = 3 * torch.rand(64, 1, generator=g) - 1.5
    x0[5], x0[17] = 3.5, -3.4  # far in the tails: MALA with λ = 0.1 rejects every proposal there
    res = sample(t, MALA(0.1), x0, 600, warmup=0, generator=g)
    health = chain_health(res.samples, grads_per_draw=1)
    assert res.accept_rate > 0.5  # the mean hides it
    assert health["stuck_chains"] == [5, 17] and health["move_rate_min"] == 0.0
    assert 0 < health["ess_per_grad"] < 1
    # negative control: the same run without the far starts flags nothing
    fine = sample(t, MALA(0.1), 3 * torch.rand(64, 1, generator=g) - 1.5, 600, warmup=0, generator=g)
    assert chain_health(fine.samples)["n_stuck"] == 0


def test_cli_logz_of_a_users_file(tmp_path, capsys) -> None:
    import json

    from ebmlab.cli import main

    file = tmp_path / "my_energy.py"
    file.write_text("def energy(x):\n    return 0.5 * x[:, 0] ** 2 + 0.5 * (x[:, 1] - 0.5 * (x[:, 0] ** 2 - 1)) ** 2\n")
    assert main(["logz", f"{file}:energy", "--dim", "2", "--method", "is", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"log_z", "stderr", "bracket", "diagnostics", "verdict", "proposal", "exact"} <= set(out)
    assert abs(out["log_z"] - math.log(2 * math.pi)) < 4 * out["stderr"] and out["verdict"] == "trustworthy"
    assert main(["logz", f"{file}:energy", "--method", "is"]) == 2
    assert "pass --dim" in capsys.readouterr().err
    assert main(["logz", f"{file}:missing", "--dim", "2"]) == 2
    assert "has no 'missing'" in capsys.readouterr().err
    assert main(["logz", "double-well", "--dim", "2"]) == 2


def test_stepping_stone_on_the_user_path_reports_per_rung_checks() -> None:
    truth = _quad_log_z()
    opts = {"n_rounds": 200, "burn_in": 50, "adapt_rounds": 50, "n_rungs": 8}
    est = log_z(asym_well, (1,), "stepping-stone", n=64, seed=0, **opts)
    assert abs(est.z_score(truth)) < 4 and est.details["verdict"] == "trustworthy", est.details["reasons"]
    assert len(est.details["rung_drift_z"]) == 7 and len(est.details["rung_pareto_k"]) == 7
    assert "defensive base" in est.details["base"] and est.details["energy_evaluations"] > 64 * 8 * 300


def test_per_rung_rules_fire() -> None:
    assert "drifts" in judge({"rung_drift_z": [0.3, -6.0, 1.0]}).summary()
    assert judge({"rung_drift_z": [0.3, -1.5, 1.0]}).trustworthy
    assert "tails" in judge({"rung_pareto_k": [0.1, 0.9]}).summary()
    assert judge({"rung_pareto_k": [0.1, 0.4]}).trustworthy


def test_flow_on_the_user_path_is_within_its_error_on_a_curved_energy() -> None:
    def curved(x: torch.Tensor) -> torch.Tensor:  # x₂ − ½(x₁² − 1) ~ N(0, 1), x₁ ~ N(0, 1): log Z = log 2π
        return 0.5 * x[:, 0] ** 2 + 0.5 * (x[:, 1] - 0.5 * (x[:, 0] ** 2 - 1)) ** 2

    est = log_z(curved, (2,), "flow", n=4000, seed=0, steps=100)
    assert abs(est.z_score(math.log(2 * math.pi))) < 4 and "RealNVP" in est.details["flow"]
    assert est.details["energy_evaluations"] >= 100 * 256 + 4000


def test_pareto_k_recovers_known_tail_shapes() -> None:
    """Generalised-Pareto draws x = (u^{−k} − 1)/k: k̂ tracks k, and a bounded tail gives k̂ < 0."""
    from ebmlab.estimators.base import pareto_k

    g = torch.Generator().manual_seed(0)
    got = {}
    for k in (-0.5, 0.0, 1.0):
        u = torch.rand(20_000, generator=g, dtype=torch.float64)
        w = -torch.log(u) if k == 0 else (u ** (-k) - 1) / k
        got[k] = pareto_k(w.log())
    # SE of k̂ ≈ (1 + k)/√M with M = 3√n = 424 tail weights: ≤ 0.1, so 3 SE = 0.3
    assert all(abs(got[k] - k) < 0.3 for k in got) and got[-0.5] < 0 < got[1.0] - 0.5, got


def test_an_option_for_another_method_is_a_one_line_error() -> None:
    from ebmlab.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown option"):
        log_z(asym_well, (1,), "ais", n=4, steps=3)


def _plateau_and_bump(n: int = 20_000, bump: int = 80) -> torch.Tensor:
    """Bounded weights with the shape of a 1-D defensive flow's on asym-well-1: a plateau w = 1.2(1 − V²) (the
    flow's mode, weights piled up at their maximum) and a small bounded bump w = 7.4(1 − 0.3V²) (the mode only
    the defensive component covers). The top 3√n draws are mostly plateau, so a one-threshold fit reads a heavy
    tail."""
    g = torch.Generator().manual_seed(3)
    v = torch.rand(n, generator=g, dtype=torch.float64)
    w = torch.cat([1.2 * (1 - v[bump:] ** 2), 7.4 * (1 - 0.3 * v[:bump] ** 2)])
    return w.log()


def test_pareto_k_raises_the_threshold_when_the_fit_says_k_above_1() -> None:
    """Importance weights have a finite mean, so k ≤ 1: a k̂ > 1 at the default tail is refitted further out.
    Negative control: without the refit (min_tail larger than the tail) the same bounded weights read k̂ > 1;
    a true heavy tail (k = 0.7) keeps k̂ > 0.5 with the refit."""
    from ebmlab.estimators.base import pareto_k, pareto_k_fit

    k, m = pareto_k_fit(_plateau_and_bump())
    assert k < 0.5 and m < 424, (k, m)
    assert pareto_k(_plateau_and_bump(), min_tail=10_000) > 1.0  # the single-threshold fit: a false alarm
    u = torch.rand(20_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert pareto_k(((u ** (-0.7) - 1) / 0.7).log()) > 0.5


def test_user_ais_runs_the_step_ladder_at_every_temperature(monkeypatch) -> None:
    """The user-path AIS default moves each temperature's chains at ε, 0.3ε and 0.1ε (``AIS_STEP_LADDER``; the
    calibration table's banana-10 row is why): it reaches ``ais`` and costs 3 HMC transitions per temperature."""
    import ebmlab.estimators.user as user

    seen = {}
    real_ais = user.ais

    def spy(*args, **kwargs):
        seen["ladder"] = kwargs.get("step_ladder")
        return real_ais(*args, **kwargs)

    monkeypatch.setattr(user, "ais", spy)
    est = log_z(asym_well, (1,), "ais", n=32, n_temperatures=10, seed=0)
    assert seen["ladder"] == (1.0, 0.3, 0.1)
    hmc = est.details["energy_evaluations"]
    monkeypatch.setattr(user, "AIS_STEP_LADDER", (1.0,))
    one = log_z(asym_well, (1,), "ais", n=32, n_temperatures=10, seed=0).details["energy_evaluations"]
    extra = hmc - one  # the same mode search and proposal: the difference is the two extra HMC rungs
    assert extra > 0 and extra % (2 * 32 * 10) == 0


def test_flow_training_stream_is_not_the_importance_draws_stream(monkeypatch) -> None:
    """The flow is trained on its own random stream: seeded with the run's seed, its training latents were the
    importance draws' latents a few batches on (the run's generator after the mode search), so the draws were not
    independent of the proposal. Red when the flow gets ``seed`` itself."""
    import ebmlab.estimators.user_runs as runs

    seen = {}
    real = runs.train_flow

    def spy(*args, **kwargs):
        seen["seed"] = kwargs["seed"]
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "train_flow", spy)
    log_z(asym_well, (1,), "flow", n=256, seed=3, steps=4)
    g = torch.Generator().manual_seed(seen["seed"])
    train = torch.randn(64, generator=g)
    again = torch.Generator().manual_seed(3)
    assert seen["seed"] != 3 and not torch.equal(train, torch.randn(64, generator=again))


def test_flow_verdict_probes_the_defensive_mixtures_tails() -> None:
    """A product of Student-t (ν = 3) factors under the flow's defensive mixture (its Laplace part is ν = 5): the
    weights grow along the axes (target r⁻⁴, proposal r⁻⁷ in 2-D: w ∝ r³), which the tail probe sees whatever k̂
    says. Red without the probe."""

    def t3(x: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.log1p(x.square() / 3).sum(1)

    est = log_z(t3, (2,), "flow", n=2000, seed=0, steps=10)
    assert est.details["checks"]["tail_growth"] > 2.0 and "tail" in est.details["verdict"], est.details["verdict"]
