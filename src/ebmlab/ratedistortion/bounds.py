"""Sandwich bounds on R(D) from an output marginal r (Yang & Mandt, ICLR 2022; Csiszár 1974).

For any density r(x) and β > 0, with Z_r(y) = E_{x′~r}[e^{−βρ(x′, y)}] and the tilted channel
Q(x|y) = r(x) e^{−βρ(x, y)} / Z_r(y), whose distortion is D_Q = E_y E_Q[ρ]:

* upper bound (achievability, Q's rate ≤ E_y KL(Q_y ‖ r)):  R(D_Q) ≤ −β D_Q − E_y ln Z_r(y);
* lower bound (Csiszár's dual, valid at every D):
  R(D) ≥ −β D − E_y ln Z_r(y) − ln sup_x c(x),  c(x) = E_y[e^{−βρ(x, y)} / Z_r(y)],
  and E_r[c] = 1, so sup c ≥ 1 and the lower bound never exceeds the upper. Both are tight at r = r*.

Z_r(y) is exact for a Gaussian r under squared error (:func:`gaussian_marginal_terms`) and otherwise a
Monte Carlo mean over draws x′ ~ r (:func:`sample_marginal_terms`); ln of a mean is biased low, which makes
the upper bound more conservative. E_y is a mean over source draws; standard errors are over them. The sup is
found by global search — a grid in 1–2 dimensions, multi-start gradient ascent above — and re-evaluated on
held-out source draws, whose standard error is the reported uncertainty of ln sup c. The upper bound's SE
includes β·SE(D̂), the uncertainty of the distortion at which it is stated. A search that misses
the global maximum would make the lower bound too high: the grid spacing / number of starts is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from ebmlab.ratedistortion.distortions import Distortion, absolute, pairwise

__all__ = [
    "RDBounds",
    "abs_1d_marginal_terms",
    "gaussian_marginal_terms",
    "log_c",
    "rd_bounds",
    "sample_marginal_terms",
    "search_sup",
]

Terms = Callable[[Tensor], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class RDBounds:
    """Upper and lower bound on R at the tilted channel's distortion, with standard errors (nats)."""

    beta: float
    distortion: float
    distortion_se: float
    rate_upper: float
    rate_upper_se: float
    rate_lower: float
    rate_lower_se: float
    log_sup: float
    log_sup_se: float
    search: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_marginal_terms(x_r: Tensor, rho: Distortion, beta: float, chunk: int = 512) -> Terms:
    """``terms(y) -> (ln Ẑ_r(y), D_Q(y))`` by Monte Carlo over draws ``x_r`` (m, d) of r (self-normalised)."""

    def terms(y: Tensor) -> tuple[Tensor, Tensor]:
        log_z, dist = [], []
        for yc in y.split(chunk):
            r = pairwise(rho, x_r, yc)
            lw = -beta * r
            log_z.append(torch.logsumexp(lw, 1) - math.log(x_r.shape[0]))
            dist.append((torch.softmax(lw, 1) * r).sum(1))
        return torch.cat(log_z), torch.cat(dist)

    return terms


def abs_1d_marginal_terms(x_r: Tensor, beta: float) -> Terms:
    """The same ``(ln Ẑ_r(y), D_Q(y))`` as :func:`sample_marginal_terms` for ρ = |x − y| in 1-D, in O((n + m) ln m).

    With the draws sorted, e^{−β|x_j − y|} splits at y into e^{β(x_j − y)} (x_j ≤ y) and e^{β(y − x_j)} (x_j > y):
    prefix sums of e^{β(x_j − x_max)} and x_j e^{β(x_j − x_max)} (suffix sums mirrored) give every y's Monte Carlo Z
    and distortion without the (n, m) matrix. Falls back to the matrix when β·(x_max − x_min) would underflow.
    """
    x = x_r.reshape(-1).sort().values
    span = float(x[-1] - x[0])
    if beta * span > 600:
        return sample_marginal_terms(x_r, absolute, beta)
    m = x.numel()
    zero = x.new_zeros(1)
    el = (beta * (x - x[-1])).exp()  # ≤ 1
    er = (beta * (x[0] - x)).exp()
    p0, p1 = torch.cat((zero, el.cumsum(0))), torch.cat((zero, (x * el).cumsum(0)))
    q0 = torch.cat((er.flip(0).cumsum(0).flip(0), zero))
    q1 = torch.cat(((x * er).flip(0).cumsum(0).flip(0), zero))

    def terms(y: Tensor) -> tuple[Tensor, Tensor]:
        yv = y.reshape(-1)
        k = torch.searchsorted(x, yv, right=True)  # draws ≤ y
        a0, a1, b0, b1 = p0[k], p1[k], q0[k], q1[k]
        log_l = a0.log() + beta * (x[-1] - yv)  # ln Σ_{x_j ≤ y} e^{−β(y − x_j)}
        log_r = b0.log() + beta * (yv - x[0])
        log_z = torch.logaddexp(log_l, log_r)
        left = torch.where(a0 > 0, yv - a1 / a0.clamp_min(1e-300), 0.0)  # weighted mean of y − x_j on the left
        right = torch.where(b0 > 0, b1 / b0.clamp_min(1e-300) - yv, 0.0)
        dist = (log_l - log_z).exp() * left + (log_r - log_z).exp() * right
        return log_z - math.log(m), dist

    return terms


