"""Whether importance weights stay bounded in the tails: the energy and the proposal probed along rays.

Importance weights w = exp(−E)/q have a finite variance when they are bounded, i.e. when the proposal's tails
are at least as heavy as the target's (e.g. Owen, *Monte Carlo theory, methods and examples*, 2013, §9.1). A
sample of n draws rarely reaches the far tails, so neither its SE nor the Pareto k̂ of its largest weights
(itself uncertain by ≈ (1 + k)/√M from M tail draws) can show a tail where the weights keep growing. This
check looks there directly, deterministically: along rays x(r) = μ + r·s_u·u from the proposal's mean μ,
with s_u = √(uᵀΣu) the proposal's standard deviation along the unit vector u, it evaluates

    ℓ(r) = −E(x(r)) − log q(x(r))     at r = 10³ and r = 10⁴,

and reports the growth rate g = (ℓ(10⁴) − ℓ(10³)) / log 10 (w ∝ r^g over that decade) of the worst ray. The
rays are ± each coordinate axis (a product of heavy-tailed factors is heaviest there) and ± each principal
axis of Σ. g > 0 means the weights grow without bound along that ray; a Student-t (ν = 3) product under a
ν = 5 multivariate-t proposal in 5-D gives g = 6 along each axis (w ∝ r⁶: target r⁻⁴, proposal r⁻¹⁰), a
Gaussian target under any Student-t proposal a large negative g. Rays where E or log q is NaN are skipped;
E = +∞ (zero density) counts as bounded. Cost: 8·d energy evaluations.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.densities import Density
from ebmlab.energies.base import EnergyFn, evaluate_energy

__all__ = ["tail_growth"]


def _rays(cov: Tensor) -> tuple[Tensor, list[str]]:
    d = cov.shape[0]
    _, evecs = torch.linalg.eigh(cov)
    dirs = torch.cat([torch.eye(d, dtype=torch.float64), evecs.T.to(torch.float64)])
    names = [f"coordinate axis {k}" for k in range(d)] + [f"principal axis {k}" for k in range(d)]
    return torch.cat([dirs, -dirs]), [f"+{n}" for n in names] + [f"−{n}" for n in names]


@torch.no_grad()
def tail_growth(
    energy: EnergyFn, proposal: Density, mean: Tensor, cov: Tensor, radii: tuple[float, float] = (1e3, 1e4)
) -> tuple[float, str]:
    """``(g, ray)``: the largest growth rate d log w / d log r of the weights between the two ``radii`` (in
    proposal standard deviations along each ray) and the ray where it occurs (module docstring)."""
    mean = mean.to(torch.float64).reshape(-1)
    cov = cov.to(torch.float64)
    dirs, names = _rays(cov)
    sd = torch.sqrt(((dirs @ cov) * dirs).sum(1))
    shape = tuple(proposal.event_shape)
    ell = []
    for r in radii:
        x = (mean + (r * sd)[:, None] * dirs).reshape(-1, *shape)
        ell.append(-evaluate_energy(energy, x).to(torch.float64) - proposal.log_prob(x).to(torch.float64))
    g = (ell[1] - ell[0]) / math.log(radii[1] / radii[0])
    g = torch.where(torch.isneginf(ell[1]), torch.full_like(g, -math.inf), g)  # zero density far out: bounded
    g = torch.where(torch.isnan(g), torch.full_like(g, -math.inf), g)
    k = int(torch.argmax(g))
    return float(g[k]), names[k]
