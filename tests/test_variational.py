"""Variational bounds on the linear-Gaussian model, where log p(x), p(z|x) and the ELBO gap are exact."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.densities.linear_gaussian import LinearGaussian
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators.variational import (
    DiagonalGaussianPosterior,
    elbo,
    elbo_gradient_samples,
    iwae_bound,
    log_likelihood_iwae,
    log_weights,
)


def model(seed: int = 0) -> LinearGaussian:
    return LinearGaussian.random(5, 2, 0.7, torch.Generator().manual_seed(seed))


def data(m: LinearGaussian, n: int = 4, seed: int = 1) -> torch.Tensor:
    with torch.no_grad():
        return m.sample(n, torch.Generator().manual_seed(seed))


def test_elbo_plus_kl_equals_log_px_to_rounding() -> None:
    m = model()
    x = data(m, 6)
    g = torch.Generator().manual_seed(2)
    loc = torch.randn(6, 2, generator=g, dtype=torch.float64)
    log_s = 0.5 * torch.randn(6, 2, generator=g, dtype=torch.float64)
    with torch.no_grad():
        gap = m.elbo_exact(x, loc, log_s) + m.kl_to_posterior(x, loc, log_s) - m.log_prob(x)
        assert float(gap.abs().max()) < 1e-10
        assert bool((m.kl_to_posterior(x, loc, log_s) > 0).all())
        # the per-example mean-field optimum has a smaller KL than any other diagonal Gaussian
        mf = m.mean_field_optimum(x)
        kl_mf = m.kl_to_posterior(x, *mf)
        assert bool((kl_mf <= m.kl_to_posterior(x, mf[0] + 0.01, mf[1])).all())
        assert bool((kl_mf <= m.kl_to_posterior(x, mf[0], mf[1] - 0.01)).all())
        # negative control: the posterior mean is needed — the prior mean leaves a gap
        assert float((m.elbo_exact(x, torch.zeros_like(loc), mf[1]) - m.log_prob(x)).max()) < -1e-3


def test_monte_carlo_elbo_and_iwae_increase_with_k_to_log_px() -> None:
    m = model()
    x = data(m, 3)
    with torch.no_grad():
        mf_loc, mf_s = m.mean_field_optimum(x)
        q = DiagonalGaussianPosterior.per_example(mf_loc, mf_s + 0.7)  # a deliberately too-wide q
        g = torch.Generator().manual_seed(3)
        reps = 400
        exact_elbo = m.elbo_exact(x, mf_loc, mf_s + 0.7)
        single = log_weights(m.log_joint, q, x, reps, g)  # (3, reps): one-draw ELBO estimates
        assert float(((single.mean(1) - exact_elbo).abs() - 4 * single.std(1) / math.sqrt(reps)).max()) < 0
        assert torch.allclose(elbo(m.log_joint, q, x, torch.Generator().manual_seed(3), reps), single.mean(1))
        log_px = m.log_prob(x)
        means, ses = [], []
        for k in (1, 8, 64):
            b = iwae_bound(m.log_joint, q, x.repeat_interleave(reps, 0), g, k).reshape(3, reps)
            means.append(b.mean(1))
            ses.append(b.std(1) / math.sqrt(reps))
        for lo, hi, se_lo, se_hi in zip(means, means[1:], ses, ses[1:], strict=False):
            assert bool((hi - lo > 3 * torch.sqrt(se_lo**2 + se_hi**2)).all())  # strictly sharper
        assert bool((means[-1] - log_px < 4 * ses[-1]).all())  # still a lower bound
        assert bool((log_px - means[-1] < 0.1 * (log_px - means[0])).all())  # and close to log p(x)


def test_iwae_with_the_exact_posterior_is_exact() -> None:
    w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)  # orthogonal columns
    m = LinearGaussian(w, torch.zeros(4, dtype=torch.float64), 0.5)
    x = data(m, 20)
    with torch.no_grad():
        loc, log_s = m.mean_field_optimum(x)  # = the exact (diagonal) posterior here
        est = log_likelihood_iwae(
            m.log_joint, DiagonalGaussianPosterior.per_example(loc, log_s), x, torch.Generator(), k=50
        )
        assert abs(est.value - float(m.log_prob(x).mean())) < 1e-10 and est.details["mc_stderr"] < 1e-10
        assert est.details["min_ess"] == pytest.approx(50)
        off = DiagonalGaussianPosterior.per_example(loc + 0.5, log_s)  # negative control: a wrong q
        bad = log_likelihood_iwae(m.log_joint, off, x, torch.Generator(), k=50)
        assert bad.value < est.value - 5 * bad.details["mc_stderr"]


@pytest.mark.parametrize(("estimator", "baseline"), [("reparam", False), ("score", False), ("score", True)])
def test_gradient_estimators_are_unbiased(estimator: str, baseline: bool) -> None:
    m = model()
    x = data(m, 1)
    loc = torch.tensor([0.3, -0.2], dtype=torch.float64)
    log_s = torch.tensor([-0.4, -0.1], dtype=torch.float64)
    a, b = loc.clone().requires_grad_(), log_s.clone().requires_grad_()
    exact = torch.cat(torch.autograd.grad(m.elbo_exact(x, a[None], b[None]).sum(), (a, b)))

    def log_joint(z: torch.Tensor) -> torch.Tensor:
        return m.log_joint(x.expand(z.shape[0], -1), z)

    n = 20_000
    gs = elbo_gradient_samples(log_joint, loc, log_s, n, torch.Generator().manual_seed(4), estimator, baseline)
    z = (gs.mean(0) - exact) / (gs.std(0) / math.sqrt(n))
    assert float(z.abs().max()) < 4.5, z


def test_reparameterised_gradient_has_lower_variance_and_bias_is_detected() -> None:
    m = model()
    x = data(m, 1)
    loc, log_s = torch.tensor([0.3, -0.2], dtype=torch.float64), torch.tensor([-0.4, -0.1], dtype=torch.float64)

    def log_joint(z: torch.Tensor) -> torch.Tensor:
        return m.log_joint(x.expand(z.shape[0], -1), z)

    var = {
        e: elbo_gradient_samples(log_joint, loc, log_s, 5000, torch.Generator().manual_seed(5), e).var(0).sum()
        for e in ("reparam", "score")
    }
    assert float(var["score"]) > 5 * float(var["reparam"])
    # negative control: dropping the entropy's +1 from the reparameterised log σ-gradient is caught
    a, b = loc.clone().requires_grad_(), log_s.clone().requires_grad_()
    exact = torch.cat(torch.autograd.grad(m.elbo_exact(x, a[None], b[None]).sum(), (a, b)))
    gs = elbo_gradient_samples(log_joint, loc, log_s, 20_000, torch.Generator().manual_seed(6), "reparam")
    gs[:, 2:] -= 1.0
    assert float(((gs.mean(0) - exact) / (gs.std(0) / math.sqrt(20_000))).abs().max()) > 10


def test_errors() -> None:
    m = model()
    x = data(m, 3)
    q = DiagonalGaussianPosterior.per_example(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ConfigError, match="k must"):
        iwae_bound(m.log_joint, q, x, torch.Generator(), 0)
    with pytest.raises(ShapeError, match="multiple"):
        q.sample(torch.zeros(4, 5), torch.Generator())
    with pytest.raises(ConfigError, match="estimator"):
        elbo_gradient_samples(lambda z: z.sum(1), torch.zeros(2), torch.zeros(2), 4, torch.Generator(), "pathwise")
