"""1-D quartic double well U(x) = x⁴ + b x² + c x, with exact log Z (quadrature) and exact samples.

The quartic 1-D density ∝ exp(-U) is also the building block of ``ManyWell``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from scipy import integrate, optimize
from torch import Tensor

from ebmlab.errors import ConfigError
from ebmlab.targets.base import Target

__all__ = ["DoubleWell", "QuarticWell"]

_F64 = torch.float64
_TAIL = 25.0  # bounds: where U rises _TAIL above its minimum (mass outside < 1e-10)


class QuarticWell:
    """The 1-D density f(x) ∝ exp(-U(x)), U(x) = x⁴ + b x² + c x, with two wells (b < 0, |c| small).

    Everything here is float64 numpy/scipy: ``log_z`` by adaptive quadrature split at the barrier, and
    an exact rejection sampler whose proposal is a 2-component Gaussian mixture q centred on the minima
    (weights = well masses). The bound log M ≥ sup(-U - log q) is a refined grid maximum plus a margin,
    and is *verified* on the tails: beyond the grid, -U - log q ≤ -U - log(w_j N(x; m_j, s_j²)), a quartic
    shown to be monotone there and below log M.
    """

    def __init__(self, b: float, c: float) -> None:
        self.b, self.c = float(b), float(c)
        roots = np.roots([4.0, 0.0, 2.0 * self.b, self.c])
        real = np.sort(roots[np.abs(roots.imag) < 1e-9].real)
        if real.size != 3 or np.min(np.diff(real)) < 1e-6:
            raise ConfigError(
                f"QuarticWell: U(x) = x⁴ + b x² + c x with b={b}, c={c} has no double well "
                "(U' needs three distinct real roots, e.g. b=-4, c=1)"
            )
        du = self.du
        self.minima: tuple[float, float] = (
            float(optimize.brentq(du, real[0] - 1.0, 0.5 * (real[0] + real[1]), xtol=1e-15)),
            float(optimize.brentq(du, 0.5 * (real[1] + real[2]), real[2] + 1.0, xtol=1e-15)),
        )
        self.barrier = float(optimize.brentq(du, real[0] + 1e-9, real[2] - 1e-9, xtol=1e-15))
        self.u_min = min(self.u(m) for m in self.minima)
        shifted = lambda x: math.exp(-(self.u(x) - self.u_min))  # noqa: E731
        left, _ = integrate.quad(shifted, -np.inf, self.barrier, epsabs=0.0, epsrel=1e-13, limit=200)
        right, _ = integrate.quad(shifted, self.barrier, np.inf, epsabs=0.0, epsrel=1e-13, limit=200)
        self.log_z = math.log(left + right) - self.u_min
        self.left_mass = left / (left + right)
        lo = optimize.brentq(lambda x: self.u(x) - self.u_min - _TAIL, self.minima[0] - 50, self.minima[0])
        hi = optimize.brentq(lambda x: self.u(x) - self.u_min - _TAIL, self.minima[1], self.minima[1] + 50)
        self.bounds = (math.floor(lo * 10) / 10, math.ceil(hi * 10) / 10)
        self._build_envelope()

    def u(self, x: float | np.ndarray) -> float | np.ndarray:
        return x**4 + self.b * x**2 + self.c * x

    def du(self, x: float | np.ndarray) -> float | np.ndarray:
        return 4 * x**3 + 2 * self.b * x + self.c

    def _log_q(self, x: np.ndarray, stds: tuple[float, float]) -> np.ndarray:
        terms = [
            math.log(w) - math.log(s * math.sqrt(2 * math.pi)) - 0.5 * ((x - m) / s) ** 2
            for w, m, s in zip(self.weights, self.minima, stds, strict=True)
        ]
        return np.logaddexp(terms[0], terms[1])

    def _log_bound(self, stds: tuple[float, float]) -> float:
        """sup_x [-U(x) - log q(x)]: grid maximum refined by bounded Brent at each grid local max."""
        lo, hi = self._grid
        x = np.linspace(lo, hi, 40001)
        g = -self.u(x) - self._log_q(x, stds)
        h = x[1] - x[0]
        peaks = np.flatnonzero((g[1:-1] >= g[:-2]) & (g[1:-1] >= g[2:])) + 1
        best = float(g.max())
        for i in peaks:
            res = optimize.minimize_scalar(
                lambda t: float(self.u(t) + self._log_q(np.asarray(t), stds)),
                bounds=(x[i] - h, x[i] + h),
                method="bounded",
                options={"xatol": 1e-12},
            )
            best = max(best, -float(res.fun))
        return best

    def _build_envelope(self) -> None:
        self.weights = (self.left_mass, 1.0 - self.left_mass)
        base = tuple(1.0 / math.sqrt(12 * m**2 + 2 * self.b) for m in self.minima)
        lo, hi = self.bounds
        self._grid = (lo - 1.0, hi + 1.0)
        best: tuple[float, tuple[float, float]] | None = None
        for inflate in np.linspace(1.0, 2.0, 21):  # pick the widths giving the highest acceptance
            stds = (float(base[0] * inflate), float(base[1] * inflate))
            log_m = self._log_bound(stds)
            if best is None or log_m < best[0]:
                best = (log_m, stds)
        assert best is not None
        self.log_m = best[0] + 1e-6  # safety margin on top of the refined maximum
        self.stds = best[1]
        self._verify_tails()
        self.acceptance = math.exp(self.log_z - self.log_m)

    def _verify_tails(self) -> None:
        """Check -U - log q ≤ log M beyond the grid, through the single-component quartic upper bound."""
        for side, (w, m, s) in enumerate(zip(self.weights, self.minima, self.stds, strict=True)):
            edge = self._grid[side]
            const = -math.log(w) + math.log(s * math.sqrt(2 * math.pi))

            def bound(x: float, m: float = m, s: float = s, const: float = const) -> float:
                return float(-self.u(x) + 0.5 * ((x - m) / s) ** 2 + const)

            # derivative of the bound: -U'(x) + (x - m)/s², a cubic with leading coefficient -4
            crit = np.roots([-4.0, 0.0, -2.0 * self.b + 1.0 / s**2, -self.c - m / s**2])
            crit = crit[np.abs(crit.imag) < 1e-9].real
            monotone = crit.max() < edge if side == 1 else crit.min() > edge
            if not (monotone and bound(edge) < self.log_m):
                raise RuntimeError("QuarticWell: rejection envelope failed its tail verification")

    def sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """n exact samples (float64, shape (n,)) by rejection from the Gaussian-mixture envelope."""
        out: list[Tensor] = []
        need = n
        m = torch.tensor(self.minima, dtype=_F64, device=device)
        s = torch.tensor(self.stds, dtype=_F64, device=device)
        w0 = self.weights[0]
        ln_w = [
            math.log(w) - math.log(sd * math.sqrt(2 * math.pi)) for w, sd in zip(self.weights, self.stds, strict=True)
        ]
        ln_w_t = torch.tensor(ln_w, dtype=_F64, device=device)
        while need > 0:
            k = int(need / self.acceptance * 1.1) + 32
            comp = (torch.rand(k, generator=generator, dtype=_F64, device=device) >= w0).long()
            x = m[comp] + s[comp] * torch.randn(k, generator=generator, dtype=_F64, device=device)
            log_q = torch.logsumexp(ln_w_t - 0.5 * ((x[:, None] - m) / s) ** 2, dim=1)
            log_ratio = -(x**4 + self.b * x**2 + self.c * x) - log_q - self.log_m
            u = torch.rand(k, generator=generator, dtype=_F64, device=device)
            acc = x[torch.log(u) < log_ratio]
            out.append(acc[:need])
            need -= out[-1].numel()
        return torch.cat(out) if out else torch.empty(0, dtype=_F64, device=device)


@lru_cache(maxsize=16)
def quartic_well(b: float, c: float) -> QuarticWell:
    """Cached ``QuarticWell(b, c)`` (construction runs quadrature and builds the envelope)."""
    return QuarticWell(b, c)


class DoubleWell(Target):
    """1-D double well E(x) = x⁴ + b x² + c x (default b = -4, c = 1: U = x⁴ − 4x² + x), event shape (1,).

    ∇E = 4x³ + 2bx + c. log Z = log ∫ exp(-U) dx by adaptive quadrature (5.032284 for the defaults).
    ``barrier`` is the local maximum of U between the wells (root of U'), ``left_well_mass()`` the exact
    mass left of it (0.9335 for the defaults). Exact samples by rejection (see ``QuarticWell``).
    """

    def __init__(self, b: float = -4.0, c: float = 1.0, name: str = "double-well") -> None:
        self._well = quartic_well(float(b), float(c))
        self.b, self.c = float(b), float(c)
        super().__init__(name, (1,), (self._well.bounds,))

    @property
    def barrier(self) -> float:
        """x of the local maximum of U between the two wells."""
        return self._well.barrier

    @property
    def minima(self) -> tuple[float, float]:
        """x of the left and right minima of U."""
        return self._well.minima

    def left_well_mass(self) -> float:
        """P(x < barrier), exact (quadrature)."""
        return self._well.left_mass

    def energy(self, x: Tensor) -> Tensor:
        x = self._check(x)[:, 0]
        x2 = x * x
        return (x2 + self.b) * x2 + self.c * x

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self._check(x).detach()
        x2 = x * x
        e = ((x2 + self.b) * x2 + self.c * x)[:, 0]
        return e, (4.0 * x2 + 2.0 * self.b) * x + self.c

    def log_z(self) -> float:
        return float(self._well.log_z)

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        return self._well.sample(n, generator, device)[:, None]