def gaussian_marginal_terms(loc: Tensor, var: Tensor, beta: float, per_dim: bool = False) -> Terms:
    """Exact ``(ln Z_r(y), D_Q(y))`` for r = N(loc, diag var) under summed (or per-dimension) squared error.

    Per component with b = β (or β/d): Z = (1 + 2b s²)^{−½} exp(−b (y − μ)² / (1 + 2b s²)); Q is Gaussian
    with variance s²/(1 + 2b s²) and mean (μ + 2b s² y)/(1 + 2b s²), so E_Q (x − y)² = v + (μ − y)²/(1 + 2b s²)².
    """
    d = loc.numel()
    b = beta / d if per_dim else beta

    def terms(y: Tensor) -> tuple[Tensor, Tensor]:
        a = 1.0 + 2.0 * b * var
        diff2 = (y - loc).square()
        log_z = (-0.5 * a.log() - b * diff2 / a).sum(1)
        dist = (var / a + diff2 / a.square()).sum(1)
        return log_z, dist / d if per_dim else dist

    return terms


def log_c(x: Tensor, y: Tensor, log_z: Tensor, rho: Distortion, beta: float, chunk: int = 8192) -> Tensor:
    """ln c(x) = ln mean_i e^{−βρ(x, y_i) − ln Z_r(y_i)} for candidates x (k, d) (chunks of ``chunk`` y's)."""
    parts = [
        torch.logsumexp(-beta * pairwise(rho, x, yc) - lz[:, None], 0)
        for yc, lz in zip(y.split(chunk), log_z.split(chunk), strict=True)
    ]
    return torch.logsumexp(torch.stack(parts), 0) - math.log(y.shape[0])


def _scores(
    cand: Tensor, y: Tensor, log_z: Tensor, rho: Distortion, beta: float, z: float = 2.0, group: int = 64
) -> Tensor:
    """ln ĉ − z·SE per candidate on draws ``y`` (a lower confidence value: the weights are heavy-tailed, and
    the plain maximum of many noisy estimates favours the noisiest, not the largest)."""
    scores = []
    with torch.no_grad():
        for c in cand.split(group):
            lw = torch.cat(
                [
                    -beta * pairwise(rho, c, yc) - lz[:, None]
                    for yc, lz in zip(y.split(8192), log_z.split(8192), strict=True)
                ]
            )
            top = lw.max(0).values
            w = (lw - top).exp()
            mean = w.mean(0)
            scores.append(top + mean.log() - z * w.std(0) / (mean * math.sqrt(y.shape[0])))
    return torch.cat(scores)


def _ascend(x0: Tensor, y: Tensor, log_z: Tensor, rho: Distortion, beta: float, steps: int, group: int) -> Tensor:
    """Adam ascent of the empirical ln c from each row of ``x0``, in coordinates scaled by the y's spread."""
    centre, spread = y.mean(0), y.std(0).clamp_min(1e-12)
    ends = []
    for s in x0.split(group):
        z = ((s - centre) / spread).detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            (-log_c(centre + spread * z, y, log_z, rho, beta).sum()).backward()
            opt.step()
        ends.append((centre + spread * z).detach())
    return torch.cat(ends)


