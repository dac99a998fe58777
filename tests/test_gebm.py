"""GEBM (seed 002): KALE bound and c, generalised gradient, latent target, SIR/IMH, flow-base likelihood, CLI."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ebmlab.densities import DiagonalNormal, StandardNormal
from ebmlab.energies import MLPEnergy
from ebmlab.errors import ConfigError
from ebmlab.flows import make_flow
from ebmlab.methods.gebm import GEBM, FlowBase, LatentTarget, MLPGenerator
from ebmlab.methods.gebm_density import gebm_log_z, gebm_test_nll
from ebmlab.samplers import HMC, MALA, ULA, KineticLangevin, ReplicaExchange, sample
from ebmlab.samplers.independent import independent_metropolis_hastings, sampling_importance_resampling
from ebmlab.training import StepContext


class Shift(nn.Module):
    """G_θ(z) = z + θ (1-D)."""

    def __init__(self, theta: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([theta]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.theta


class Quadratic(nn.Module):
    """E(x) = a‖x‖²/2 + b·x₀ + k."""

    def __init__(self, a: float, b: float = 0.0, k: float = 0.0) -> None:
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(a)), b
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.a * x.square().sum(1) + self.b * x[:, 0] + self.k


def _gebm(base: nn.Module, energy: nn.Module, dim: int = 1, **kw) -> GEBM:
    return GEBM(base, energy, StandardNormal(dim), **kw)


def test_kale_tight_at_log_density_ratio():
    """P = N(1, 1), 𝔾 = N(0, 1): E* = −log(p/g) + k, c = log Z = −k gives F = KL(P‖𝔾) = 1/2; other c, E lower."""
    gen = torch.Generator().manual_seed(0)
    n = 400_000
    xp, xg = (
        torch.randn(n, 1, generator=gen, dtype=torch.float64) + 1,
        torch.randn(n, 1, generator=gen, dtype=torch.float64),
    )
    k = 0.7
    energy = lambda x: -(x[:, 0] - 0.5) + k  # noqa: E731  −log p/g = −(x − 1/2)
    m = _gebm(Shift(0.0), Quadratic(0.0))
    vals = {}
    for c in (-k, -k + 0.3, -k - 0.3):
        m.c.data = torch.tensor(c, dtype=torch.float64)
        vals[c] = float(m.kale(energy(xp), energy(xg)).detach())
    se = float(torch.exp(-(energy(xg) - k)).std()) / math.sqrt(n) * 2
    assert abs(vals[-k] - 0.5) < 5 * se + 1e-3
    assert vals[-k + 0.3] < vals[-k] - 0.03 and vals[-k - 0.3] < vals[-k] - 0.03  # c ≠ log Z: strictly lower
    m.c.data = torch.tensor(-k, dtype=torch.float64)
    wrong = float(m.kale(0.5 * energy(xp), 0.5 * energy(xg)).detach())
    assert wrong < 0.5 - 0.05  # negative control: a non-optimal energy is not tight


def test_c_converges_to_log_z():
    """For fixed E, argmax_c F = log E_𝔾[e^{−E}]; E = x²/4 + x/2 under N(0,1): log Z = −½log(3/2) + 1/12."""
    gen = torch.Generator().manual_seed(1)
    xg = torch.randn(20_000, 1, generator=gen)
    e = 0.25 * xg[:, 0] ** 2 + 0.5 * xg[:, 0]
    m = _gebm(Shift(0.0), Quadratic(0.0))
    opt = torch.optim.Adam([m.c], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        (-m.kale(torch.zeros(1), e)).backward()
        opt.step()
    exact = -0.5 * math.log(1.5) + 1 / 12  # E[e^{−(x²/4 + x/2)}] = (3/2)^{−1/2} e^{1/12}
    c = float(m.c.detach())
    assert abs(c - float(torch.logsumexp(-e, 0) - math.log(e.numel()))) < 1e-3
    assert abs(c - exact) < 0.03  # MC SE of log Ẑ ≈ 0.004
    assert abs(c) > 0.05  # negative control: c moved away from its start 0


def _base_grad(m: GEBM, n: int, seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    ctx = StepContext(step=m.n_energy_steps, generator=torch.Generator().manual_seed(seed), stage=("base",))
    out = m.losses(torch.zeros(n, m.prior.event_shape[0]), ctx)
    params = list(m.base.parameters())
    return list(torch.autograd.grad(out.minimize["base"], params)), StandardNormal(m.prior.event_shape[0]).sample(
        n, torch.Generator().manual_seed(seed)
    )


def test_generalized_gradient_matches_per_sample_jacobians():
    """Surrogate gradient = Σᵢ wᵢ J_θG(zᵢ)ᵀ ∇ₓE(G(zᵢ)), wᵢ = e^{−Eᵢ}/Σe^{−E}, computed sample by sample."""
    torch.manual_seed(0)
    m = _gebm(MLPGenerator(2, 3, hidden=8, depth=1, seed=3), MLPEnergy(3, (8,)), dim=2)
    grads, z = _base_grad(m, 6, seed=5)
    params = list(m.base.parameters())
    x = m.base(z).detach()
    e = m.energy(x).detach()
    w = torch.exp(-e) / torch.exp(-e).sum()
    expected = [torch.zeros_like(p) for p in params]
    for i in range(z.shape[0]):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(m.energy(xi).sum(), xi)
        gi = m.base(z[i : i + 1])[0]
        for d in range(gi.shape[0]):
            jd = torch.autograd.grad(gi[d], params, retain_graph=True)
            for acc, j in zip(expected, jd, strict=True):
                acc += w[i] * gx[0, d] * j
    for g, ex in zip(grads, expected, strict=True):
        torch.testing.assert_close(g, ex, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("weights", ["self_normalized", "learned_c"])
def test_generalized_gradient_closed_form(weights):
    """G_θ(z) = z + θ, E = a x²/2: ∇𝒦(θ) = E_ν[a x] = aθ/(1 + a) (ν tilts N(θ, 1) to N(θ/(1+a), 1/(1+a)))."""
    a, theta, n = 0.8, 1.5, 200_000
    m = _gebm(Shift(theta), Quadratic(a), base_weights=weights)
    z = torch.randn(n, 1, generator=torch.Generator().manual_seed(2))
    m.c.data = torch.log(torch.exp(-Quadratic(a)(z + theta)).mean()).detach()  # c = log Z (MC)
    (g,), _ = _base_grad(m, n, seed=2)
    exact = a * theta / (1 + a)
    assert abs(float(g) - exact) < 0.02
    assert abs(float(g) - a * theta) > 0.3  # negative control: the unweighted (base) expectation differs


def test_base_stage_only_every_n_steps():
    m = _gebm(Shift(0.5), Quadratic(1.0), n_energy_steps=3)
    for step, expect in ((1, False), (2, False), (3, True), (6, True)):
        ctx = StepContext(step=step, generator=torch.Generator().manual_seed(0), stage=("base",))
        assert ("base" in m.losses(torch.zeros(4, 1), ctx).minimize) is expect


def test_latent_target_gradient_any_prior():
    """E_ν(z) = E(Az + b) − log η(z) with E = ½‖x‖², η = N(μ, σ²): ∇ = Aᵀ(Az + b) + (z − μ)/σ²."""
    lin = nn.Linear(2, 3)
    prior = DiagonalNormal(torch.tensor([0.3, -0.2]), torch.tensor([0.5, 2.0]))
    target = LatentTarget(lambda x: 0.5 * x.square().sum(1), lin, prior)
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), requires_grad=True)
    (g,) = torch.autograd.grad(target(z).sum(), z)
    a, b = lin.weight.detach(), lin.bias.detach()
    exact = (z.detach() @ a.T + b) @ a + (z.detach() - prior.loc) / prior.log_scale.exp() ** 2
    torch.testing.assert_close(g, exact)


def test_every_sampler_runs_on_latent_target_and_mala_matches_posterior():
    """ν ∝ N(z; 0, I) e^{−a‖z + θ‖²/2} = N(−aθ/(1+a), 1/(1+a)): MALA mean within MC error; others run."""
    a, theta = 1.0, 2.0
    target = LatentTarget(Quadratic(a), Shift(theta), StandardNormal(1))
    z0 = torch.zeros(2000, 1)
    res = sample(target, MALA(0.5), z0, 200, warmup=50, seed=0)
    mean = res.samples[-100:].mean()
    assert abs(float(mean) + a * theta / (1 + a)) < 0.05
    for kernel in (ULA(0.05), HMC(0.2, 3), KineticLangevin(0.1, friction=1.0)):
        assert torch.isfinite(sample(target, kernel, z0[:8], 10, seed=0).samples).all()
    pt = ReplicaExchange(MALA(0.3), n_rungs=3, base_scale=1.0)
    out = pt.sample(target, 4, (1,), 5, torch.Generator().manual_seed(0), 0, 1)
    assert torch.isfinite(out.samples).all()


P3 = torch.tensor([0.2, 0.5, 0.3])


def _uniform3(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 3, (n, 1), generator=gen).double()


def _log_w(x: torch.Tensor) -> torch.Tensor:
    return P3.double().log()[x[:, 0].long()]


def _freq(x: torch.Tensor) -> torch.Tensor:
    return torch.bincount(x.reshape(-1).long(), minlength=3).double() / x.numel()


def test_sir_and_imh_exact_on_three_states():
    """SIR (N = 10⁵) and IMH (4000 chains × 30 steps) reproduce p = (.2, .5, .3); the proposal alone does not."""
    gen = torch.Generator().manual_seed(0)
    sir = sampling_importance_resampling(_uniform3, _log_w, 40_000, 100_000, gen)
    imh = independent_metropolis_hastings(_uniform3, _log_w, 4000, 30, gen)
    tol = 5 * math.sqrt(0.25 / 4000)
    assert (_freq(sir.samples) - P3.double()).abs().max() < 5 * math.sqrt(0.25 / 40_000) + 0.005
    assert (_freq(imh.state) - P3.double()).abs().max() < tol
    assert 0.5 < imh.accept_rate < 1.0
    assert (_freq(_uniform3(4000, gen)) - P3.double()).abs().max() > tol  # negative control


def test_independent_sampler_errors():
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ConfigError, match="n_proposals"):
        sampling_importance_resampling(_uniform3, _log_w, 10, 0, gen)
    with pytest.raises(ConfigError, match="log_weight"):
        independent_metropolis_hastings(_uniform3, lambda x: x, 4, 2, gen)


def test_flow_base_nll_closed_form_and_constant_energy():
    """Identity flow (g = N(0, I)), E = a‖x‖²/2: q = N(0, 1/(1+a)) exactly; E ≡ k: NLL = base NLL, log Z = −k."""
    flow = make_flow("realnvp", 2, n_couplings=2, hidden=8, seed=0)
    x = torch.randn(3000, 2, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(flow.log_prob(x[:4]), StandardNormal(2).log_prob(x[:4]))  # the flow starts at identity
    m = GEBM(FlowBase(flow), Quadratic(0.5), StandardNormal(2))
    out = gebm_test_nll(m, x, 20_000, torch.Generator().manual_seed(2))
    exact = -DiagonalNormal(torch.zeros(2), torch.full((2,), (1 / 1.5) ** 0.5)).log_prob(x).double().mean()
    assert abs(out["nll"] - float(exact)) < 5 * out["log_z_se"] + 1e-4
    assert out["is_ess"] > 1000 and out["pareto_k"] < 0.7
    m.energy = Quadratic(0.0, k=1.3)
    const = gebm_test_nll(m, x, 1000, torch.Generator().manual_seed(3))
    assert abs(const["log_z"] + 1.3) < 1e-5 and abs(const["nll"] - const["base_nll"]) < 1e-5
    with pytest.raises(ConfigError, match="flow base"):
        gebm_log_z(_gebm(Shift(0.0), Quadratic(1.0)), 10, torch.Generator())


def test_fit_and_sample_every_latent_sampler():
    from ebmlab.training import TrainConfig, fit

    x = torch.randn(512, 2, generator=torch.Generator().manual_seed(0)) * 0.5 + 1.0
    m = GEBM(MLPGenerator(2, 2, hidden=16, depth=1), MLPEnergy(2, (16,), spectral_norm=True), n_energy_steps=2)
    before = [p.detach().clone() for p in m.base.parameters()]
    run = fit(m, x, TrainConfig(steps=1, batch_size=64, log_every=1))
    assert all(torch.equal(a, b) for a, b in zip(before, m.base.parameters(), strict=True))  # step 1: energy only
    run = fit(m, x, TrainConfig(steps=4, batch_size=64, log_every=1))
    assert run.status == "completed" and "kale" in run.history[-1]
    assert not all(torch.equal(a, b) for a, b in zip(before, m.base.parameters(), strict=True))
    for name in ("base", "ula", "mala", "hmc", "kinetic", "sir", "imh"):
        z, info = m.sample_latent(16, torch.Generator().manual_seed(0), latent_sampler=name, n_steps=3, n_proposals=100)
        assert z.shape == (16, 2) and torch.isfinite(z).all() and info["sharpen"] == 1.0
    assert m.sample(8, torch.Generator().manual_seed(0), latent_sampler="sir", sharpen=100.0).shape == (8, 2)


def test_config_errors():
    e, base = MLPEnergy(2, (8,)), MLPGenerator(2, 2)
    with pytest.raises(ConfigError, match="n_energy_steps"):
        GEBM(base, e, n_energy_steps=0)
    with pytest.raises(ConfigError, match="base_weights"):
        GEBM(base, e, base_weights="bad")
    with pytest.raises(ConfigError, match="mle_weight"):
        GEBM(base, e, mle_weight=1.0)
    with pytest.raises(ConfigError, match="latent_dim"):
        GEBM(nn.Linear(2, 2), e)  # no latent_dim: the prior cannot be derived
    with pytest.raises(ConfigError, match="flat vector data"):
        GEBM(base, e, event_shape=(1, 2, 1))
    with pytest.raises(ConfigError, match="sampling options"):
        GEBM(base, e, sampling={"steps": 3})
    m = GEBM(base, e)
    assert m.prior.event_shape == (2,) and GEBM(MLPGenerator(3, 2), e).prior.event_shape == (3,)
    with pytest.raises(ConfigError, match="needs data"):
        m.losses(None, StepContext(step=1, generator=torch.Generator(), stage=("energy",)))
    with pytest.raises(ConfigError, match="unknown latent sampler"):
        m.sample(4, torch.Generator(), latent_sampler="gibbs")


def test_cli_latent_sampler(tmp_path):
    import numpy as np

    from ebmlab.cli import main
    from ebmlab.experiments import load_experiment_config, run_experiment

    cfg = load_experiment_config(
        {
            "name": "gebm-tiny",
            "data": {"name": "toy", "target": "mog8", "split": "train", "n": 256},
            "energy": {"name": "mlp", "hidden": [16], "spectral_norm": True},
            "method": {
                "name": "gebm",
                "base": {"name": "mlp-generator", "latent_dim": 2, "hidden": 16, "depth": 1},
                "n_energy_steps": 2,
            },
            "train": {"steps": 4, "batch_size": 64, "log_every": 2},
        }
    )
    run_experiment(cfg, tmp_path / "run")
    out = tmp_path / "s"
    assert main(["sample", str(tmp_path / "run"), "-n", "20", "--latent-sampler", "sir", "--out", str(out)]) == 0
    assert np.load(out / "samples.npy").shape == (20, 2)
    with pytest.raises(SystemExit):
        main(["sample", str(tmp_path / "run"), "--latent-sampler", "gibbs"])
