"""Variational bounds on log p(x) and their gradients (seed 003 §2.3–2.5), for any latent-variable model.

A model is given by its joint ``log_joint(x, z) -> (n,)`` = log p(x, z) and an inference model q(z | x), a
:class:`~ebmlab.densities.ConditionalDensity` (``sample(x, generator)``, ``log_prob(z, x)``). With
importance weights w = p(x, z)/q(z | x), z ~ q:

* ELBO (eq. 2.19): L = E_q[log w] = log p(x) − KL(q(z|x) ‖ p(z|x)) (eq. 2.21).
* §2.4, sharpening the ELBO — the importance-weighted bound (Burda et al. 2016)
  L_K = E[log (1/K) Σ_k w_k], z_k iid ~ q. L_1 = L, L_K ≤ L_{K+1} ≤ log p(x), and L_K → log p(x) as K → ∞
  (when w has finite variance, log p(x) − L_K ≈ Var(w)/(2K p(x)²)). One draw of log (1/K) Σ w_k is also
  the importance-sampling estimate of log p(x) (biased low; :func:`log_likelihood_iwae` reports both
  the Monte Carlo SE per example and the SE over the evaluated examples).
* §2.5, optimising the ELBO — two unbiased gradient estimators with respect to the parameters φ of a
  diagonal Gaussian q = N(m, diag σ²) (:func:`elbo_gradient_samples`):
  score function (REINFORCE): ∇_φ L = E_q[(log w(z)) ∇_φ log q(z)] (uses only values of log p, works
  for discrete z, high variance; ``baseline=True`` subtracts the leave-one-out mean of log w, still unbiased);
  reparameterised: z = m + σ ⊙ ε, ε ~ N(0, I), ∇_φ L = E_ε[∇_φ log w(m + σ ⊙ ε)] (needs ∇_z log p,
  usually far lower variance).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ebmlab.densities import ConditionalDensity
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators.base import Estimate

__all__ = [
    "DiagonalGaussianPosterior",
    "elbo",
    "elbo_gradient_samples",
    "iwae_bound",
    "log_likelihood_iwae",
    "log_weights",
]

LogJoint = Callable[[Tensor, Tensor], Tensor]


def _check_k(k: object, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"{name} must be an int >= 1, got {k!r}.")
    return k


class DiagonalGaussianPosterior:
    """q(z | x) = N(m(x), diag exp(2 s(x))) from any ``encode(x) -> (m, s)`` (a VAE encoder, a linear map,
    or per-example parameters); a ConditionalDensity. Sampling is reparameterised (differentiable)."""

    def __init__(self, encode: Callable[[Tensor], tuple[Tensor, Tensor]], latent_dim: int) -> None:
        self.encode = encode
        self.latent_dim = _check_k(latent_dim, "latent_dim")

    @classmethod
    def per_example(cls, loc: Tensor, log_scale: Tensor) -> DiagonalGaussianPosterior:
        """Non-amortised q: free parameters (m_i, s_i) for each of the n rows of a fixed batch x (rows of a
        context holding K copies of each example in order, as :func:`log_weights` builds it, get K copies)."""
        if loc.dim() != 2 or log_scale.shape != loc.shape:
            raise ShapeError(
                f"per_example: loc and log_scale must be (n, d) alike, got {tuple(loc.shape)}, {tuple(log_scale.shape)}."
            )
        n = loc.shape[0]

        def encode(c: Tensor) -> tuple[Tensor, Tensor]:
            if c.shape[0] % n:
                raise ShapeError(
                    f"per-example q holds {n} examples; got a batch of {c.shape[0]} rows (not a multiple)."
                )
            k = c.shape[0] // n
            return loc.repeat_interleave(k, 0), log_scale.repeat_interleave(k, 0)

        return cls(encode, loc.shape[1])

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    def sample(self, c: Tensor, generator: torch.Generator) -> Tensor:
        m, s = self.encode(c)
        eps = torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)
        return m + s.exp() * eps

    def log_prob(self, z: Tensor, c: Tensor) -> Tensor:
        m, s = self.encode(c)
        if z.shape != m.shape:
            raise ShapeError(
                f"DiagonalGaussianPosterior.log_prob: z has shape {tuple(z.shape)}, expected {tuple(m.shape)}."
            )
        u = (z - m) * torch.exp(-s)
        return (-0.5 * u.square() - s).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


def log_weights(log_joint: LogJoint, q: ConditionalDensity, x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """log w_{ik} = log p(x_i, z_ik) − log q(z_ik | x_i), z_ik ~ q(·|x_i): shape ``(n, k)`` (differentiable)."""
    k = _check_k(k)
    if not isinstance(x, Tensor) or x.dim() < 2:
        raise ShapeError(f"log_weights: x must be a batch (n, *event), got {getattr(x, 'shape', type(x).__name__)}.")
    xr = x.repeat_interleave(k, dim=0)
    z = q.sample(xr, generator)
    lw = log_joint(xr, z) - q.log_prob(z, xr)
    if lw.shape != (xr.shape[0],):
        raise ShapeError(f"log_joint and q.log_prob must return (n,), got {tuple(lw.shape)}.")
    return lw.reshape(x.shape[0], k)


def elbo(
    log_joint: LogJoint, q: ConditionalDensity, x: Tensor, generator: torch.Generator, n_samples: int = 1
) -> Tensor:
    """Per-example ELBO estimate (mean of log w over ``n_samples`` draws), shape ``(n,)``."""
    return log_weights(log_joint, q, x, n_samples, generator).mean(1)


def iwae_bound(log_joint: LogJoint, q: ConditionalDensity, x: Tensor, generator: torch.Generator, k: int) -> Tensor:
    """Per-example importance-weighted bound log (1/K) Σ_k w_k (one draw; its mean is L_K), shape ``(n,)``."""
    lw = log_weights(log_joint, q, x, k, generator)
    return torch.logsumexp(lw, 1) - math.log(k)


@torch.no_grad()
def log_likelihood_iwae(
    log_joint: LogJoint,
    q: ConditionalDensity,
    x: Tensor,
    generator: torch.Generator,
    k: int = 5000,
    chunk: int = 100_000,
) -> Estimate:
    """Mean over the rows of x of the K-sample importance-sampling estimate of log p(x) (≤ the true mean).

    ``stderr`` is the SE over examples (std/√n: the test set as a sample); ``details["mc_stderr"]`` is the
    Monte Carlo SE of the mean from the weights (delta method per example), ``details["min_ess"]`` the
    smallest per-example Kish ESS of the K weights.
    """
    k = _check_k(k)
    rows = max(1, chunk // k)
    vals, mc_var, ess = [], [], []
    for xb in x.split(rows):
        lw = log_weights(log_joint, q, xb, k, generator).to(torch.float64)
        lse = torch.logsumexp(lw, 1)
        vals.append(lse - math.log(k))
        w = torch.exp(lw - lse[:, None]) * k  # normalised to mean 1
        mc_var.append(w.var(1) / k)  # var of log mean w ≈ var(w)/(K mean²)
        ess.append(1.0 / (w / k).square().sum(1))
    v, mv = torch.cat(vals), torch.cat(mc_var)
    n = v.numel()
    se = float(v.std() / math.sqrt(n)) if n > 1 else math.nan
    details = {"mc_stderr": float(mv.sum().sqrt() / n), "min_ess": float(torch.cat(ess).min()), "k": k}
    return Estimate(float(v.mean()), se, n=n, method=f"iwae-{k}", details=details)


def elbo_gradient_samples(
    log_joint: Callable[[Tensor], Tensor],
    loc: Tensor,
    log_scale: Tensor,
    n: int,
    generator: torch.Generator,
    estimator: str = "reparam",
    baseline: bool = False,
) -> Tensor:
    """n independent single-draw estimates of ∇_{(m, log σ)} ELBO for q = N(m, diag σ²), shape ``(n, 2d)``.

    ``log_joint(z) -> (n,)`` is log p(x, z) for one fixed x (differentiable in z for ``reparam``).
    score: g = (log w(z) − b) ∇ log q(z), ∇_m log q = (z − m)/σ², ∇_{log σ} log q = (z − m)²/σ² − 1
    (the −∇_φ log q term of ∇_φ log w has mean 0 and is included, so b = 0 is the plain estimator);
    reparam: g = (∇_z log p · 1, ∇_z log p ⊙ σε + 1) at z = m + σε (∇_{log σ} of the entropy is 1 per dim).
    """
    n = _check_k(n, "n")
    if loc.dim() != 1 or log_scale.shape != loc.shape:
        raise ShapeError(
            f"loc and log_scale must be 1-D of equal size, got {tuple(loc.shape)}, {tuple(log_scale.shape)}."
        )
    m, s = loc.detach(), log_scale.detach()
    eps = torch.randn((n, m.numel()), generator=generator, device=m.device, dtype=m.dtype)
    sigma = s.exp()
    z = (m + sigma * eps).requires_grad_(estimator == "reparam")
    if estimator == "reparam":
        with torch.enable_grad():
            (gz,) = torch.autograd.grad(log_joint(z).sum(), z)
        return torch.cat((gz, gz * sigma * eps + 1.0), 1)
    if estimator != "score":
        raise ConfigError(f"unknown gradient estimator {estimator!r}; valid: 'reparam', 'score'.")
    with torch.no_grad():
        log_q = (-0.5 * eps.square() - s).sum(1) - 0.5 * m.numel() * math.log(2 * math.pi)
        lw = log_joint(z) - log_q
        if baseline:
            if n < 2:
                raise ConfigError("score-function baseline (leave-one-out) needs n >= 2.")
            lw = lw - (lw.sum() - lw) / (n - 1)
        score = torch.cat((eps / sigma, eps.square() - 1.0), 1)
        return lw[:, None] * score - score  # − score: the explicit −∇_φ log q(z) of log w at fixed z
