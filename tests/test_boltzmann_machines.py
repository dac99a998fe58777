"""Boltzmann machines against exact enumeration: log Z, free energy, Gibbs invariance, CD/PCD, β from μ."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import pytest
import torch
from torch import Tensor

from ebmlab.data import load_bars_and_stripes, load_binary_digits
from ebmlab.data.binary import bars_and_stripes_patterns
from ebmlab.densities import Bernoulli
from ebmlab.energies.binary import RBM, FullyVisibleBM
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators import BinarySpace, BoltzmannDistribution, beta_for_mean_energy_from_samples
from ebmlab.estimators.rbm_ais import RBMGibbs, RBMPath, fvbm_ais, joint_path, rbm_ais
from ebmlab.experiments.registry import build
from ebmlab.methods.rbm import BoltzmannMachineCD
from ebmlab.training import TrainConfig, fit


def random_rbm(nv: int = 6, nh: int = 4, scale: float = 1.0, seed: int = 0) -> RBM:
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(nv, nh, weight_init=scale, generator=g).double()
    with torch.no_grad():
        rbm.v_bias.copy_(torch.randn(nv, generator=g, dtype=torch.float64))
        rbm.h_bias.copy_(torch.randn(nh, generator=g, dtype=torch.float64))
    return rbm


def random_fvbm(d: int = 7, seed: int = 0) -> FullyVisibleBM:
    g = torch.Generator().manual_seed(seed)
    m = FullyVisibleBM(d, weight_init=0.8, generator=g).double()
    with torch.no_grad():
        m.bias.copy_(0.5 * torch.randn(d, generator=g, dtype=torch.float64))
    return m


def exact_probs(log_unnorm: Tensor) -> Tensor:
    return torch.softmax(log_unnorm.double(), 0)


def histogram(x: Tensor, d: int) -> Tensor:
    idx = (x.long() * (2 ** torch.arange(d - 1, -1, -1))).sum(1)
    return torch.bincount(idx, minlength=2**d).double() / x.shape[0]


def assert_invariant(kernel, x0: Tensor, p: Tensor, d: int, expect: bool = True) -> None:
    """After one kernel step from exact draws of p, the histogram equals p within a 5σ multinomial band."""
    n = x0.shape[0]
    emp = histogram(kernel(x0), d)
    # chi-square statistic over the states; mean 2^d − 1, s.d. √(2(2^d − 1)) under the null
    chi2 = float(((emp - p).square() / p.clamp_min(1e-12)).sum() * n)
    dof = 2**d - 1
    ok = chi2 < dof + 5 * math.sqrt(2 * dof)
    assert ok == expect, f"chi2 {chi2:.1f} vs dof {dof}"


def draw(p: Tensor, states: Tensor, n: int, seed: int) -> Tensor:
    return states[torch.multinomial(p, n, replacement=True, generator=torch.Generator().manual_seed(seed))]


# -- exact quantities ------------------------------------------------------------------------------
def test_rbm_log_z_and_free_energy_match_joint_enumeration() -> None:
    rbm = random_rbm()
    joint = BinarySpace(10, dtype=torch.float64)
    for beta in (1.0, 0.4):
        truth = BoltzmannDistribution(rbm.joint(), beta, joint).log_z().value
        assert abs(rbm.log_z(beta) - truth) < 1e-10
        with torch.no_grad():  # both marginals, F_β(v) and F_β(h), normalise to the same Z_β
            for f, d in ((rbm.free_energy, 6), (rbm.hidden_free_energy, 4)):
                lz = float(torch.logsumexp(-f(BinarySpace(d, dtype=torch.float64).states(), beta), 0))
                assert abs(lz - truth) < 1e-10
    wide = random_rbm(nv=4, nh=7, seed=1)  # enumerates the visible layer instead
    assert abs(wide.log_z() - BoltzmannDistribution(wide.joint(), 1.0, BinarySpace(11)).log_z().value) < 1e-10
    v = BinarySpace(6, dtype=torch.float64).states()[::7]
    hs = BinarySpace(4, dtype=torch.float64).states()
    e = torch.stack([rbm.joint_energy(v, h.expand(v.shape[0], -1)) for h in hs])  # (16, n)
    with torch.no_grad():
        assert torch.allclose(rbm.free_energy(v), -torch.logsumexp(-e, 0), atol=1e-12)
        # negative control: the other model's free energy differs
        assert not torch.allclose(random_rbm(seed=3).free_energy(v), -torch.logsumexp(-e, 0), atol=1e-3)


def test_fvbm_energy_log_z_and_conditionals() -> None:
    m = random_fvbm()
    w = m.weight
    assert torch.allclose(w, w.T) and bool((torch.diagonal(w) == 0).all())
    assert abs(m.log_z(0.7) - BoltzmannDistribution(m, 0.7, m.space()).log_z().value) < 1e-10
    x = BinarySpace(7, dtype=torch.float64).states()[::5]
    idx = torch.tensor([2, 5])
    on, off = x.clone(), x.clone()
    on[:, idx[0]], off[:, idx[0]] = 1.0, 0.0
    with torch.no_grad():
        assert torch.allclose(m.conditional_logits(x, idx)[:, 0], m(off) - m(on), atol=1e-12)


def test_gibbs_kernels_leave_the_exact_distribution_invariant() -> None:
    m = random_fvbm(d=5)
    states = m.space().states()
    with torch.no_grad():
        p = exact_probs(-0.6 * m(states))
    x0 = draw(p, states, 20_000, 0)
    g = torch.Generator().manual_seed(1)
    assert_invariant(lambda x: m.gibbs(x, 1, g, beta=0.6), x0, p, 5)
    assert_invariant(lambda x: m.gibbs(x, 1, g, beta=1.5), x0, p, 5, expect=False)  # negative control
    rbm = random_rbm(nv=5, nh=3)
    states = BinarySpace(5, dtype=torch.float64).states()
    with torch.no_grad():
        p = exact_probs(-rbm.free_energy(states, 0.5))
    x0 = draw(p, states, 20_000, 2)
    assert_invariant(lambda x: rbm.gibbs(x, 1, g, beta=0.5), x0, p, 5)
    assert_invariant(lambda x: rbm.gibbs(x, 1, g, beta=1.0), x0, p, 5, expect=False)


def test_rbm_path_ends_normaliser_and_kernel() -> None:
    rbm = random_rbm(nv=5, nh=3)
    base = Bernoulli(torch.tensor([0.3, -1.0, 0.5, 2.0, 0.0])).double()
    path = RBMPath(rbm, base)
    v = BinarySpace(5, dtype=torch.float64).states()
    with torch.no_grad():
        assert torch.allclose(path.energy(v, 0.0), -base.log_prob(v), atol=1e-12)
        assert torch.allclose(path.energy(v, 1.0), rbm.free_energy(v), atol=1e-12)
        betas = torch.linspace(0, 1, v.shape[0], dtype=torch.float64)
        rows = torch.stack([path.energy(v[i : i + 1], float(b))[0] for i, b in enumerate(betas)])
        assert torch.allclose(path.at(betas)(v), rows, atol=1e-12)  # per-chain β
    assert abs(path.log_z(0.0)) < 1e-12 and abs(path.log_z(1.0) - rbm.log_z()) < 1e-10
    with torch.no_grad():
        p = exact_probs(-path.energy(v, 0.3))
    kernel, energy = RBMGibbs(), path.at(0.3)
    g = torch.Generator().manual_seed(3)
    step = lambda x: kernel.step(energy, kernel.init(energy, x), g)[0].x  # noqa: E731
    assert_invariant(step, draw(p, v, 20_000, 4), p, 5)
    wrong = path.at(0.9)
    bad = lambda x: kernel.step(wrong, kernel.init(wrong, x), g)[0].x  # noqa: E731
    assert_invariant(bad, draw(p, v, 20_000, 5), p, 5, expect=False)
    with pytest.raises(ConfigError, match=r"RBMPath\.at"):
        kernel.init(rbm, v)
    with pytest.raises(ShapeError, match="per-chain beta"):
        path.energy(v, torch.zeros(3))


def test_log_z_refuses_too_many_states() -> None:
    with pytest.raises(ConfigError, match="AIS"):
        RBM(30, 30).log_z()


# -- β from a target mean energy (seed 003 eq. 2.6) -----------------------------------------------
def test_beta_from_mean_energy_exact_and_by_reweighting() -> None:
    rbm = random_rbm(nv=6, nh=4, scale=0.7)
    joint = BoltzmannDistribution(rbm.joint(), 1.0, BinarySpace(10, dtype=torch.float64))
    mu = joint.with_beta(1.7).internal_energy().value
    beta = joint.beta_for_mean_energy(mu)
    assert abs(beta - 1.7) < 1e-9 and abs(joint.with_beta(beta).internal_energy().value - mu) < 1e-9
    # from exact samples at β₀ = 1.5 (joint states drawn by enumeration), reweighted to μ
    states = BinarySpace(10, dtype=torch.float64).states()
    ests = []
    for seed in range(2):
        x = draw(joint.with_beta(1.5).spectrum.probabilities(1.5), states, 4000, seed)
        with torch.no_grad():
            e = rbm.joint()(x)
        ests.append(beta_for_mean_energy_from_samples(mu, e, 1.5))
    for est in ests:
        assert abs(est.z_score(1.7)) < 4, est
    # negative control: samples labelled with the wrong β₀ give a β off by many standard errors
    assert abs(beta_for_mean_energy_from_samples(mu, e, 1.2).z_score(1.7)) > 4


# -- training --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("k", "persistent"), [(1, False), (1, True)])
def test_cd_and_pcd_raise_the_exact_log_likelihood(k: int, persistent: bool) -> None:
    data = load_bars_and_stripes("train", n=200, side=3).x.double()
    rbm = RBM(9, 6, weight_init=0.3, generator=torch.Generator().manual_seed(0)).double()
    rbm.init_visible_bias(data)
    with torch.no_grad():
        before = float(rbm.log_prob(data).mean())
    method = BoltzmannMachineCD(rbm, k=k, persistent=persistent, n_chains=20)
    cfg = TrainConfig(steps=400, batch_size=20, lr=0.2, optimizer="sgd", momentum=0.5, progress=False, log_every=50)
    fit(method, data, cfg)
    with torch.no_grad():
        after = float(rbm.log_prob(data).mean())
    assert after > before + 0.5, (before, after)
    assert method.sample(7, torch.Generator().manual_seed(0)).shape == (7, 9)
    if persistent:
        assert method.extra_state()["chains"].shape == (20, 9)


def test_pcd_trains_a_fully_visible_machine() -> None:
    data = load_bars_and_stripes("train", n=200, side=3).x.double()
    fvbm = FullyVisibleBM(9).double()
    with torch.no_grad():
        before = float(fvbm.log_prob(data).mean())
    cfg = TrainConfig(steps=80, batch_size=20, lr=0.2, optimizer="sgd", momentum=0.5, progress=False, log_every=40)
    fit(BoltzmannMachineCD(fvbm, k=1, persistent=True, n_chains=20), data, cfg)
    with torch.no_grad():
        assert float(fvbm.log_prob(data).mean()) > before + 0.5


def test_method_errors_and_factory() -> None:
    with pytest.raises(ConfigError, match="binary"):
        BoltzmannMachineCD(RBM(4, 2)).losses(torch.full((3, 4), 0.5), None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="k must"):
        BoltzmannMachineCD(RBM(4, 2), k=0)
    # from a config: the machine is an energy component injected by parameter name (`model:`)
    with pytest.raises(ConfigError, match=r"method.model.name: unknown energy 'dbn'"):
        build("method", "rbm", {"model": {"name": "dbn"}}, {"event_shape": (4,)}, "method")
    m = build("method", "rbm", {"model": {"name": "fvbm"}, "persistent": True}, {"event_shape": (4,)}, "method")
    assert isinstance(m, BoltzmannMachineCD) and isinstance(m.model, FullyVisibleBM) and m.model.dim == 4
    data = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0]])
    m = build("method", "rbm", {"model": {"name": "rbm", "n_visible": 4, "n_hidden": 2}}, {"data": data}, "method")
    p = data.mean(0).clamp(1e-3, 1 - 1e-3)
    assert torch.allclose(m.model.v_bias, torch.log(p) - torch.log1p(-p))  # visible biases from the data
    with pytest.raises(ConfigError, match="3 visible units"):
        build("method", "rbm", {"model": {"name": "rbm", "n_visible": 3, "n_hidden": 2}}, {"event_shape": (4,)}, "m")


def test_binary_data() -> None:
    assert bars_and_stripes_patterns(4).unique(dim=0).shape == (30, 16)
    d = load_binary_digits("test")
    assert d.x.shape == (450, 64) and set(d.x.unique().tolist()) == {0.0, 1.0}
    with pytest.raises(ConfigError, match="flip"):
        load_bars_and_stripes(flip=0.7)


def test_joint_conditional_logits_are_energy_differences() -> None:
    rbm = random_rbm(nv=4, nh=3)
    joint = rbm.joint()
    x = BinarySpace(7, dtype=torch.float64).states()[::3]
    with torch.no_grad():
        for i in range(7):
            on, off = x.clone(), x.clone()
            on[:, i], off[:, i] = 1.0, 0.0
            got = joint.conditional_logits(x, torch.tensor([i]))[:, 0]
            assert torch.allclose(got, joint(off) - joint(on), atol=1e-12)
    assert joint.blocks() == [[0, 1, 2, 3], [4, 5, 6]]


# -- AIS (the general ebmlab.estimators.ais) against enumeration ---------------------------------------------
def test_joint_path_marginal_is_the_rbm_path() -> None:
    rbm = random_rbm(nv=4, nh=3)
    logits = torch.tensor([0.5, -0.3, 1.0, 0.0], dtype=torch.float64)
    path, marginal = joint_path(rbm, logits), RBMPath(rbm, Bernoulli(logits).double())
    x = BinarySpace(7, dtype=torch.float64).states()
    with torch.no_grad():
        for beta in (0.0, 0.35, 1.0):
            e = path.at(beta)(x).reshape(16, 8)  # rows: v, columns: h (h varies fastest)
            assert torch.allclose(-torch.logsumexp(-e, 1), marginal.energy(x[::8, :4], beta), atol=1e-6)


@pytest.mark.parametrize("kind", ["rbm", "rbm-marginal", "fvbm"])
def test_ais_matches_enumeration_within_its_standard_error(kind: str) -> None:
    model = random_rbm(nv=6, nh=4) if kind.startswith("rbm") else random_fvbm(d=8)
    run = {"rbm": rbm_ais, "rbm-marginal": partial(rbm_ais, marginal=True), "fvbm": fvbm_ais}[kind]
    exact = model.log_z()
    z = [run(model, 100, 200, torch.Generator().manual_seed(s)).z_score(exact) for s in range(3)]  # type: ignore[arg-type]
    assert max(abs(v) for v in z) < 4, z
    # negative control: the same runs against the log Z of a slightly different model are far off
    with torch.no_grad():
        (model.v_bias if kind.startswith("rbm") else model.bias).add_(0.1)  # type: ignore[operator]
    assert abs(run(model, 100, 200, torch.Generator().manual_seed(0)).z_score(exact)) > 4  # type: ignore[arg-type]


def test_yaml_config_trains_through_the_registry(tmp_path: Path) -> None:
    from ebmlab.experiments import load_experiment_config, run_experiment

    path = Path(__file__).resolve().parents[1] / "configs" / "rbm_binary_digits_pcd.yaml"
    cfg = load_experiment_config(path, ["train.steps=3", "train.progress=false"])
    run = run_experiment(cfg, tmp_path / "run")
    assert run.step == 3 and isinstance(run.method, BoltzmannMachineCD)
    assert run.method.chains.shape == (100, 64)
