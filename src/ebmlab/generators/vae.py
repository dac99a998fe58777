"""Variational auto-encoders: an amortised latent-variable density with a reparameterised ELBO.

Model p(x, z) = p(z) p(x | z): prior p(z) any :class:`~ebmlab.densities.Density` over ``(latent_dim,)``
(default N(0, I)), decoder p(x | z) a diagonal Gaussian N(x; g(z), diag σ²) (σ learnable or fixed) or
independent Bernoulli units with logits g(z). Encoder q(z | x) = N(z; μ(x), diag s(x)²).
The evidence lower bound (seed 003 §2.3) for one example is

    ELBO(x) = E_q[log p(x | z)] − KL(q(z | x) ‖ p(z)) ≤ log p(x),

with the gap KL(q(z | x) ‖ p(z | x)). It is estimated with the reparameterisation z = μ + s ⊙ ε,
ε ~ N(0, I), averaging the reconstruction term over ``k`` draws; the KL is exact when the prior is
a (diagonal/standard) normal and the k-draw Monte Carlo average of log q(z|x) − log p(z) otherwise.
``kl_weight`` γ scales the KL (γ = 1 is the ELBO; seed 001's "MCMC teaching" uses a general γ).

Events of any shape are flattened inside (vectors ``(n, d)`` and images ``(n, 1, 8, 8)`` alike).
:class:`ConditionalVAE` conditions encoder and decoder on a context c (e.g. the observed pixels of an
image and their mask): q(z | x, c), p(x | z, c), prior p(z).

>>> import torch
>>> vae = VAE((2,), latent_dim=1)
>>> g = torch.Generator().manual_seed(0)
>>> elbo, recon, kl = vae.elbo(torch.zeros(3, 2), g)
>>> elbo.shape, vae.sample(5, g).shape
(torch.Size([3]), torch.Size([5, 2]))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ebmlab.densities import DiagonalNormal, StandardNormal, check_event
from ebmlab.densities.base import Density
from ebmlab.errors import ConfigError, ShapeError

__all__ = ["LIKELIHOODS", "VAE", "ConditionalVAE", "diagonal_normal_log_prob", "mlp"]

LIKELIHOODS = ("gaussian", "bernoulli")
_LOG_2PI = math.log(2.0 * math.pi)


def mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Sequential:
    """Linear layers ``n_in → hidden… → n_out`` with SiLU between them (``hidden=()`` is one affine map)."""
    widths = [n_in, *hidden, n_out]
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def diagonal_normal_log_prob(z: Tensor, loc: Tensor, log_scale: Tensor) -> Tensor:
    """log N(z; loc, diag exp(2 log_scale)) summed over the last dimension."""
    u = (z - loc) * torch.exp(-log_scale)
    return (-0.5 * u.square() - log_scale).sum(-1) - 0.5 * z.shape[-1] * _LOG_2PI


class VAE(nn.Module):
    """A VAE over events of shape ``event_shape``.

    Args:
        event_shape: shape of one x (flattened to D = prod(event_shape) inside).
        latent_dim: d, the size of z.
        hidden: hidden widths of both encoder and decoder MLPs (``()``: affine maps).
        likelihood: ``"gaussian"`` (real x) or ``"bernoulli"`` (x ∈ {0, 1}, or [0, 1] as soft targets).
        obs_scale: Gaussian decoder σ; ``None`` learns one log σ per coordinate (initialised at
            ``init_obs_scale``), a float fixes it.
        prior: p(z), any Density with event_shape ``(latent_dim,)``; default N(0, I).
        context_dim: width of a flattened context c fed to encoder and decoder (0: unconditional).
    """

    def __init__(
        self,
        event_shape: int | Sequence[int],
        latent_dim: int = 2,
        hidden: Sequence[int] = (64, 64),
        likelihood: str = "gaussian",
        obs_scale: float | None = None,
        init_obs_scale: float = 1.0,
        prior: Density | None = None,
        context_dim: int = 0,
    ) -> None:
        super().__init__()
        shape = (event_shape,) if isinstance(event_shape, int) else tuple(int(s) for s in event_shape)
        if not shape or any(s < 1 for s in shape) or latent_dim < 1 or context_dim < 0:
            raise ConfigError(
                f"VAE: event_shape must be positive sizes and latent_dim >= 1, got {event_shape!r}, {latent_dim}."
            )
        if likelihood not in LIKELIHOODS:
            raise ConfigError(f"VAE: likelihood must be one of {LIKELIHOODS}, got {likelihood!r}.")
        if obs_scale is not None and not (obs_scale > 0 and math.isfinite(obs_scale)):
            raise ConfigError(f"VAE: obs_scale must be a positive finite float or None (learned), got {obs_scale}.")
        self._event_shape, self.latent_dim, self.likelihood = shape, int(latent_dim), likelihood
        self.dim, self.context_dim = math.prod(shape), int(context_dim)
        self.encoder = mlp(self.dim + self.context_dim, hidden, 2 * self.latent_dim)
        self.decoder = mlp(self.latent_dim + self.context_dim, hidden, self.dim)
        log_sigma = torch.full((self.dim,), math.log(obs_scale if obs_scale is not None else init_obs_scale))
        if likelihood == "gaussian" and obs_scale is None:
            self.log_obs_scale = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_obs_scale", log_sigma)
        self.prior = prior if prior is not None else StandardNormal(self.latent_dim)
        if tuple(getattr(self.prior, "event_shape", ())) != (self.latent_dim,):
            raise ConfigError(f"VAE: the prior's event_shape must be ({self.latent_dim},) to match latent_dim.")

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event_shape

    # -- the parts ---------------------------------------------------------------------------------
    def _with_context(self, h: Tensor, context: Tensor | None) -> Tensor:
        if self.context_dim == 0:
            if context is not None:
                raise ConfigError("VAE: got a context but this VAE is unconditional (context_dim=0).")
            return h
        if context is None or context.shape[0] != h.shape[0] or context[0].numel() != self.context_dim:
            got = None if context is None else tuple(context.shape)
            raise ShapeError(f"VAE: expected a context of shape (n, {self.context_dim}) (flattened), got {got}.")
        return torch.cat([h, context.reshape(h.shape[0], -1).to(h.dtype)], dim=-1)

    def flatten(self, x: Tensor) -> Tensor:
        check_event(x, self._event_shape, f"{type(self).__name__}")
        return x.reshape(x.shape[0], self.dim)

    def encode(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q(z | x[, c]) = N(loc, diag exp(2 log_scale)); returns ``(loc, log_scale)``, each ``(n, d)``."""
        h = self.encoder(self._with_context(self.flatten(x), context))
        loc, log_scale = h.chunk(2, dim=-1)
        return loc, log_scale.clamp(-12.0, 6.0)

    def decode(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """The decoder's mean g(z) (Gaussian) or success probabilities (Bernoulli), shape ``(n, *event)``."""
        out = self.decoder(self._with_context(z, context))
        out = torch.sigmoid(out) if self.likelihood == "bernoulli" else out
        return out.reshape(z.shape[0], *self._event_shape)

    def log_likelihood(self, x: Tensor, z: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | z[, c]), shape ``(n,)``; ``z`` may carry leading sample dims ``(k, n, d)`` → ``(k, n)``."""
        lead = z.shape[:-1]
        zf = z.reshape(-1, self.latent_dim)
        xf = self.flatten(x).expand(*lead, self.dim).reshape(-1, self.dim)
        cf = (
            None
            if context is None
            else context.reshape(context.shape[0], -1).expand(*lead, -1).reshape(zf.shape[0], -1)
        )
        out = self.decoder(self._with_context(zf, cf))
        if self.likelihood == "bernoulli":
            terms = xf * out - F.softplus(out)
        else:
            ls = self.log_obs_scale
            terms = -0.5 * ((xf - out) * torch.exp(-ls)).square() - ls - 0.5 * _LOG_2PI
        return terms.sum(-1).reshape(lead)

    def kl(self, loc: Tensor, log_scale: Tensor, z: Tensor | None = None) -> Tensor:
        """KL(q(z|x) ‖ p(z)): exact for a normal prior, else the mean of log q(z|x) − log p(z) over draws ``z``."""
        if isinstance(self.prior, DiagonalNormal):
            m, ls = self.prior.loc.to(loc.dtype), self.prior.log_scale.to(loc.dtype)
            var_ratio = torch.exp(2.0 * (log_scale - ls))
            return 0.5 * (var_ratio + ((loc - m) * torch.exp(-ls)).square() - 1.0 - 2.0 * (log_scale - ls)).sum(-1)
        if z is None:
            raise ConfigError("VAE.kl: a non-normal prior needs posterior draws z for the Monte Carlo KL.")
        log_p = self.prior.log_prob(z.reshape(-1, self.latent_dim)).reshape(z.shape[:-1])
        return (diagonal_normal_log_prob(z, loc, log_scale) - log_p).mean(0)

    def rsample_posterior(self, loc: Tensor, log_scale: Tensor, generator: torch.Generator, k: int = 1) -> Tensor:
        """k reparameterised draws z = loc + exp(log_scale) ⊙ ε, shape ``(k, n, d)``."""
        eps = torch.randn((k, *loc.shape), generator=generator, device=loc.device, dtype=loc.dtype)
        return loc + torch.exp(log_scale) * eps

    # -- the density-like interface -----------------------------------------------------------------
    def elbo(
        self,
        x: Tensor,
        generator: torch.Generator,
        kl_weight: float = 1.0,
        k: int = 1,
        context: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(elbo, recon, kl)`` per example, each ``(n,)``: elbo = recon − kl_weight · kl.

        recon = (1/k) Σ_j log p(x | z_j), z_j = μ(x) + s(x) ⊙ ε_j (reparameterised, differentiable in
        encoder and decoder); kl = KL(q(z|x) ‖ p(z)). With kl_weight = 1, E[elbo] ≤ log p(x).
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"VAE.elbo: k (posterior draws per example) must be an int >= 1, got {k!r}.")
        loc, log_scale = self.encode(x, context)
        z = self.rsample_posterior(loc, log_scale, generator, k)
        recon = self.log_likelihood(x, z, context).mean(0)
        kl = self.kl(loc, log_scale, z)
        return recon - kl_weight * kl, recon, kl

    def sample_given_latent(
        self, z: Tensor, generator: torch.Generator, noise: bool = True, context: Tensor | None = None
    ) -> Tensor:
        """x ~ p(x | z[, c]) (``noise=False``: the decoder mean g(z))."""
        mean = self.decode(z, context)
        if not noise:
            return mean
        if self.likelihood == "bernoulli":
            u = torch.rand(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            return (u < mean).to(mean.dtype)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(self.log_obs_scale).reshape(self._event_shape) * eps

    def sample_latent(self, n: int, generator: torch.Generator) -> Tensor:
        """z ~ p(z), shape ``(n, d)``."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"{type(self).__name__}.sample: n must be a positive int, got {n!r}.")
        return self.prior.sample(n, generator)

    def sample(self, n: int, generator: torch.Generator, noise: bool = True) -> Tensor:
        """x ~ p(x) = ∫ p(z) p(x | z) dz, shape ``(n, *event_shape)`` (``noise=False``: decoder means g(z))."""
        if self.context_dim:
            raise ConfigError("VAE.sample: this VAE is conditional; use ConditionalVAE.sample(context, generator).")
        return self.sample_given_latent(self.sample_latent(n, generator), generator, noise)


class ConditionalVAE(VAE):
    """q(z | x, c), p(x | z, c), p(z): a VAE of x given a context c of ``context_dim`` numbers per example.

    log p(x | c) ≥ E_q[log p(x | z, c)] − KL(q(z | x, c) ‖ p(z)); ``sample(c, generator)`` draws one x per row of c.
    """

    def __init__(self, event_shape: int | Sequence[int], context_dim: int, **kwargs: object) -> None:
        if isinstance(context_dim, bool) or not isinstance(context_dim, int) or context_dim < 1:
            raise ConfigError(f"ConditionalVAE: context_dim must be an int >= 1, got {context_dim!r}.")
        super().__init__(event_shape, context_dim=context_dim, **kwargs)  # type: ignore[arg-type]

    def elbo(  # type: ignore[override]
        self, x: Tensor, context: Tensor, generator: torch.Generator, kl_weight: float = 1.0, k: int = 1
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(elbo, recon, kl)`` per example of log p(x | c)'s lower bound (see :meth:`VAE.elbo`)."""
        return super().elbo(x, generator, kl_weight=kl_weight, k=k, context=context)

    def sample(self, context: Tensor, generator: torch.Generator, noise: bool = True) -> Tensor:  # type: ignore[override]
        """One x ~ p(x | c) per row of ``context``."""
        z = self.sample_latent(int(context.shape[0]), generator)
        return self.sample_given_latent(z, generator, noise, context)