def search_sup(
    y: Tensor,
    log_z: Tensor,
    rho: Distortion,
    beta: float,
    starts: Tensor | None = None,
    grid: int = 801,
    steps: int = 100,
    alphabet: Tensor | None = None,
    validation: tuple[Tensor, Tensor] | None = None,
    group: int = 64,
    confidence: float = 2.0,
    pool: Tensor | None = None,
) -> tuple[Tensor, str]:
    """The x maximising ln c(x): enumeration of ``alphabet``, a grid (d ≤ 2) or multi-start ascent (d > 2).

    Above 2-D: Adam ascent of the empirical ln c on the search draws ``y`` from every start (in coordinates
    scaled by the y's spread per dimension, lr 0.05), in groups of ``group`` starts. The empirical c is a sum
    of bumps, one per y_i, so an ascent can stop on one draw's bump, whose value the same draws overstate:
    the endpoints, the starts and a ``pool`` of further candidates (evaluated, not ascended) are ranked on
    independent ``validation`` draws (y, ln Z_r(y)) when given, by ln ĉ − ``confidence``·SE. In 10-D at a few
    nats the ascent's endpoints are often *worse* than its starts (the bumps win over the smooth c), so the
    ranking, not the ascent, finds the sup; the ascent's job is to run off along a direction where c is
    unbounded (the caller's box-edge test). The caller re-evaluates the winner on held-out draws, so the
    choice's own noise does not enter the reported value.
    """
    d = y.shape[1]
    if alphabet is not None:
        vals = log_c(alphabet, y, log_z, rho, beta)
        return alphabet[int(vals.argmax())], f"enumeration of {alphabet.shape[0]} symbols"
    if d <= 2:
        lo, hi = y.min(0).values, y.max(0).values
        pad = 0.1 * (hi - lo) + 1e-3
        n = grid if d == 1 else int(math.sqrt(grid * grid / 28))  # 801 → 151² in 2-D
        axes = [
            torch.linspace(float(a - pad[i]), float(b + pad[i]), n, dtype=y.dtype)
            for i, (a, b) in enumerate(zip(lo, hi, strict=True))
        ]
        cand = torch.cartesian_prod(*axes).reshape(-1, d)
        vals = torch.cat([log_c(c, y, log_z, rho, beta) for c in cand.split(2048)])
        spacing = max(float(a[1] - a[0]) for a in axes)
        return cand[int(vals.argmax())], f"grid {n}^{d}, spacing {spacing:.3g}"
    if starts is None:
        starts = y[: min(64, y.shape[0])]
    starts = starts.to(y.dtype)
    cand = torch.cat((_ascend(starts, y, log_z, rho, beta, steps, group), starts))
    how = f"{starts.shape[0]}-start Adam ascent, {steps} steps on {y.shape[0]} draws"
    if pool is not None:
        cand = torch.cat((cand, pool.to(y.dtype)))
        how += f", {pool.shape[0]} more candidates"
    vy, vz = validation if validation is not None else (y, log_z)
    how += f", ranked on {vy.shape[0]} other draws" if validation is not None else ""
    return cand[int(_scores(cand, vy, vz, rho, beta, confidence).argmax())], how


def rd_bounds(
    terms: Terms,
    sample_y: Callable[[int], Tensor],
    rho: Distortion,
    beta: float,
    n_y: int = 20_000,
    n_search: int = 4096,
    starts: Tensor | None = None,
    alphabet: Tensor | None = None,
    at_distortion: float | None = None,
    n_validate: int = 32_768,
    pool: Tensor | None = None,
) -> RDBounds:
    """Upper bound at D_Q and Csiszár's lower bound (at ``at_distortion``, default D_Q), from ``terms`` (a marginal r).

    A maximiser of c on the edge of the search box means sup c was not found (for a marginal narrower than
    r* in some direction c grows without bound): ln sup c is then reported as +inf and the lower bound as
    the trivial 0; so is a maximiser whose held-out ln c is below 0 by 3 SE (impossible for the sup, since
    E_r[c] = 1: the search failed).
    """
    with torch.no_grad():
        y = sample_y(n_y)
        log_z, dist = terms(y)
        per_y = -beta * dist - log_z
        d_hat, d_se = float(dist.mean()), float(dist.std() / math.sqrt(n_y))
        # SE of the rate, plus the SE of D̂ carried along the curve's slope −β (for comparisons at D̂)
        upper, upper_se = float(per_y.mean()), math.hypot(float(per_y.std() / math.sqrt(n_y)), beta * d_se)
    ys = sample_y(n_search)
    with torch.no_grad():
        lz_s = terms(ys)[0]
    validation = None
    if alphabet is None and ys.shape[1] > 2:  # rank the ascent's candidates on other draws (see search_sup)
        yv = sample_y(n_validate)
        with torch.no_grad():
            validation = (yv, terms(yv)[0])
    x_star, how = search_sup(ys, lz_s, rho, beta, starts=starts, alphabet=alphabet, validation=validation, pool=pool)
    lo_box, hi_box = ys.min(0).values, ys.max(0).values
    edge = alphabet is None and bool(((x_star <= lo_box) | (x_star >= hi_box)).any())
    with torch.no_grad():  # re-evaluate c(x*) on held-out draws: an unbiased mean, its SE by the delta method
        w = (-beta * pairwise(rho, x_star[None, :], y)[:, 0] - log_z).exp()
        log_sup = float(w.mean().log())
        log_sup_se = float(w.std() / (w.mean() * math.sqrt(n_y)))
    if edge:
        return RDBounds(
            float(beta), d_hat, d_se, upper, upper_se, 0.0, 0.0, math.inf, 0.0, how + "; argmax at the box edge"
        )
    if log_sup + 3 * log_sup_se < 0:  # sup c ≥ E_r[c] = 1, so the search missed the maximiser: no valid lower bound
        return RDBounds(
            float(beta),
            d_hat,
            d_se,
            upper,
            upper_se,
            0.0,
            0.0,
            log_sup,
            log_sup_se,
            how + "; missed the sup (ln c < 0)",
        )
    log_sup_pos = max(log_sup, 0.0)  # sup c ≥ E_r[c] = 1
    d_at = d_hat if at_distortion is None else at_distortion
    lower = -beta * d_at - float(log_z.mean()) - log_sup_pos
    lower_se = math.hypot(float(log_z.std()) / math.sqrt(n_y), log_sup_se)
    return RDBounds(float(beta), d_hat, d_se, upper, upper_se, max(lower, 0.0), lower_se, log_sup, log_sup_se, how)
