"""The VAE: ELBO against the exact log-likelihood of a linear-Gaussian model, reparameterised gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from ebmlab.densities import StandardNormal
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.generators import VAE, ConditionalVAE

D, d, SIGMA = 3, 2, 0.5
W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0]], dtype=torch.float64)  # orthogonal columns
B = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)


def linear_gaussian_vae(perturb: float = 0.0) -> tuple[VAE, Tensor, Tensor]:
    """x = W z + b + σ ε with an affine encoder set to the exact posterior (+ ``perturb``): (vae, A, post_var)."""
    vae = VAE((D,), latent_dim=d, hidden=(), obs_scale=SIGMA).double()
    post_var = 1.0 / (1.0 + (W * W).sum(0) / SIGMA**2)  # WᵀW diagonal → the posterior is diagonal
    a = post_var[:, None] * W.T / SIGMA**2  # posterior mean = A (x − b)
    with torch.no_grad():
        vae.decoder[0].weight.copy_(W)
        vae.decoder[0].bias.copy_(B)
        enc = vae.encoder[0]
        enc.weight.zero_()
        enc.weight[:d].copy_(a)
        enc.bias[:d].copy_(-a @ B + perturb)
        enc.bias[d:].copy_(0.5 * post_var.log() + perturb)
    return vae, a, post_var


def exact_log_px(x: Tensor) -> Tensor:
    cov = W @ W.T + SIGMA**2 * torch.eye(D, dtype=torch.float64)
    return torch.distributions.MultivariateNormal(B, cov).log_prob(x)


def elbo_and_se(vae: VAE, x: Tensor, k: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """The k-draw ELBO from ``vae.elbo`` and its Monte Carlo standard error (same draws), per example."""
    elbo, _, kl = vae.elbo(x, torch.Generator().manual_seed(seed), k=k)
    loc, log_scale = vae.encode(x)
    z = vae.rsample_posterior(loc, log_scale, torch.Generator().manual_seed(seed), k)
    per_draw = vae.log_likelihood(x, z) - kl
    assert torch.allclose(per_draw.mean(0), elbo)
    return elbo, per_draw.std(0) / math.sqrt(k), kl


def test_elbo_equals_log_px_minus_exact_gap_on_linear_gaussian() -> None:
    x = torch.randn(5, D, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    log_px = exact_log_px(x)
    exact_vae, _, _ = linear_gaussian_vae()
    with torch.no_grad():
        elbo, se, _ = elbo_and_se(exact_vae, x, 20_000, 1)
    assert float(((elbo - log_px).abs() - 4 * se).max()) < 0  # exact posterior: ELBO = log p(x)
    off_vae, a, post_var = linear_gaussian_vae(perturb=0.4)
    with torch.no_grad():
        elbo, se, _ = elbo_and_se(off_vae, x, 20_000, 2)
        loc, log_scale = off_vae.encode(x)
    post_mean = (x - B) @ a.T
    q_var = torch.exp(2 * log_scale)
    gap = 0.5 * (q_var / post_var + (loc - post_mean).square() / post_var - 1 - torch.log(q_var / post_var)).sum(1)
    assert float(gap.min()) > 0.1  # the control: a wrong encoder leaves a visible gap …
    assert float(((elbo - (log_px - gap)).abs() - 4 * se).max()) < 0  # … of exactly KL(q ‖ posterior)
    assert bool((elbo < log_px).all())


def test_expected_elbo_gradient_matches_closed_form() -> None:
    """For a linear decoder E_q[log p(x|z)] = log N(x; Wμ+b, σ²I) − Σ_j ‖W_j‖² s_j² / (2σ²)."""
    vae, _, _ = linear_gaussian_vae(perturb=0.3)
    x = torch.tensor([[1.0, -1.0, 0.5]], dtype=torch.float64)
    bias = vae.encoder[0].bias
    grads = []
    for seed in range(8):
        vae.zero_grad()
        vae.elbo(x, torch.Generator().manual_seed(seed), k=2000)[0].sum().backward()
        grads.append(bias.grad.clone())  # type: ignore[union-attr]
    g = torch.stack(grads)
    mean, se = g.mean(0), g.std(0) / math.sqrt(len(grads))
    with torch.no_grad():
        loc, log_scale = vae.encode(x)
    mu, s2 = loc[0], torch.exp(2 * log_scale[0])
    w2 = (W * W).sum(0)
    d_mu = W.T @ (x[0] - W @ mu - B) / SIGMA**2 - mu
    d_log_s = -w2 * s2 / SIGMA**2 - (s2 - 1.0)
    exact = torch.cat([d_mu, d_log_s])
    assert float(((mean - exact).abs() - 4 * se - 1e-9).max()) < 0


def test_reparameterised_gradient_matches_finite_differences() -> None:
    """With common random numbers the ELBO estimate is a smooth function of every parameter."""
    torch.manual_seed(0)
    vae = VAE((1, 2, 2), latent_dim=2, hidden=(8,)).double()
    x = torch.randn(4, 1, 2, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)

    def f() -> Tensor:
        return vae.elbo(x, torch.Generator().manual_seed(7), k=3)[0].sum()

    f().backward()
    for p in (vae.encoder[0].weight, vae.encoder[-1].bias, vae.decoder[0].weight, vae.log_obs_scale):
        for idx in [(0,), (1,)] if p.dim() == 1 else [(0, 0), (1, 1)]:
            with torch.no_grad():
                old = p[idx].item()
                p[idx] = old + 1e-6
                up = f().item()
                p[idx] = old - 1e-6
                down = f().item()
                p[idx] = old
            assert p.grad is not None
            assert p.grad[idx].item() == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-7)


def test_monte_carlo_kl_for_a_non_normal_prior_agrees_with_the_closed_form() -> None:
    class Wrapped:  # a Density that is not a DiagonalNormal: the VAE must use the Monte Carlo KL
        event_shape = (2,)

        def __init__(self) -> None:
            self.inner = StandardNormal(2).double()

        def sample(self, n: int, generator: torch.Generator) -> Tensor:
            return self.inner.sample(n, generator)

        def log_prob(self, z: Tensor) -> Tensor:
            return self.inner.log_prob(z)

    torch.manual_seed(1)
    exact = VAE((3,), latent_dim=2, hidden=(8,)).double()
    mc = VAE((3,), latent_dim=2, hidden=(8,), prior=Wrapped()).double()  # type: ignore[arg-type]
    mc.load_state_dict(exact.state_dict(), strict=False)
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        kl_exact = exact.elbo(x, torch.Generator().manual_seed(3))[2]
        loc, log_scale = mc.encode(x)
        z = mc.rsample_posterior(loc, log_scale, torch.Generator().manual_seed(3), 20_000)
        kl_mc = mc.kl(loc, log_scale, z)
        from ebmlab.generators import diagonal_normal_log_prob

        per = diagonal_normal_log_prob(z, loc, log_scale) - StandardNormal(2).double().log_prob(
            z.reshape(-1, 2)
        ).reshape(z.shape[:-1])
    se = per.std(0) / math.sqrt(20_000)
    assert float(((kl_mc - kl_exact).abs() - 4 * se).max()) < 0


def test_bernoulli_images_conditional_and_errors() -> None:
    g = torch.Generator().manual_seed(0)
    vae = VAE((1, 8, 8), latent_dim=3, likelihood="bernoulli")
    x = (torch.rand(5, 1, 8, 8, generator=g) < 0.3).float()
    elbo, recon, kl = vae.elbo(x, g, k=2)
    assert elbo.shape == recon.shape == kl.shape == (5,) and bool((kl >= 0).all())
    assert torch.allclose(elbo, recon - kl)
    s = vae.sample(7, g)
    assert s.shape == (7, 1, 8, 8) and set(s.unique().tolist()) <= {0.0, 1.0}
    probs = vae.sample(3, g, noise=False)
    assert bool(((probs > 0) & (probs < 1)).all())
    cvae = ConditionalVAE((64,), context_dim=128, latent_dim=2)
    c = torch.randn(5, 128, generator=g)
    assert cvae.elbo(torch.randn(5, 64, generator=g), c, g, kl_weight=0.5)[0].shape == (5,)
    assert cvae.sample(c, g).shape == (5, 64)
    with pytest.raises(ShapeError, match="context"):
        cvae.elbo(torch.randn(5, 64), torch.randn(5, 3), g)
    with pytest.raises(ConfigError, match="conditional"):
        VAE((2,), context_dim=3).sample(2, g)
    with pytest.raises(ShapeError, match=r"expected x of shape \(n, 1, 8, 8\)"):
        vae.elbo(torch.zeros(2, 64), g)
    with pytest.raises(ConfigError, match="likelihood"):
        VAE((2,), likelihood="poisson")
    with pytest.raises(ConfigError, match="k"):
        vae.elbo(x, g, k=0)
    with pytest.raises(ConfigError, match="prior"):
        VAE((2,), latent_dim=3, prior=StandardNormal(2))
