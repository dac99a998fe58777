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
found by global search. In 1–2 dimensions every node of a grid is evaluated on held-out source draws and the
node of largest ln ĉ + 2 SE (ESS ≥ ``MIN_ESS``) gives ln sup c, plus the grid's resolution slack, with that SE
(:mod:`ebmlab.ratedistortion.grid_sup`: an upper confidence value, so lower − 2 SE stays a lower bound). Above
that, multi-start L-BFGS in r-whitened coordinates (:mod:`ebmlab.ratedistortion.sup_search`), the winner
re-evaluated on held-out source draws, whose standard error is the reported uncertainty of ln sup c, and whose
effective sample size must reach ``MIN_ESS``. The
upper bound's SE includes β·SE(D̂), the uncertainty of the distortion at which it is stated. A search that misses
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
from ebmlab.ratedistortion.grid_sup import grid_sup
from ebmlab.ratedistortion.sup_search import log_c, search_sup

__all__ = [
    "RDBounds",
    "abs_1d_marginal_terms",
    "draw_batches",
    "gaussian_marginal_terms",
    "log_c",
    "rd_bounds",
    "sample_marginal_terms",
    "search_sup",
    "upper_bound",
]

Terms = Callable[[Tensor], tuple[Tensor, Tensor]]
#: held-out effective sample size of c(x*)'s weights below which ln sup c is not reported (above 2-D). At 100 the
#: 40-D β = 30 marginals (ESS 116 and 148 of 200 000) gave ln ĉ(x*) up to 3 SE below the exact sup (a lower bound
#: 0.08 nats above the exact one of the same r); at ESS ≥ 7 700 (40-D β = 1, 10-D) the found value is within 3.0 SE.
MIN_ESS = 1000.0


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


def _rel_se(parts: list[Tensor]) -> float:
    x = torch.cat(parts)
    return float(x.std() / (x.mean().abs().clamp_min(1e-300) * math.sqrt(x.numel())))


