"""NLL of low-dimensional (1-D/2-D) energies, normalised exactly-by-quadrature on a box.

A learned energy E_θ need not be normalisable on ℝᵈ (an MLP energy can decrease without bound far from
the data), so the density scored here is the Boltzmann density **restricted to a box** B:

    p_B(x) = exp(−E(x)) / Z_B · 1[x ∈ B],      Z_B = ∫_B exp(−E(x)) dx,

with log Z_B from :func:`ebmlab.estimators.log_z_quadrature` (trapezoidal rule on ``n_points`` nodes per
axis). ``quadrature_error`` = |log Z_h − log Z_2h|, the discretisation error bound of the box integral;
``edge_mass`` = that estimator's estimate of the mass the *unrestricted* density exp(−E) would have beyond
the box (``inf`` where exp(−E) does not decay outward at the box faces) — if it is not small, p_B differs
from exp(−E)/Z on ℝᵈ, and samplers that are not confined to the box sample a different distribution.

NLL(x₁..x_n) = mean E(xᵢ) + log Z_B with Monte Carlo SE std(E(xᵢ))/√n over the evaluation points. With a
reference density (e.g. a target's exact ``log_prob``) the paired gap NLL − NLL_ref estimates
KL(p_ref ‖ p_B) when the points are drawn from p_ref, with a much smaller paired SE.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from ebmlab.device_copies import device_of
from ebmlab.energies.base import EnergyFn, evaluate_energy
from ebmlab.errors import ShapeError

__all__ = ["NLLResult", "grid_nll"]

_F64 = torch.float64


@dataclass(frozen=True)
class NLLResult:
    """NLL = mean E(x) + log Z_B with Monte Carlo SE ``se`` and the quadrature error of log Z_B.

    With a reference log-density: ``reference_nll`` (and its SE), ``gap`` = NLL − NLL_ref and its paired SE
    ``gap_se``. ``outside_fraction``: share of the points outside the box (where p_B = 0; they are still
    scored with the same formula).
    """

    nll: float
    se: float
    log_z: float
    quadrature_error: float
    edge_mass: float
    outside_fraction: float
    n: int
    reference_nll: float | None = None
    reference_se: float | None = None
    gap: float | None = None
    gap_se: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _param_dtype(energy: EnergyFn) -> torch.dtype:
    params = getattr(energy, "parameters", None)
    if callable(params):
        for p in params():
            return p.dtype
    return torch.get_default_dtype()


def _inside(x: Tensor, box: Sequence[tuple[float, float]]) -> Tensor:
    lo = torch.tensor([b[0] for b in box], dtype=x.dtype, device=x.device)
    hi = torch.tensor([b[1] for b in box], dtype=x.dtype, device=x.device)
    return ((x >= lo) & (x <= hi)).all(dim=1)


def grid_nll(
    energy: EnergyFn,
    x: Tensor,
    bounds: Sequence[tuple[float, float]],
    n_points: int = 401,
    reference_log_prob: Callable[[Tensor], Tensor] | None = None,
) -> NLLResult:
    """NLL of the box-normalised density p_B ∝ exp(−E) at the points ``x`` (n, d), d ∈ {1, 2}, with its SE.

    ``n_points``: quadrature nodes per axis (odd). ``reference_log_prob``: e.g. a target's exact ``log_prob``;
    adds the paired gap NLL − NLL_ref.
    """
    from ebmlab.estimators.logz import log_z_quadrature

    box = tuple((float(lo), float(hi)) for lo, hi in bounds)
    if x.dim() != 2 or x.shape[1] != len(box) or x.shape[0] < 2:
        raise ShapeError(f"grid_nll: x must have shape (n >= 2, {len(box)}) to match the box, got {tuple(x.shape)}.")
    dtype = _param_dtype(energy)
    lz = log_z_quadrature(energy, box, n_points)
    with torch.no_grad():
        nll_i = evaluate_energy(energy, x.to(device_of(energy), dtype)).to(_F64).cpu() + lz.value
    x = x.cpu()  # the scores on the CPU, beside the reference's
    n = x.shape[0]
    fields: dict[str, object] = dict(
        nll=float(nll_i.mean()),
        se=float(nll_i.std() / math.sqrt(n)),
        log_z=lz.value,
        quadrature_error=abs(lz.value - float(lz.details["coarse"])),
        edge_mass=float(lz.details["edge_mass"]),
        outside_fraction=float((~_inside(x.to(_F64), box)).to(_F64).mean()),
        n=n,
    )
    if reference_log_prob is not None:
        with torch.no_grad():
            ref_i = -reference_log_prob(x).to(_F64)
        diff = nll_i - ref_i
        fields.update(
            reference_nll=float(ref_i.mean()),
            reference_se=float(ref_i.std() / math.sqrt(n)),
            gap=float(diff.mean()),
            gap_se=float(diff.std() / math.sqrt(n)),
        )
    return NLLResult(**fields)  # type: ignore[arg-type]
