"""2-D toy densities with exact samplers: eight Gaussians, rings, checkerboard, moons, spirals.

All are normalised (E = −log p, log Z = 0). Moons and spirals are defined by an explicit generative
process (a point on a curve plus Gaussian noise); their energy is a high-order quadrature of the exact
density and is flagged ``log_prob_is_approximate``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from ebmlab.errors import ConfigError
from ebmlab.targets.base import Target
from ebmlab.targets.gmm import GaussianMixture, circle_means

__all__ = ["Checkerboard", "CurveTarget", "Moons", "Rings", "Spirals", "eight_gaussians"]

_F64 = torch.float64
_R_MIN = 1e-15  # |x| is clamped here in Rings (the density has an integrable 1/|x| spike at 0)

Curve = Callable[[Tensor], Tensor]


def eight_gaussians(radius: float = 2.0, std: float = 0.2) -> GaussianMixture:
    """``eight-gaussians``: 8 equal-weight N(mₖ, 0.2² I) with means on a circle of radius 2."""
    return GaussianMixture(circle_means(8, radius), std, name="eight-gaussians")


class Rings(Target):
    """Concentric rings: k ~ Categorical(w), r = |rₖ + s ξ| (a reflected normal), θ ~ U(0, 2π).

    The radius density is f(r) = Σₖ wₖ [N(r; rₖ, s²) + N(r; −rₖ, s²)] for r > 0, so
    p(x) = f(|x|) / (2π |x|) exactly, and E = −log f(|x|) + log(2π|x|), a 1-D mixture over the 2K means
    ±rₖ. ∇E = [(r − Σⱼ ρⱼ μⱼ)/s² + 1/r] x/r with ρ the responsibilities of the means μ = (±rₖ).
    (p has an integrable spike ∝ e^{−rₖ²/2s²}/|x| at the origin: |x| is clamped at 1e-15.)
    """

    def __init__(
        self,
        radii: Sequence[float] = (1.0, 2.0, 3.0),
        noise: float = 0.1,
        weights: Sequence[float] | None = None,
        name: str = "rings",
    ) -> None:
        radii_t = torch.as_tensor(radii, dtype=_F64, device="cpu").reshape(-1)  # built on the CPU, moved with .to
        k = radii_t.numel()
        w = (
            torch.full((k,), 1.0 / k, dtype=_F64, device="cpu")
            if weights is None
            else torch.as_tensor(weights, dtype=_F64, device="cpu")
        )
        if k == 0 or bool((radii_t <= 0).any()) or not noise > 0:
            raise ConfigError("Rings: radii must be positive numbers and noise > 0")
        if w.shape != (k,) or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ConfigError(f"Rings: weights must be {k} non-negative numbers, not all zero")
        self.radii, self.noise, self.weights = radii_t, float(noise), w / w.sum()
        extent = float(radii_t.max()) + 7 * self.noise
        super().__init__(name, (2,), ((-extent, extent), (-extent, extent)))

    def _tensors(self) -> dict[str, Tensor]:
        mu = torch.cat((self.radii, -self.radii))
        log_w = torch.cat((self.weights, self.weights)).log()
        coef = log_w - math.log(self.noise * math.sqrt(2 * math.pi)) - math.log(2 * math.pi)
        return {"mu": mu, "coef": coef}

    def _parts(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        c = self._constants(x)
        r = x.square().sum(-1).clamp_min(_R_MIN**2).sqrt()
        logits = c["coef"] - (r[:, None] - c["mu"]).square() * (0.5 / self.noise**2)
        return r, logits, torch.logsumexp(logits, dim=1), c

    def energy(self, x: Tensor) -> Tensor:
        r, _, lse, _ = self._parts(self._check(x))
        return -lse + torch.log(r)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self._check(x).detach()
        r, logits, lse, c = self._parts(x)
        rho = torch.exp(logits - lse[:, None])
        de_dr = (r - rho @ c["mu"]) / self.noise**2 + 1.0 / r
        return -lse + torch.log(r), x * (de_dr / r)[:, None]

    def log_z(self) -> float:
        return 0.0

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        cdf = self.weights.cumsum(0).to(device)
        idx = torch.searchsorted(cdf, torch.rand(n, generator=generator, dtype=_F64, device=device), right=True)
        idx = idx.clamp_(max=self.radii.numel() - 1)
        xi = torch.randn(n, generator=generator, dtype=_F64, device=device)
        r = (self.radii.to(device)[idx] + self.noise * xi).abs()
        theta = 2 * math.pi * torch.rand(n, generator=generator, dtype=_F64, device=device)
        return torch.stack((r * theta.cos(), r * theta.sin()), dim=1)


class Checkerboard(Target):
    """Uniform on the dark squares of an n×n board on [−h, h]² (default 4×4 on [−4, 4]²).

    Square (i, j) (i along x, counted from −h) is dark when i + j is even. E = log(dark area) inside the
    support and +inf outside; ``energy_and_grad`` returns a zero gradient everywhere. Gradient-based MCMC
    therefore cannot move between squares through the energy (and proposals outside are always
    rejected): only exact sampling or moves that jump over the gaps mix on this target.
    """

    def __init__(self, n_squares: int = 4, half_width: float = 4.0, name: str = "checkerboard") -> None:
        if isinstance(n_squares, bool) or not isinstance(n_squares, int) or n_squares < 1:
            raise ConfigError(f"Checkerboard: n_squares must be a positive int, got {n_squares!r}")
        if not half_width > 0:
            raise ConfigError(f"Checkerboard: half_width must be positive, got {half_width!r}")
        self.n_squares, self.half_width = n_squares, float(half_width)
        self.side = 2 * self.half_width / n_squares
        cells = [(i, j) for i in range(n_squares) for j in range(n_squares) if (i + j) % 2 == 0]
        self._dark = torch.tensor(cells, dtype=_F64)
        self.area = len(cells) * self.side**2
        h = self.half_width
        super().__init__(name, (2,), ((-h, h), (-h, h)))

    def inside(self, x: Tensor) -> Tensor:
        """Boolean ``(n,)``: x on a dark square."""
        ij = torch.floor((self._check(x) + self.half_width) / self.side)
        on_board = ((ij >= 0) & (ij < self.n_squares)).all(-1)
        return on_board & (ij.sum(-1).remainder(2) == 0)

    def energy(self, x: Tensor) -> Tensor:
        x = self._check(x)
        e = torch.where(self.inside(x), x.new_tensor(math.log(self.area)), x.new_tensor(math.inf))
        return e + 0.0 * x.sum(-1)  # keeps E in x's autograd graph (with a zero gradient)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self._check(x).detach()
        e = torch.where(self.inside(x), x.new_tensor(math.log(self.area)), x.new_tensor(math.inf))
        return e, torch.zeros_like(x)

    def log_z(self) -> float:
        return 0.0

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        k = self._dark.shape[0]
        idx = torch.randint(k, (n,), generator=generator, device=device)
        u = torch.rand(n, 2, generator=generator, dtype=_F64, device=device)
        return (self._dark.to(device)[idx] + u) * self.side - self.half_width


class CurveTarget(Target):
    """A curve blurred by Gaussian noise: segment s ~ Categorical(W), t ~ U(aₛ, bₛ), x = cₛ(t) + σ ξ.

    The exact density p(x) = Σₛ Wₛ/(bₛ − aₛ) ∫ N(x; cₛ(t), σ² I) dt is evaluated by composite
    Gauss–Legendre quadrature in t: ``n_panels`` panels of equal arc length per segment, 16 nodes each
    (192 nodes for moons, 640 for spirals). The quadrature density is itself a normalised Gaussian
    mixture (positive weights summing to 1), so log Z = 0 holds exactly for ``energy``, which is
    E = −log p with its analytic gradient. It matches the sampler's density to ≲1e-7 relative error for
    the defaults (measured max: moons 1e-11, spirals 2e-8), hence ``log_prob_is_approximate = True``;
    ``sample`` is exact.
    """

    log_prob_is_approximate: bool = True
    _ORDER = 16

    def __init__(
        self,
        name: str,
        segments: Sequence[tuple[float, float, float, Curve]],
        noise: float,
        n_panels: int,
    ) -> None:
        if not noise > 0:
            raise ConfigError(f"{name}: noise must be positive, got {noise!r}")
        if isinstance(n_panels, bool) or not isinstance(n_panels, int) or n_panels < 1:
            raise ConfigError(f"{name}: n_panels must be a positive int, got {n_panels!r}")
        self.noise = float(noise)
        self._segments = list(segments)
        seg_w = torch.tensor([s[0] for s in self._segments], dtype=_F64)
        self._seg_weights = seg_w / seg_w.sum()
        gl_x, gl_w = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(self._ORDER))
        points, weights = [], []
        for (_, a, b, curve), w_seg in zip(self._segments, self._seg_weights, strict=True):
            edges = self._arc_length_edges(curve, a, b, n_panels)
            lo, hi = edges[:-1, None], edges[1:, None]
            t = (0.5 * (lo + hi) + 0.5 * (hi - lo) * gl_x).reshape(-1)
            points.append(curve(t))
            weights.append(w_seg * (0.5 * (hi - lo) * gl_w).reshape(-1) / (b - a))
        self._mixture = GaussianMixture(torch.cat(points), self.noise, torch.cat(weights), name=name)
        super().__init__(name, (2,), self._mixture.bounds)

    @staticmethod
    def _arc_length_edges(curve: Curve, a: float, b: float, n_panels: int) -> Tensor:
        """Panel edges in t splitting the curve into pieces of equal arc length (from a dense polyline)."""
        t = torch.linspace(a, b, 4097, dtype=_F64)
        arc = torch.cat((t.new_zeros(1), curve(t).diff(dim=0).norm(dim=1).cumsum(0)))
        levels = np.linspace(0.0, float(arc[-1]), n_panels + 1)
        edges = torch.from_numpy(np.interp(levels, arc.numpy(), t.numpy()))
        edges[0], edges[-1] = a, b
        return edges

    @property
    def n_nodes(self) -> int:
        """Number of quadrature nodes (mixture components) used by ``energy``."""
        return self._mixture.n_components

    def energy(self, x: Tensor) -> Tensor:
        return self._mixture.energy(x)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._mixture.energy_and_grad(x)

    def log_z(self) -> float:
        return 0.0

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        cdf = self._seg_weights.cumsum(0).to(device)
        seg = torch.searchsorted(cdf, torch.rand(n, generator=generator, dtype=_F64, device=device), right=True)
        seg = seg.clamp_(max=len(self._segments) - 1)
        u = torch.rand(n, generator=generator, dtype=_F64, device=device)
        xi = torch.randn(n, 2, generator=generator, dtype=_F64, device=device)
        out = torch.empty(n, 2, dtype=_F64, device=device)
        for s, (_, a, b, curve) in enumerate(self._segments):
            mask = seg == s
            out[mask] = curve(a + (b - a) * u[mask])
        return out + self.noise * xi


class Moons(CurveTarget):
    """Two interleaved half circles (scikit-learn's moons, centred and scaled by ``scale``) plus N(0, σ²I).

    Upper moon: c(t) = scale·(cos t − ½, sin t − ¼), lower moon: −c(t), t ~ U(0, π), each with weight ½.
    """

    def __init__(self, scale: float = 2.0, noise: float = 0.2, n_panels: int = 6) -> None:
        self.scale = float(scale)

        def upper(t: Tensor) -> Tensor:
            return self.scale * torch.stack((t.cos() - 0.5, t.sin() - 0.25), dim=1)

        def lower(t: Tensor) -> Tensor:
            return -upper(t)

        super().__init__("moons", [(0.5, 0.0, math.pi, upper), (0.5, 0.0, math.pi, lower)], noise, n_panels)


class Spirals(CurveTarget):
    """Two Archimedean spiral arms plus N(0, σ²I): c(t) = ±(t/π)(cos t, sin t), t ~ U(π/2, 3π).

    The radius grows from 0.5 to 3 over 1¼ turns; the second arm is the first rotated by π.
    """

    def __init__(self, noise: float = 0.1, n_panels: int = 20) -> None:
        def arm(t: Tensor) -> Tensor:
            return (t / math.pi)[:, None] * torch.stack((t.cos(), t.sin()), dim=1)

        def other(t: Tensor) -> Tensor:
            return -arm(t)

        a, b = 0.5 * math.pi, 3.0 * math.pi
        super().__init__("spirals", [(0.5, a, b, arm), (0.5, a, b, other)], noise, n_panels)