def draw_batches(
    terms: Terms, sample_y: Callable[[int], Tensor], n_y: int, d_rel_se: float | None, max_y: int
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """Batches of ``n_y`` source draws with their ``(ln Z_r(y), d(y))``: ``(ys, log_zs, dists)``, one batch, then more
    until SE(D̂)/D̂ ≤ ``d_rel_se`` (``None``: one batch) or ``max_y`` draws in all."""
    with torch.no_grad():
        ys = [sample_y(n_y)]
        log_z, dist = terms(ys[0])
        log_zs, dists = [log_z], [dist]
        while d_rel_se is not None and (len(dists) + 1) * n_y <= max_y and _rel_se(dists) > d_rel_se:
            ys.append(sample_y(n_y))
            log_z, dist = terms(ys[-1])
            log_zs.append(log_z)
            dists.append(dist)
    return ys, log_zs, dists


def upper_bound(log_z: Tensor, dist: Tensor, beta: float) -> tuple[float, float]:
    """Û = mean_y(−β d(y) − ln Z_r(y)) and its SE as a point against the R(D) curve at D̂ = mean_y d(y).

    Û and D̂ come from the same draws, and R(D̂) moves by −β ΔD̂ along the curve (slope −β at the tilted channel), so
    Û − R(D̂) carries the noise of Û + βD̂ = −mean_y ln Z_r(y): SE = sd(ln Z_r)/√n, as in the lower bound. (Adding
    β·SE(D̂) to Û's own SE in quadrature, as before session 7, treats the two as independent: 1.18–1.35 × too small
    on the scalar and 2-D Gaussians, ``experiments/rd_band_se.py``.)
    """
    n = log_z.numel()
    return float((-beta * dist - log_z).mean()), float(log_z.std() / math.sqrt(n))


def rd_bounds(
    terms: Terms,
    sample_y: Callable[[int], Tensor],
    rho: Distortion,
    beta: float,
    n_y: int = 20_000,
    n_search: int = 16_384,
    starts: Tensor | None = None,
    alphabet: Tensor | None = None,
    at_distortion: float | None = None,
    n_validate: int = 32_768,
    pool: Tensor | None = None,
    r_moments: tuple[Tensor, Tensor] | None = None,
    min_ess: float = MIN_ESS,
    d_rel_se: float | None = None,
    max_y: int = 5_000_000,
    n_grid_y: int = 0,
) -> RDBounds:
    """Upper bound at D_Q and Csiszár's lower bound (at ``at_distortion``, default D_Q), from ``terms`` (a marginal r).

    ``r_moments`` (r's mean and variance per coordinate) whitens the sup search and gives it a start
    (:mod:`ebmlab.ratedistortion.sup_search`). The lower bound is reported as the trivial 0 when sup c was not
    found: in 1–2-D a grid maximiser (by ln ĉ − 2 SE) on the edge of the box or of its nodes with ESS ≥ ``min_ess``
    (c grows where the draws do not determine it); above 2-D a maximiser
    whose held-out weights e^{−βρ(x*, y_i)}/Z_r(y_i) have an effective sample size below ``min_ess`` (ĉ(x*) is then
    a mean over few draws, biased low — at rates of tens of nats, or where c grows beyond the data);
    and a maximiser whose held-out ln c is below 0 by 3 SE (impossible for the sup, since E_r[c] = 1).
    Above 2-D the lower bound's SE also holds the SE of ln ĉ(x*) on the ranking draws: the winner of a ranking
    can land below the sup by about that much (measured: 2.5–3 held-out SE at 200 000 held-out draws).
    ``d_rel_se``: D̂, E_y ln Z_r and the upper bound are averaged over further batches of ``n_y`` draws (at most
    ``max_y`` in all) until SE(D̂)/D̂ ≤ ``d_rel_se`` — cheap where ``terms`` is exact; ĉ(x*) uses the first batch.
    In 1–2-D (no alphabet) the sup is :func:`~ebmlab.ratedistortion.grid_sup.grid_sup`'s upper confidence value over
    a grid whose nodes are all evaluated on every held-out batch, plus further batches up to ``n_grid_y`` draws.
    """
    y_all, lzs, dists = draw_batches(terms, sample_y, n_y, d_rel_se, max_y)
    y, log_z = y_all[0], lzs[0]  # ĉ(x*) is re-evaluated on the first batch
    with torch.no_grad():
        all_lz, all_d = torch.cat(lzs), torch.cat(dists)
        n_all = all_d.numel()
        d_hat, d_se = float(all_d.mean()), float(all_d.std() / math.sqrt(n_all))
        upper, upper_se = upper_bound(all_lz, all_d, beta)
    ys = sample_y(n_search)
    validation = None
    high = alphabet is None and ys.shape[1] > 2
    if alphabet is None and not high:  # 1–2-D: every grid node on the held-out draws (grid_sup)
        return _grid_bounds(
            terms, sample_y, rho, beta, ys, y_all, lzs, n_grid_y, all_d, upper, upper_se, at_distortion, min_ess
        )
    with torch.no_grad():
        lz_s = terms(ys)[0]
    if high:  # rank the search's candidates on other draws (see search_sup)
        yv = sample_y(n_validate)
        with torch.no_grad():
            validation = (yv, terms(yv)[0])
    x_star, how = search_sup(
        ys, lz_s, rho, beta, starts=starts, alphabet=alphabet, validation=validation, pool=pool, r_moments=r_moments
    )
    with torch.no_grad():  # re-evaluate c(x*) on held-out draws: an unbiased mean, its SE by the delta method
        lw = -beta * pairwise(rho, x_star[None, :], y)[:, 0] - log_z
        top = lw.max()
        w = (lw - top).exp()
        log_sup = float(top + w.mean().log())
        log_sup_se = float(w.std() / (w.mean() * math.sqrt(n_y)))
        ess = float(w.sum() ** 2 / w.square().sum())
    failed = ""
    if high and ess < min_ess:
        failed = f"; c(x*) rests on ESS {ess:.0f} < {min_ess:g} held-out draws: not estimable"
    elif not high and alphabet is None:
        lo_box, hi_box = ys.min(0).values, ys.max(0).values
        if bool(((x_star <= lo_box) | (x_star >= hi_box)).any()):
            failed = "; argmax at the box edge"
    if failed or log_sup + 3 * log_sup_se < 0:  # sup c ≥ E_r[c] = 1: ln c < 0 means the search missed the sup
        shown = math.inf if "box edge" in failed else log_sup
        why = failed or "; missed the sup (ln c < 0)"
        return RDBounds(float(beta), d_hat, d_se, upper, upper_se, 0.0, 0.0, shown, log_sup_se, how + why)
    search_se = 0.0
    if validation is not None:  # the search's resolution: x* won on the ranking draws, where ln ĉ has this SE
        with torch.no_grad():
            lwv = -beta * pairwise(rho, x_star[None, :], validation[0])[:, 0] - validation[1]
            wv = (lwv - lwv.max()).exp()
            search_se = float(wv.std() / (wv.mean() * math.sqrt(wv.numel())))
        how += f"; held-out ESS {ess:.0f}; search resolution ±{search_se:.3f} (in the lower bound's SE)"
    log_sup_pos = max(log_sup, 0.0)  # sup c ≥ E_r[c] = 1
    d_at = d_hat if at_distortion is None else at_distortion
    lower = -beta * d_at - float(all_lz.mean()) - log_sup_pos
    lower_se = math.hypot(float(all_lz.std()) / math.sqrt(n_all), log_sup_se, search_se)
    return RDBounds(float(beta), d_hat, d_se, upper, upper_se, max(lower, 0.0), lower_se, log_sup, log_sup_se, how)


def _grid_bounds(
    terms: Terms,
    sample_y: Callable[[int], Tensor],
    rho: Distortion,
    beta: float,
    ys: Tensor,
    y_all: list[Tensor],
    lzs: list[Tensor],
    n_grid_y: int,
    all_d: Tensor,
    upper: float,
    upper_se: float,
    at_distortion: float | None,
    min_ess: float,
) -> RDBounds:
    """The lower bound in 1–2-D from :func:`grid_sup` on the box of the search draws ``ys`` (see ``rd_bounds``)."""
    n_y = y_all[0].shape[0]
    with torch.no_grad():
        while sum(t.shape[0] for t in y_all) + n_y <= n_grid_y:  # more held-out draws for ĉ on the grid
            y_all.append(sample_y(n_y))
            lzs.append(terms(y_all[-1])[0])
        y_c, lz_c = torch.cat(y_all), torch.cat(lzs)
        gs = grid_sup(ys, y_c, lz_c, rho, beta, min_ess=min_ess)
    d_hat, n_d = float(all_d.mean()), all_d.numel()
    d_se = float(all_d.std() / math.sqrt(n_d))
    if gs.on_edge or gs.log_c + 3 * gs.se < 0:  # c grows beyond the data, or the sup was missed (sup c ≥ 1)
        why = "; argmax at the box edge" if gs.on_edge else "; missed the sup (ln c < 0)"
        shown = math.inf if gs.on_edge else gs.log_c
        return RDBounds(float(beta), d_hat, d_se, upper, upper_se, 0.0, 0.0, shown, gs.se, gs.how + why)
    lz_d = lz_c[:n_d]  # the batches D̂ was averaged over (E_y ln Z_r at the same draws as the upper bound)
    d_at = d_hat if at_distortion is None else at_distortion
    lower = -beta * d_at - float(lz_d.mean()) - max(gs.log_c, 0.0)  # sup c ≥ E_r[c] = 1
    lower_se = math.hypot(float(lz_d.std()) / math.sqrt(n_d), gs.se)
    return RDBounds(float(beta), d_hat, d_se, upper, upper_se, max(lower, 0.0), lower_se, gs.log_c, gs.se, gs.how)
