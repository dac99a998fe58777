"""A normalised mixture energy for EBA's output marginal: components that can hold atoms and heavy tails.

E_φ(x) = −ln Σ_k π_k f_k(x), with π = softmax(logits) and each f_k a diagonal Gaussian N(μ_k, s_k²) or a
diagonal Laplace L(μ_k, a_k) (density Π_i e^{−|x_i − μ_ki|/a_ki} / (2a_ki)). It is normalised (ln Z = 0), so it has
exact draws (:meth:`MixtureEnergy.sample`), which EBA uses for independence jumps of its chains.

Why this family: optimal output marginals need not be smooth densities. For a Laplace(b) source under |x − y|
the backward channel is y = x + n, n ~ Laplace(1/β), and the characteristic functions give
r*(x) = (bβ)^{−2} δ_0(x) + (1 − (bβ)^{−2}) Laplace(x; b) for β ≥ 1/b (D = 1/β): an atom that no Gaussian,
and no smooth energy of bounded curvature, holds. A narrow component (scale floor ``min_log_scale``) stands in
for an atom; its cost in rate vanishes with its width. A Gaussian r is the one-component special case.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ebmlab.errors import ConfigError

__all__ = ["KINDS", "MixtureEnergy", "mixture_abs_terms"]

KINDS = ("gaussian", "laplace")


class MixtureEnergy(nn.Module):
    """E(x) = −ln Σ_k π_k f_k(x) over components of ``kinds`` (each "gaussian" or "laplace"), diagonal in x."""

    is_laplace: Tensor

    def __init__(
        self,
        dim: int,
        kinds: Sequence[str] = ("laplace", "gaussian"),
        init_scales: Sequence[float] | None = None,
        min_log_scale: float = -7.0,
    ) -> None:
        super().__init__()
        if not kinds or any(k not in KINDS for k in kinds):
            raise ConfigError(f"MixtureEnergy: kinds must be a non-empty list of {KINDS}, got {list(kinds)!r}.")
        scales = list(init_scales) if init_scales is not None else [1.0] * len(kinds)
        if len(scales) != len(kinds) or not all(s > 0 for s in scales):
            raise ConfigError("MixtureEnergy: init_scales needs one positive scale per component.")
        self.dim, self.kinds, self.min_log_scale = int(dim), tuple(kinds), float(min_log_scale)
        k = len(self.kinds)
        self.logits = nn.Parameter(torch.zeros(k))
        self.loc = nn.Parameter(torch.zeros(k, self.dim))
        self.log_scale = nn.Parameter(torch.tensor(scales).log()[:, None].repeat(1, self.dim))
        self.register_buffer("is_laplace", torch.tensor([kd == "laplace" for kd in self.kinds]))

    def scale(self) -> Tensor:
        """Component scales (k, dim): s_k for Gaussians, a_k for Laplace components."""
        return self.log_scale.clamp_min(self.min_log_scale).exp()

    def weights(self) -> Tensor:
        return torch.softmax(self.logits, 0)

    def component_log_density(self, x: Tensor) -> Tensor:
        """ln f_k(x) for every component, (n, k)."""
        s = self.scale()
        z = (x[:, None, :] - self.loc[None]) / s[None]
        gauss = (-0.5 * z.square() - 0.5 * math.log(2 * math.pi)).sum(-1)
        lap = (-z.abs() - math.log(2.0)).sum(-1)
        return torch.where(self.is_laplace[None], lap, gauss) - s.log().sum(-1)[None]

    def forward(self, x: Tensor) -> Tensor:
        return -torch.logsumexp(torch.log_softmax(self.logits, 0)[None] + self.component_log_density(x), 1)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Exact draws from p(x) = e^{−E(x)}: a component by its weight, then x from it."""
        with torch.no_grad():
            k = torch.multinomial(self.weights(), n, replacement=True, generator=generator)
            where = self.loc.device  # the generator must draw there (a CUDA generator for a mixture on a GPU)
            e = torch.randn(n, self.dim, generator=generator, device=where)
            u = torch.rand(n, self.dim, generator=generator, device=where).clamp(1e-12, 1 - 1e-12) - 0.5
            lap = -u.sign() * torch.log1p(-2 * u.abs())  # standard Laplace by the inverse CDF
            z = torch.where(self.is_laplace[k][:, None], lap, e)
            return self.loc[k] + self.scale()[k] * z

    def gaussian(self) -> tuple[Tensor, Tensor] | None:
        return None

    def whitening(self) -> tuple[Tensor, Tensor]:
        """(mean, standard deviation) of the mixture per coordinate: the chains' preconditioner."""
        with torch.no_grad():
            w = self.weights()[:, None]
            var = torch.where(self.is_laplace[:, None], 2.0, 1.0) * self.scale().square()
            mean = (w * self.loc).sum(0)
            total = (w * (var + self.loc.square())).sum(0) - mean.square()
            return mean, total.clamp_min(1e-12).sqrt()


def mixture_abs_terms(energy: MixtureEnergy, beta: float) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """Exact ``(ln Z_r(y), D_Q(y))`` for r = ``energy`` under ρ = Σ_i |x_i − y_i| (no Monte Carlo over r).

    Z_r(y) = Σ_k π_k Π_i z_ki(y_i) with d = y_i − μ_ki and, per coordinate,

    * Laplace(μ, a), α = 1/a, δ = α − β: z = α/(α + β) · e^{−β|d|} · (1 + β f), f = (1 − e^{−δ|d|})/δ (→ |d| at δ = 0);
    * Gaussian(μ, s): z = e^{β²s²/2} [e^{−βd} Φ(d/s − βs) + e^{βd} Φ(−d/s − βs)];

    and D_Q(y) = −∂ ln Z_r(y)/∂β (autograd in float64), since ∂Z/∂β = −E_r[ρ e^{−βρ}].
    """
    with torch.no_grad():
        log_w = torch.log_softmax(energy.logits.detach().double(), 0)
        loc, scale = energy.loc.detach().double(), energy.scale().detach().double()
        lap = energy.is_laplace[:, None].expand_as(loc)

    def log_z(y: Tensor, b: Tensor) -> Tensor:
        d = y[:, None, :] - loc[None]  # (n, k, dim)
        ad = d.abs().clamp_min(1e-200)
        alpha = 1.0 / scale[None]
        delta = alpha - b
        delta = delta + (delta.abs() < 1e-9) * 2e-9  # f is smooth in δ; keep clear of 0/0 (and keep ∂/∂β)
        log_f = torch.log(-torch.expm1(-delta.abs() * ad)) - delta.abs().log() + (delta < 0) * (delta.abs() * ad)
        z_lap = alpha.log() - (alpha + b).log() - b * ad + torch.logaddexp(torch.zeros_like(log_f), b.log() + log_f)
        s = scale[None]
        z_gauss = 0.5 * (b * s) ** 2 + torch.logaddexp(
            -b * d + torch.special.log_ndtr(d / s - b * s), b * d + torch.special.log_ndtr(-d / s - b * s)
        )
        per = torch.where(lap[None], z_lap, z_gauss).sum(-1)
        return torch.logsumexp(log_w[None] + per, 1)

    def terms(y: Tensor) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():  # one β per y, so the gradient of the sum is each y's own derivative
            b = torch.full((y.shape[0], 1, 1), float(beta), dtype=torch.float64, device=y.device, requires_grad=True)
            lz = log_z(y.double(), b)
            (grad,) = torch.autograd.grad(lz.sum(), b)
        return lz.detach(), -grad.reshape(-1)

    return terms
