"""Proposals built only from what a user has: the energy, its gradient, and compute.

``find_modes`` runs batched multi-start gradient descent on E and merges the end points into distinct
local minima; ``laplace_proposal`` puts a heavy-tailed multivariate Student-t on each mode with the
Laplace covariance Σ_k = (∇²E(m_k))⁻¹ (widened by ``inflate``) and the Laplace mass

    w_k ∝ exp(−E(m_k)) · det(2πΣ_k)^{1/2}     (∫exp(−E) near m_k ≈ that),

so that an importance-sampling proposal or AIS base covers every mode found, in proportion to its
estimated mass, with tails heavier than a Gaussian's. No exact sample of the target is used. Where
the Hessian is not positive definite (a saddle, a flat or curved direction) its eigenvalues are
floored at ``min_curvature`` — the proposal is then wide along those directions.

>>> import torch
>>> energy = lambda x: 0.5 * ((x - 2.0) ** 2).sum(1) / 0.25
>>> q = laplace_proposal(energy, (2,), generator=torch.Generator().manual_seed(0), df=None, inflate=1.0)
>>> [round(v, 3) for v in q.locs[0].tolist()], round(float(q.scales[0][0, 0]), 3)
([2.0, 2.0], 0.5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ebmlab.densities.base import check_event, positive_count
from ebmlab.device_copies import copies_on
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError, NonFiniteError

__all__ = ["MixtureProposal", "Modes", "find_modes", "laplace_proposal"]

_F64 = torch.float64


@dataclass
class Modes:
    """Distinct local minima ``x`` ``(k, *event)`` with energies ``energy`` ``(k,)`` (lowest first) and how
    many descents ended in each (``counts``; for the unseen-modes check of :mod:`ebmlab.estimators.verdict`)."""

    x: Tensor
    energy: Tensor
    n_starts: int
    counts: list[int]
    hessians: list[Tensor]  # ∇²E at each mode (computed once, reused by the Laplace fit)


@torch.no_grad()
def _descend(energy: EnergyFn, x: Tensor, steps: int, lr: float) -> Tensor:
    """Minimise Σᵢ E(xᵢ) over all starts at once: Adam (robust far from minima), then L-BFGS with a
    strong-Wolfe line search (the sum is separable, so each start converges to its own minimum)."""
    x = x.clone().requires_grad_(True)

    def total() -> Tensor:
        e = energy(x)
        return e.masked_fill(~torch.isfinite(e), 0.0).sum()

    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps // 4):
        opt.zero_grad()
        with torch.enable_grad():
            total().backward()
        x.grad.masked_fill_(~torch.isfinite(x.grad), 0.0)  # type: ignore[union-attr, arg-type]
        opt.step()
    lbfgs = torch.optim.LBFGS([x], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        lbfgs.zero_grad()
        with torch.enable_grad():
            value = total()
            value.backward()
        x.grad.masked_fill_(~torch.isfinite(x.grad), 0.0)  # type: ignore[union-attr, arg-type]
        return value

    lbfgs.step(closure)
    return x.detach()


@torch.no_grad()
def find_modes(
    energy: EnergyFn,
    event_shape: tuple[int, ...],
    generator: torch.Generator,
    n_starts: int = 32,
    init_scales: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0),
    steps: int = 600,
    lr: float = 0.1,
    merge_sd: float = 3.0,
    max_modes: int = 32,
) -> Modes:
    """Multi-start descent (Adam on all starts at once) from N(0, s² I) for each s in ``init_scales``
    (an expanding search: a user rarely knows the scale of their energy). End points are merged into the
    lowest mode within ``merge_sd`` Laplace standard deviations of it (Mahalanobis distance under that
    mode's Laplace covariance), so slow descents along flat or curved valleys are not counted as modes.
    Starts whose energy stays non-finite are dropped."""
    n_starts = positive_count(n_starts, "find_modes")
    device = generator.device  # the starts on the run's device
    starts = torch.cat(
        [s * torch.randn((n_starts, *event_shape), generator=generator, dtype=_F64, device=device) for s in init_scales]
    )
    total = starts.shape[0]
    x = _descend(energy, starts, steps, lr)
    e = energy(x).to(_F64)
    keep = torch.isfinite(e)
    if not bool(keep.any()):
        raise NonFiniteError(
            f"find_modes: the energy is non-finite at all {total} descent end points; check the energy, or pass a "
            "proposal explicitly."
        )
    x, e = x[keep], e[keep]
    order = torch.argsort(e)
    x, e = x[order], e[order]
    flat = x.reshape(x.shape[0], -1)
    chosen: list[int] = []
    precisions: list[Tensor] = []
    hessians: list[Tensor] = []
    counts: list[int] = []
    overflow = 0
    for i in range(flat.shape[0]):
        same = None
        for c, j in enumerate(chosen):
            diff = flat[i] - flat[j]
            if float(diff @ precisions[c] @ diff) <= merge_sd**2:
                same = c
                break
        if same is not None:
            counts[same] += 1
        elif len(chosen) < max_modes:
            chosen.append(i)
            counts.append(1)
            hessians.append(_hessian(energy, x[i]))
            precisions.append(_floored(hessians[-1]))
        else:  # beyond max_modes: not used by the proposal, but counted (as new) for the unseen-modes check
            overflow += 1
    idx = torch.tensor(chosen, device=x.device)
    return Modes(x[idx], e[idx], total, counts + [1] * overflow, hessians)


def _floored(h: Tensor, min_curvature: float = 1e-2) -> Tensor:
    evals, evecs = torch.linalg.eigh(h)
    return (evecs * evals.clamp_min(min_curvature)) @ evecs.T


def _hessian(energy: EnergyFn, x: Tensor) -> Tensor:
    """∇²E at one point ``x`` (shape ``event``), by double autograd, symmetrised, float64."""
    d = x.numel()
    rows = []
    with torch.enable_grad():
        v = x.reshape(d).detach().clone().requires_grad_(True)
        g = torch.autograd.grad(energy(v.reshape(1, *x.shape)).sum(), v, create_graph=True)[0]
        for i in range(d):
            (row,) = torch.autograd.grad(g[i], v, retain_graph=True, allow_unused=True)
            rows.append(torch.zeros(d, dtype=_F64) if row is None else row.detach().to(_F64))
    h = torch.stack(rows)
    return 0.5 * (h + h.T)


class MixtureProposal:
    """Σ_k w_k · t_ν(x; m_k, Σ_k) (a Gaussian when ``df`` is None): a Density with ``sample`` and ``log_prob``.

    ``scales`` holds the Cholesky factors L_k of Σ_k. ``describe()`` says how it was built.
    """

    def __init__(
        self,
        locs: Tensor,
        scales: Tensor,
        log_weights: Tensor,
        df: int | None,
        event_shape: tuple[int, ...] | None = None,
        note: str = "",
    ) -> None:
        if df is not None and (isinstance(df, bool) or not isinstance(df, int) or df < 1):
            raise ConfigError(f"MixtureProposal: df must be a positive int (or None for Gaussians), got {df!r}.")
        self.locs, self.scales = locs.to(_F64).reshape(locs.shape[0], -1), scales.to(_F64)
        self.log_weights = torch.log_softmax(log_weights.to(_F64), 0)
        self.df = df
        self.note = note
        self._event = tuple(event_shape) if event_shape is not None else tuple(locs.shape[1:])
        self.d = int(self.locs.shape[1])
        self._log_det = torch.log(torch.diagonal(self.scales, dim1=1, dim2=2)).sum(1)
        self.mode_counts: list[int] = []

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        n = positive_count(n, "MixtureProposal.sample")
        dev = generator.device if generator is not None else self.locs.device  # samples on the generator's device
        locs, scales, log_weights = copies_on(self, ("locs", "scales", "log_weights"), dev)
        comp = torch.multinomial(log_weights.exp(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.d, generator=generator, dtype=_F64, device=dev)
        if self.df is not None:  # t_ν = N(0, I) / √(χ²_ν / ν), χ²_ν a sum of ν squared normals (integer ν)
            chi2 = torch.randn(n, self.df, generator=generator, dtype=_F64, device=dev).square().sum(1)
            eps = eps / torch.sqrt(chi2 / self.df).unsqueeze(1)
        x = locs.reshape(-1, self.d)[comp] + torch.einsum("nij,nj->ni", scales[comp], eps)
        return x.reshape(n, *self._event)

    def log_prob(self, x: Tensor) -> Tensor:
        check_event(x, self._event, "MixtureProposal.log_prob")
        chunk = max(1, 4_000_000 // (self.locs.shape[0] * self.d))  # bounded memory: ~32 MB per chunk
        if x.shape[0] > chunk:
            return torch.cat([self.log_prob(part) for part in torch.split(x, chunk)])
        flat = x.to(_F64).reshape(x.shape[0], self.d)
        locs, scales, log_det, log_weights = copies_on(self, ("locs", "scales", "_log_det", "log_weights"), flat.device)
        # one triangular solve per component with all points as right-hand sides: L_k⁻¹ (x − m_k)ᵀ (broadcasting
        # L_k over the points instead copied it once per point: 40× slower in 100-D)
        maha = torch.stack(
            [
                torch.linalg.solve_triangular(scales[k], (flat - locs[k]).T, upper=False).square().sum(0)
                for k in range(self.locs.shape[0])
            ],
            dim=1,
        )
        d = self.d
        if self.df is None:
            comp = -0.5 * maha - log_det - 0.5 * d * math.log(2 * math.pi)
        else:
            nu = self.df
            const = math.lgamma((nu + d) / 2) - math.lgamma(nu / 2) - 0.5 * d * math.log(nu * math.pi)
            comp = const - log_det - 0.5 * (nu + d) * torch.log1p(maha / nu)
        return torch.logsumexp(comp + log_weights, dim=1).to(x.dtype)

    def describe(self) -> str:
        kind = "Gaussian" if self.df is None else f"Student-t (ν = {self.df})"
        return f"mixture of {self.locs.shape[0]} {kind} component(s) at the modes found; {self.note}".strip()


def laplace_proposal(
    energy: EnergyFn,
    event_shape: tuple[int, ...],
    generator: torch.Generator,
    *,
    n_starts: int = 32,
    init_scales: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0),
    inflate: float = 1.5,
    df: int | None = 5,
    min_curvature: float = 1e-2,
    max_modes: int = 32,
) -> MixtureProposal:
    """A proposal/base from mode search plus Laplace fits (module docstring); ``df=None`` for Gaussians."""
    if not inflate >= 1.0:
        raise ConfigError(f"laplace_proposal: inflate must be >= 1, got {inflate!r}.")
    modes = find_modes(energy, tuple(event_shape), generator, n_starts, init_scales, max_modes=max_modes)
    x, e = modes.x, modes.energy
    chols, log_mass = [], []
    for k in range(x.shape[0]):
        evals, evecs = torch.linalg.eigh(modes.hessians[k])
        evals = evals.clamp_min(min_curvature)
        cov = (evecs / evals) @ evecs.T * inflate**2
        chols.append(torch.linalg.cholesky(0.5 * (cov + cov.T)))
        log_mass.append(-float(e[k]) - 0.5 * float(torch.log(evals).sum()))
    note = f"{len(modes.counts)} distinct minima from {modes.n_starts} descents; covariances × {inflate:g}²"
    q = MixtureProposal(
        x.reshape(x.shape[0], -1), torch.stack(chols), torch.tensor(log_mass, device=x.device), df, event_shape, note
    )
    q.mode_counts = list(modes.counts)
    return q
