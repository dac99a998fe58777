"""Closed-form densities: standard and diagonal Gaussians, independent Bernoulli vectors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ebmlab.densities.base import check_event, positive_count
from ebmlab.device_copies import copies_on
from ebmlab.errors import ConfigError

__all__ = ["Bernoulli", "DiagonalNormal", "StandardNormal", "Uniform"]

_LOG_2PI = math.log(2.0 * math.pi)


def _on(q: nn.Module, names: tuple[str, ...], device: torch.device) -> tuple[Tensor, ...]:
    """``q``'s tensors on ``device``: parameters by ``.to`` (gradients flow back to them), constant buffers copied
    once per device (:mod:`ebmlab.device_copies`; a copy at every call would make a GPU step wait)."""
    if any(isinstance(getattr(q, n), nn.Parameter) for n in names):
        return tuple(getattr(q, n).to(device) for n in names)
    return copies_on(q, names, device)


def _float_dtype(value: object) -> torch.dtype:
    """The dtype of a floating tensor, else torch's default dtype."""
    return value.dtype if isinstance(value, Tensor) and value.is_floating_point() else torch.get_default_dtype()


class DiagonalNormal(nn.Module):
    """q(x) = N(x; μ, diag σ²) over ``event_shape = μ.shape``.

    log q(x) = −½ Σ ((x − μ)/σ)² − Σ log σ − (d/2) log 2π. ``learnable=True`` makes μ and log σ
    parameters (e.g. a trainable AIS base); otherwise they are buffers (moved with ``.to``).
    """

    def __init__(self, loc: Tensor, scale: Tensor | float, learnable: bool = False, persistent: bool = True) -> None:
        super().__init__()
        loc = torch.as_tensor(loc, dtype=_float_dtype(loc)).detach().clone()
        if loc.dim() == 0:
            raise ConfigError("DiagonalNormal: loc must have at least one dimension (the event shape).")
        log_scale = torch.log(torch.as_tensor(scale, dtype=loc.dtype).expand_as(loc).clone())
        if not bool(torch.isfinite(log_scale).all() & torch.isfinite(loc).all()):
            raise ConfigError("DiagonalNormal: loc must be finite and scale positive and finite.")
        if learnable:
            self.loc, self.log_scale = nn.Parameter(loc), nn.Parameter(log_scale)
        else:
            self.register_buffer("loc", loc, persistent=persistent)
            self.register_buffer("log_scale", log_scale, persistent=persistent)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.loc.shape)

    @property
    def dim(self) -> int:
        """Number of coordinates of one sample."""
        return self.loc.numel()

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """x = μ + σ ε, ε ~ N(0, I) (reparameterised: differentiable in learnable μ, σ); on the generator's device."""
        n = positive_count(n, "DiagonalNormal.sample")
        device = generator.device if generator is not None else self.loc.device
        eps = torch.randn((n, *self.event_shape), generator=generator, device=device, dtype=self.loc.dtype)
        loc, log_scale = _on(self, ("loc", "log_scale"), device)
        return loc + log_scale.exp() * eps

    def log_prob(self, x: Tensor) -> Tensor:
        check_event(x, self.event_shape, "DiagonalNormal.log_prob")
        return self._log_prob(x, *_on(self, ("loc", "log_scale"), x.device))

    def _log_prob(self, x: Tensor, loc: Tensor, log_scale: Tensor) -> Tensor:
        z = (x - loc) * torch.exp(-log_scale)
        d = z[0].numel()
        return (-0.5 * z.square() - log_scale).reshape(x.shape[0], -1).sum(1) - 0.5 * d * _LOG_2PI

    def log_prob_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(log q(x), ∇ log q(x) = −(x − μ)/σ²) without autograd."""
        check_event(x, self.event_shape, "DiagonalNormal.log_prob")
        with torch.no_grad():
            loc, log_scale = _on(self, ("loc", "log_scale"), x.device)
            return self._log_prob(x, loc, log_scale), -(x - loc) * torch.exp(-log_scale).square()

    def entropy(self) -> Tensor:
        """H(q) = Σ log σ + (d/2)(1 + log 2π)."""
        return self.log_scale.sum() + 0.5 * self.loc.numel() * (1.0 + _LOG_2PI)


class StandardNormal(DiagonalNormal):
    """N(0, I) over ``event_shape`` (or ``(dim,)``); the base of flows and the default latent prior. Its constant
    buffers are not saved in checkpoints (a model holding it has the same state dict as without)."""

    def __init__(self, event_shape: int | Sequence[int]) -> None:
        shape = (event_shape,) if isinstance(event_shape, int) else tuple(event_shape)
        if not shape or any(int(s) < 1 for s in shape):
            raise ConfigError(f"StandardNormal: event_shape must be positive sizes, got {event_shape!r}.")
        super().__init__(torch.zeros(shape), 1.0, persistent=False)


class Bernoulli(nn.Module):
    """Independent Bernoulli units on {0, 1}^shape with P(x_i = 1) = sigmoid(logits_i).

    log q(x) = Σ x·l − softplus(l); the usual AIS base for binary models (logits from the data's marginals).
    """

    def __init__(self, logits: Tensor, learnable: bool = False) -> None:
        super().__init__()
        logits = torch.as_tensor(logits, dtype=_float_dtype(logits)).detach().clone()
        if logits.dim() == 0 or not bool(torch.isfinite(logits).all()):
            raise ConfigError("Bernoulli: logits must be a finite tensor with at least one dimension.")
        if learnable:
            self.logits = nn.Parameter(logits)
        else:
            self.register_buffer("logits", logits)

    @classmethod
    def from_means(cls, means: Tensor, eps: float = 1e-3) -> Bernoulli:
        """The base with P(x_i = 1) = mean_i clipped to [eps, 1 − eps] (e.g. the data's pixel means)."""
        p = torch.as_tensor(means, dtype=torch.get_default_dtype()).clamp(eps, 1 - eps)
        return cls(torch.log(p) - torch.log1p(-p))

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.logits.shape)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        n = positive_count(n, "Bernoulli.sample")
        device = generator.device if generator is not None else self.logits.device
        u = torch.rand((n, *self.event_shape), generator=generator, device=device, dtype=self.logits.dtype)
        (logits,) = _on(self, ("logits",), device)
        return (u < torch.sigmoid(logits)).to(self.logits.dtype)

    def conditional_logits(self, x: Tensor, index: Tensor) -> Tensor:
        """E₀(x; x_i = 0) − E₀(x; x_i = 1) = logit_i for E₀ = −log q (Gibbs on a path from this base), ``(n, |index|)``."""
        (logits,) = _on(self, ("logits",), x.device)
        return logits.reshape(-1)[index].to(x.dtype).expand(x.shape[0], -1)

    def log_prob(self, x: Tensor) -> Tensor:
        check_event(x, self.event_shape, "Bernoulli.log_prob")
        (logits,) = _on(self, ("logits",), x.device)
        terms = x * logits - F.softplus(logits)
        return terms.reshape(x.shape[0], -1).sum(1)


class Uniform(nn.Module):
    """Uniform on the box [low, high] (elementwise, shapes = event shape): log q = −Σ log(high − low) inside, −∞
    outside. x = low + (high − low)·u, u ~ U(0, 1)."""

    low: Tensor
    high: Tensor

    def __init__(self, low: Tensor | float, high: Tensor | float, event_shape: Sequence[int] | None = None) -> None:
        super().__init__()
        lo = torch.as_tensor(low, dtype=torch.get_default_dtype())
        hi = torch.as_tensor(high, dtype=torch.get_default_dtype())
        if event_shape is not None:
            lo, hi = lo.expand(tuple(event_shape)).clone(), hi.expand(tuple(event_shape)).clone()
        if lo.dim() == 0 or lo.shape != hi.shape or not bool(torch.isfinite(lo).all() & torch.isfinite(hi).all()):
            raise ConfigError("Uniform: low and high must be finite with one (equal) event shape; pass event_shape=.")
        if not bool((hi > lo).all()):
            raise ConfigError("Uniform: every high must exceed its low.")
        self.register_buffer("low", lo, persistent=False)
        self.register_buffer("high", hi, persistent=False)

    @classmethod
    def symmetric(cls, scale: float, event_shape: Sequence[int]) -> Uniform:
        """Uniform on [−scale, scale]^event_shape."""
        return cls(-float(scale), float(scale), event_shape)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.low.shape)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        n = positive_count(n, "Uniform.sample")
        device = generator.device if generator is not None else self.low.device
        u = torch.rand((n, *self.event_shape), generator=generator, device=device, dtype=self.low.dtype)
        low, high = _on(self, ("low", "high"), device)
        return u.mul_(high - low).add_(low)

    def log_prob(self, x: Tensor) -> Tensor:
        check_event(x, self.event_shape, "Uniform.log_prob")
        low, high = _on(self, ("low", "high"), x.device)
        inside = ((x >= low) & (x <= high)).reshape(x.shape[0], -1).all(1)
        value = -torch.log(high - low).sum().to(x.dtype)
        return torch.where(inside, value, torch.full_like(value, -math.inf))
