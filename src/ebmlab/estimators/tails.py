"""Whether importance weights stay bounded in the tails: the energy and the proposal probed along rays.

Importance weights w = exp(−E)/q have a finite variance when they are bounded, i.e. when the proposal's tails
are at least as heavy as the target's (e.g. Owen, *Monte Carlo theory, methods and examples*, 2013, §9.1). A
sample of n draws rarely reaches the far tails, so neither its SE nor the Pareto k̂ of its largest weights
(itself uncertain by ≈ (1 + k)/√M from M tail draws) can show a tail where the weights keep growing. This
check looks there directly, deterministically: along rays x(r) = μ + r·s_u·u from the proposal's mean μ,
with s_u = √(uᵀΣu) the proposal's standard deviation along the unit vector u, it evaluates

    ℓ(r) = −E(x(r)) − log q(x(r))     at r = 10³ and r = 10⁴,

and reports the growth rate g = (ℓ(10⁴) − ℓ(10³)) / log 10 (w ∝ r^g over that decade) of the worst ray.

**Fixed rays**: ± each coordinate axis (a product of heavy-tailed factors is heaviest there) and ± each
principal axis of Σ. **Searched directions**: a heavy direction need be neither (a product of Student-t
factors in rotated coordinates x = Rz: along a ray that crosses m of its factors the target falls as
r^(−(ν+1)m), so only rays within ≈ 1/r of a few of R's columns are heavy, and every fixed ray sees g < 0). So
the largest ℓ over each sphere, M(r) = max_{|v|=1} ℓ(μ + r·Lv) (whitened coordinates, Σ = LLᵀ; r the
Mahalanobis radius, = r·s_u on the fixed rays when Σ is isotropic), is also searched for: projected
gradient ascent over the unit sphere (autograd through E and log q; a normalised step of angle η, η × 1.5 on
an increase, × 0.25 otherwise, ``steps`` steps a stage) at r = 10, 10², …, 10³, 10⁴, each stage started
where the last ended — a heavy axis is a wide basin at r = 10 and a ridge of width ≈ 1/r at r = 10⁴. The
starts are the ``starts`` points (the caller's largest-weight draws: where the sample already saw the
weights large) and the ``n_best`` fixed rays with the largest ℓ(10⁴). The searched growth rate is
(M̂(10⁴) − M̂(10³)) / log 10, each M̂ the largest ℓ over every start's directions at the end of the 10³ and
the 10⁴ stage — the two maxima, not one straight ray's two ends: a curved light ridge (a banana,
x₁ ≈ x₀²/2) puts the best direction at 10⁴ far off the ridge at 10³, so ℓ rises along that ray (g ≈ 10⁵)
while M(r) falls. w is bounded iff M is. On the rotated product (d = 6, ν = 3, under a ν = 5 t proposal) the
fixed rays give g = −13, the search g = 7 (w ∝ r⁷: target r⁻⁴, proposal r⁻¹¹). M̂ ≤ M, so an ascent that
falls short at 10³ biases g up (a possible false alarm, never a miss of that kind); one that falls short at
10⁴ biases it down, and a heavy direction whose basin no start lies in is missed.

g > 0 means the weights grow without bound; a Student-t (ν = 3) product under a ν = 5 multivariate-t
proposal in 5-D gives g = 6 along each axis (w ∝ r⁶: target r⁻⁴, proposal r⁻¹⁰), a Gaussian target under any
Student-t proposal a large negative g. Rays where E or log q is NaN are skipped; E = +∞ (zero density)
counts as bounded; a search step to a non-finite ℓ or gradient is rejected, and an energy (or proposal)
autograd cannot differentiate is searched no further (the fixed rays still count). Cost: 8·d evaluations for
the fixed rays, plus per start stages × (``steps`` + 1) with gradient and 4 without: 8 × (4 × 11 + 4) = 384
by default.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.densities import Density
from ebmlab.energies.base import EnergyFn, energy_and_grad, evaluate_energy

__all__ = ["tail_growth"]


def _rays(cov: Tensor) -> tuple[Tensor, list[str]]:
    d = cov.shape[0]
    _, evecs = torch.linalg.eigh(cov)
    dirs = torch.cat([torch.eye(d, dtype=torch.float64, device=cov.device), evecs.T.to(torch.float64)])
    names = [f"coordinate axis {k}" for k in range(d)] + [f"principal axis {k}" for k in range(d)]
    return torch.cat([dirs, -dirs]), [f"+{n}" for n in names] + [f"−{n}" for n in names]


def _ell(energy: EnergyFn, proposal: Density, x: Tensor) -> Tensor:
    shape = (-1, *tuple(proposal.event_shape))
    return -evaluate_energy(energy, x.reshape(shape)).to(torch.float64) - proposal.log_prob(x.reshape(shape))


def _ell_grad(energy: EnergyFn, proposal: Density, x: Tensor) -> tuple[Tensor, Tensor]:
    """ℓ(x) and ∇ₓℓ for rows x (float64, flattened events)."""
    shape = (-1, *tuple(proposal.event_shape))
    e, ge = energy_and_grad(energy, x.reshape(shape))
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        lq = proposal.log_prob(xg.reshape(shape)).to(torch.float64)
        (gq,) = torch.autograd.grad(lq.sum(), xg)
    return -e.to(torch.float64) - lq.detach(), -ge.reshape(x.shape).to(torch.float64) - gq


def _growth(ell_in: Tensor, ell_out: Tensor, ratio: float) -> Tensor:
    g = (ell_out - ell_in) / math.log(ratio)
    g = torch.where(torch.isneginf(ell_out), torch.full_like(g, -math.inf), g)  # zero density far out: bounded
    return torch.where(torch.isnan(g), torch.full_like(g, -math.inf), g)


def _ascend(energy: EnergyFn, proposal: Density, mean: Tensor, chol: Tensor, v: Tensor, r: float, steps: int) -> Tensor:
    """``steps`` normalised projected-gradient steps of ℓ(μ + r·Lv) over the unit sphere, per row of v."""
    f, gx = _ell_grad(energy, proposal, mean + r * v @ chol.T)
    eta = torch.full((v.shape[0],), 0.3, dtype=torch.float64, device=v.device)
    for _ in range(steps):
        gv = r * gx @ chol  # ∇_v ℓ = r·Lᵀ∇ₓℓ
        t = gv - (gv * v).sum(1, keepdim=True) * v
        t = t / t.norm(dim=1, keepdim=True).clamp_min(1e-300)
        v_new = v + eta[:, None] * t
        v_new = v_new / v_new.norm(dim=1, keepdim=True)
        f_new, g_new = _ell_grad(energy, proposal, mean + r * v_new @ chol.T)
        ok = (f_new > f) & torch.isfinite(f_new) & torch.isfinite(g_new).all(1) & torch.isfinite(t).all(1)
        v, f, gx = torch.where(ok[:, None], v_new, v), torch.where(ok, f_new, f), torch.where(ok[:, None], g_new, gx)
        eta = torch.where(ok, (1.5 * eta).clamp_max(1.0), 0.25 * eta)
    return v


@torch.no_grad()
def tail_growth(
    energy: EnergyFn,
    proposal: Density,
    mean: Tensor,
    cov: Tensor,
    radii: tuple[float, float] = (1e3, 1e4),
    starts: Tensor | None = None,
    n_best: int = 4,
    steps: int = 10,
) -> tuple[float, str]:
    """``(g, ray)``: the largest growth rate d log w / d log r of the weights between the two ``radii`` (in
    proposal standard deviations) — along each fixed ray, and of the largest ℓ the search finds on each
    sphere — and where it occurs (module docstring). ``starts``: points (n, *event) whose directions from
    ``mean`` start searches (e.g. the largest-weight draws); the ``n_best`` fixed rays with the largest ℓ far
    out start more; no starts at all, or ``steps = 0``: the fixed rays only."""
    mean = mean.to(torch.float64).reshape(-1)
    cov = cov.to(torch.float64)
    dirs, names = _rays(cov)
    sd = torch.sqrt(((dirs @ cov) * dirs).sum(1))
    ell = [_ell(energy, proposal, mean + (r * sd)[:, None] * dirs).to(torch.float64) for r in radii]
    g = _growth(ell[0], ell[1], radii[1] / radii[0])
    best = torch.argsort(torch.nan_to_num(ell[1], nan=-math.inf), descending=True)[: max(n_best, 0)]
    chol = torch.linalg.cholesky(cov)
    v0 = [torch.linalg.solve_triangular(chol, dirs[best].T, upper=False).T]
    start_names = [f"searched directions (best from the {names[int(k)]})" for k in best]
    if starts is not None and starts.shape[0] > 0:
        diff = starts.to(torch.float64).reshape(starts.shape[0], -1) - mean
        v0.append(torch.linalg.solve_triangular(chol, diff.T, upper=False).T)
        start_names += [f"searched directions (best from large-weight draw {k})" for k in range(starts.shape[0])]
    v = torch.cat(v0)
    keep = torch.isfinite(v).all(1) & (v.norm(dim=1) > 0)
    v, start_names = v[keep], [n for n, kept in zip(start_names, keep.tolist(), strict=True) if kept]
    if v.shape[0] == 0 or steps <= 0:
        k = int(torch.argmax(g))
        return float(g[k]), names[k]
    v = v / v.norm(dim=1, keepdim=True)
    inner, outer = radii
    stages = [10.0**j for j in range(1, math.ceil(math.log10(inner)))] + [inner]  # 10, 100, …, inner
    stages += [10.0**j for j in range(math.floor(math.log10(inner)) + 1, math.ceil(math.log10(outer)))] + [outer]
    ends = []
    try:
        for r in stages:
            v = _ascend(energy, proposal, mean, chol, v, r, steps)
            if r in radii:
                ends.append(v)
    except RuntimeError:  # E not differentiable by autograd: the fixed rays only
        k = int(torch.argmax(g))
        return float(g[k]), names[k]
    cand = torch.cat(ends)  # each start's directions at the end of the inner and the outer stage
    m_in, m_out = (torch.nan_to_num(_ell(energy, proposal, mean + r * cand @ chol.T), nan=-math.inf) for r in radii)
    k_out = int(torch.argmax(m_out)) % v.shape[0]
    g_search = _growth(m_in.max().reshape(1), m_out.max().reshape(1), outer / inner)
    g_all = torch.cat([g, g_search])
    k = int(torch.argmax(g_all))
    return float(g_all[k]), [*names, start_names[k_out]][k]
