"""Whitened coordinates for annealing (estimators/whiten.py) and the mixture density they rest on."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from ebmlab.energies.base import energy_and_grad
from ebmlab.estimators.laplace import MixtureProposal, laplace_proposal
from ebmlab.estimators.user import WHITEN_CONDITION, log_z, wide_base
from ebmlab.estimators.whiten import Whitened, condition_number, whiten_mixture

F64 = torch.float64


def _mixture(d: int = 3) -> MixtureProposal:
    g = torch.Generator().manual_seed(0)
    locs = torch.randn(2, d, generator=g, dtype=F64)
    a = torch.randn(2, d, d, generator=g, dtype=F64)
    chols = torch.linalg.cholesky(a @ a.transpose(1, 2) + 0.5 * torch.eye(d, dtype=F64))
    return MixtureProposal(locs, chols, torch.tensor([0.3, 0.7], dtype=F64).log(), 5, (d,))


def test_mixture_log_prob_is_the_student_t_mixture() -> None:
    q = _mixture()
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(1), dtype=F64) * 2
    cov = q.scales @ q.scales.transpose(1, 2)
    dens = sum(
        w * stats.multivariate_t(q.locs[k].numpy(), cov[k].numpy(), df=5).pdf(x.numpy())
        for k, w in enumerate((0.3, 0.7))
    )
    assert torch.allclose(q.log_prob(x), torch.as_tensor(dens).log(), atol=1e-10)


def test_whitened_mixture_is_the_density_of_u() -> None:
    """p_u(u) = p_x(μ + L u)·|det L| for the whitened mixture, and its scale factors stay lower triangular."""
    q = _mixture()
    g = torch.Generator().manual_seed(2)
    mean = torch.randn(3, generator=g, dtype=F64)
    chol = torch.linalg.cholesky(torch.diag(torch.tensor([4.0, 0.25, 1.0], dtype=F64)) + 0.1)
    qu = whiten_mixture(q, mean, chol)
    u = torch.randn(40, 3, generator=g, dtype=F64)
    x = mean + u @ chol.T
    log_det = float(torch.log(torch.diagonal(chol)).sum())
    assert torch.allclose(qu.log_prob(u), q.log_prob(x) + log_det, atol=1e-10)
    assert torch.equal(qu.scales, torch.tril(qu.scales))


def test_whitened_energy_forwards_an_analytic_gradient_as_lt_grad() -> None:
    class Quadratic:
        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return 0.5 * (x**2 * torch.arange(1.0, 4.0, dtype=F64)).sum(1)

        def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self(x), x * torch.arange(1.0, 4.0, dtype=F64)

    chol = torch.tensor([[2.0, 0.0, 0.0], [0.5, 1.0, 0.0], [-1.0, 0.3, 0.2]], dtype=F64)
    white = Whitened(Quadratic(), torch.tensor([1.0, -1.0, 0.5], dtype=F64), chol, (3,))
    u = torch.randn(8, 3, generator=torch.Generator().manual_seed(3), dtype=F64)
    e, g = energy_and_grad(white, u)
    plain = Whitened(lambda x: Quadratic()(x), white.mean, chol, (3,))  # autograd through E(μ + L u)
    e2, g2 = energy_and_grad(plain, u)
    assert torch.allclose(e, e2) and torch.allclose(g, g2, atol=1e-12)


def test_user_ais_on_an_ill_conditioned_gaussian_keeps_its_effective_samples() -> None:
    """A rotated 20-D Gaussian with curvatures over [10⁻², 10²] (κ = 10⁴), 64 chains, 20 temperatures: annealed in
    whitened coordinates the ESS is 26–29 of 64 over seeds 0–2; from the same base unwhitened (one isotropic HMC
    step, set by the narrowest direction) it was 5–11, and the test goes red."""
    d = 20
    g = torch.Generator().manual_seed(3)
    rot, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    prec = (rot / torch.logspace(-2, 2, d, dtype=F64)) @ rot.T

    def energy(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((x @ prec) * x).sum(1)

    truth = 0.5 * d * math.log(2 * math.pi)
    q = laplace_proposal(energy, (d,), torch.Generator().manual_seed(0), n_starts=4)
    for seed in range(3):
        est = log_z(energy, (d,), "ais", n=64, n_temperatures=20, seed=seed, proposal=q)
        assert est.ess >= 20 and abs(est.z_score(truth)) < 4, (seed, est.ess, est.z_score(truth))
        assert "whitened" in est.details["base"]


def test_user_ais_is_not_whitened_below_the_condition_threshold() -> None:
    """κ = 100 (scales 10× apart, as the built-in gaussian-50, where unwhitened AIS is calibrated): the chains stay in
    x (whitening by the mode's Laplace covariance made the curved banana-10 worse, module doc of estimators.user)."""
    prec = torch.logspace(-1, 1, 4, dtype=F64)

    def energy(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x.square() * prec).sum(1)

    q = laplace_proposal(energy, (4,), torch.Generator().manual_seed(0), n_starts=4)
    assert condition_number(wide_base(q).chol) < WHITEN_CONDITION
    est = log_z(energy, (4,), "ais", n=16, n_temperatures=5, seed=0, proposal=q)
    assert "whitened" not in est.details["base"]


def test_user_bracket_is_whitened_and_reports_log_z_in_x() -> None:
    """A rotated 2-D Gaussian with curvatures 10⁻² and 10²: the bracket runs in u = L⁻¹(x − μ) and adds log|det L|
    back (≈ 1.3 nats here: without it the test goes red), both ends and the midpoint."""
    rot = torch.tensor([[0.8, -0.6], [0.6, 0.8]], dtype=F64)
    prec = (rot / torch.tensor([1e-2, 1e2], dtype=F64)) @ rot.T

    def energy(x: torch.Tensor) -> torch.Tensor:  # the ladder's draws are float32, as unwhitened
        return 0.5 * ((x @ prec.to(x)) * x).sum(1)

    truth = math.log(2 * math.pi)  # det Σ = 1
    q = laplace_proposal(energy, (2,), torch.Generator().manual_seed(0), n_starts=4)
    est = log_z(energy, (2,), "bracket", n=64, n_temperatures=30, seed=0, proposal=q, tempering={"n_rounds": 200})
    d = est.details
    assert "whitened" in d and abs(est.value - truth) < 4 * est.stderr + 0.05, (est.value, est.stderr)
    assert abs(d["lower"] - truth) < 0.1 and abs(d["upper"] - truth) < 0.1, (d["lower"], d["upper"])


def test_the_proposals_follow_the_device_of_their_input() -> None:
    """GaussianProposal, MixtureProposal and Whitened keep their constants on the CPU and move them to the points'
    device (here "meta", which refuses a CPU tensor in an elementwise op as CUDA does): AIS and IS from these bases
    run where the user's energy lives. Each raised "not on the expected device" before session 17."""
    from ebmlab.estimators import GaussianProposal

    x = torch.zeros(4, 3, dtype=F64, device="meta")
    q = GaussianProposal(torch.zeros(3), std=2.0)
    assert q.log_prob(x).device.type == "meta" and q.log_prob_and_grad(x)[1].device.type == "meta"
    assert _mixture().log_prob(x).device.type == "meta"
    w = Whitened(lambda z: z.square().sum(1), torch.zeros(3), 2 * torch.eye(3), (3,))
    assert w.to_x(x).device.type == "meta" and w.to_u(x).device.type == "meta"
    with pytest.raises(RuntimeError, match="device"):  # the control: a CPU constant against meta points
        x - torch.ones(3)
