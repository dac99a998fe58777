"""sup_x c(x) on a grid (1–2-D) as an upper confidence value: every node evaluated on held-out draws.

c(x) = E_y[e^{−βρ(x, y)}/Z_r(y)] is estimated at a node x_j by the mean ĉ_j of the weights over held-out
draws, with the delta-method SE s_j of ln ĉ_j. Taking the plain maximum of ĉ over a grid picks, in the source's
sparse tails, a node next to a single draw whose bump the same draws overstate (the winner's curse), and its value
on other draws then rests on a handful of draws (measured on the Laplace mixture, 11 of 12 runs: ESS 1.0–1.4 on
the search draws, 2.4–15 on 200 000 held-out ones, ln ĉ's SE 0.26–0.64 nats; experiments/rd_laplace_sup.py).
Here instead:

* every node is evaluated on the same held-out draws and the reported value is the node j* maximising the
  upper confidence value ln ĉ_j + z·s_j: whatever the grid's true maximiser j°, ln c_{j°} ≤ ln ĉ_{j°} + z·s_{j°}
  ≤ ln ĉ_{j*} + z·s_{j*} with the one-sided coverage of a single node (no multiple-comparison penalty: the max
  over nodes only adds upward, conservative, noise);
* only nodes whose held-out weights have an effective sample size ≥ ``min_ess`` (1000, as above 2-D) count: at a
  node next to one or two draws (the box's padding, the far tails) ĉ is a mean over a handful of heavy-tailed weights
  and its delta-method SE means nothing (ESS 1 gives ln ĉ + 2 with no information). The sup is thus over the part of
  the data's box where the draws determine c. If the node of largest *lower* confidence value ln ĉ − z·s lies next
  to an excluded node (or outside the search draws' range), c rises significantly towards where it cannot be
  estimated and the bound is refused (as the box-edge test did); a flat c does not trip this (its edge nodes have the
  larger SE), and a growth within 2 SE is not seen — as before, no sample-only search sees c beyond the data;
* between the nodes, c is controlled by the distortion: under ρ = Σ_i |x_i − y_i| every bump has
  |∇ ln e^{−βρ}| ≤ β in the ℓ∞ dual of ℓ1, so ln c is β-Lipschitz in ℓ1 and sup_box ln c ≤ max_j ln c_j + β Σ_i h_i/2;
  under squared error ln c(x) + β‖x‖² is a log-sum-exp of affine functions (convex), so at the box's interior
  maximiser x° (∇ ln c = 0) ln c(x) ≥ ln c(x°) − β‖x − x°‖², i.e. a slack β Σ_i (h_i/2)² (β/d under per-dimension
  MSE). Other distortions get no slack (reported);
* in 1-D under |x − y| the grid is as fine as that slack needs (``tol``) and every node costs O(log n) by
  sorted prefix log-sum-exps (:func:`abs_1d_log_sums`), so the held-out draws can be millions.

The lower bound subtracts ln ĉ_{j*} + slack and carries s_{j*} in its SE: its edge at z SE (the experiments
report lower − 2 SE) subtracts the upper confidence value, so it stays a lower bound. It is a sup over the nodes
with ESS ≥ ``min_ess`` in the box the search draws span (padded by 10 %): beyond the data no sample-only estimator
sees c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ebmlab.ratedistortion.distortions import Distortion, get_distortion, pairwise

__all__ = ["GridSup", "abs_1d_log_sums", "borders", "c_stats", "grid_slack", "grid_sup"]


@dataclass(frozen=True)
class GridSup:
    """The grid's upper-confidence node: x*, ln ĉ(x*) (+ the resolution slack), its SE and its weights' ESS."""

    x: Tensor
    log_c: float
    se: float
    ess: float
    slack: float
    on_edge: bool
    how: str


def abs_1d_log_sums(x: Tensor, y: Tensor, log_w: Tensor, beta: float) -> Tensor:
    """ln Σ_i e^{log_w_i − β|x_k − y_i|} for every query x_k (1-D), by prefix log-sum-exps over sorted y.

    With y sorted, the draws ≤ x contribute e^{−βx} Σ e^{log_w_i + βy_i} (a prefix) and those > x contribute
    e^{βx} Σ e^{log_w_i − βy_i} (a suffix): O((n + m) log n), no (m, n) matrix, no underflow.
    """
    yv, order = y.reshape(-1).sort()
    lw = log_w.reshape(-1)[order]
    neg = torch.full((1,), -math.inf, dtype=yv.dtype)
    left = torch.cat((neg, torch.logcumsumexp(lw + beta * yv, 0)))  # left[k]: the first k draws
    right = torch.cat((torch.logcumsumexp((lw - beta * yv).flip(0), 0).flip(0), neg))  # right[k]: draws k…n−1
    xv = x.reshape(-1)
    k = torch.searchsorted(yv, xv, right=True)
    return torch.logaddexp(left[k] - beta * xv, right[k] + beta * xv)


def c_stats(
    x: Tensor, y: Tensor, log_z: Tensor, rho: Distortion, beta: float, chunk: int = 8192
) -> tuple[Tensor, Tensor, Tensor]:
    """(ln ĉ, SE of ln ĉ, ESS of the weights) at candidates x (k, d) from draws y with ln Z_r(y) = ``log_z``.

    Weights u_i = e^{−βρ(x, y_i)}/Z_r(y_i); ĉ = mean u, SE(ln ĉ) = √(1/ESS − 1/n) with ESS = (Σu)²/Σu².
    """
    n = y.shape[0]
    if x.shape[1] == 1 and rho is get_distortion("abs"):
        s1 = abs_1d_log_sums(x, y, -log_z, beta)
        s2 = abs_1d_log_sums(x, y, -2 * log_z, 2 * beta)
    else:
        p1, p2 = [], []
        for yc, lz in zip(y.split(chunk), log_z.split(chunk), strict=True):
            lw = -beta * pairwise(rho, x, yc) - lz[:, None]
            p1.append(torch.logsumexp(lw, 0))
            p2.append(torch.logsumexp(2 * lw, 0))
        s1, s2 = torch.logsumexp(torch.stack(p1), 0), torch.logsumexp(torch.stack(p2), 0)
    ess = (2 * s1 - s2).exp()
    se = (1 / ess - 1 / n).clamp_min(0).sqrt()
    return s1 - math.log(n), se, ess


def grid_slack(rho: Distortion, beta: float, spacing: Tensor) -> float | None:
    """Largest gap between sup ln c over a grid's cells and its nodes (module doc), or None if not bounded."""
    d = spacing.numel()
    if rho is get_distortion("abs"):
        return float(beta * spacing.sum() / 2)
    slope = {id(get_distortion("squared")): beta, id(get_distortion("mse")): beta / d}.get(id(rho))
    return None if slope is None else float(slope * (spacing / 2).square().sum())


def grid_sup(
    y_box: Tensor,
    y: Tensor,
    log_z: Tensor,
    rho: Distortion,
    beta: float,
    grid: int = 801,
    z: float = 2.0,
    tol: float = 2e-3,
    max_nodes: int = 200_001,
    dense_pairs: int = 30_000_000,
    min_ess: float = 1000.0,
) -> GridSup:
    """Upper-confidence sup of c over the box of ``y_box`` (padded by 10 %), every node on held-out ``y``.

    ``grid`` nodes per axis in 1-D (151² in 2-D); in 1-D under |x − y| as many as make the slack ≤ ``tol``
    (at most ``max_nodes``), under squared error as few as keep it ≤ ``tol`` (at least 33 per axis); otherwise
    the held-out draws are cut to ``dense_pairs`` node–draw pairs (at least 32 768 draws). Only nodes whose held-out weights have an ESS ≥ ``min_ess`` count (module doc).
    Reports the node maximising ln ĉ + z·SE and whether the node maximising ln ĉ − z·SE lies outside the range of
    ``y_box`` or next to an excluded node (c rises beyond where the draws determine it: the caller refuses).
    """
    d = y_box.shape[1]
    lo, hi = y_box.min(0).values, y_box.max(0).values
    pad = 0.1 * (hi - lo) + 1e-3
    fast = d == 1 and rho is get_distortion("abs")
    n = grid if d == 1 else int(math.sqrt(grid * grid / 28))  # 801 → 151² in 2-D
    width = float((hi - lo + 2 * pad).max())
    if fast:
        n = min(max(n, math.ceil(beta * width / (2 * tol)) + 1), max_nodes)
    elif (quad := grid_slack(rho, beta, torch.ones(d, dtype=torch.float64, device="cpu"))) is not None:
        # squared error: slack = quad·h², so h = √(tol/quad) suffices (at most ``grid``, at least 33 per axis)
        n = min(n, max(33, math.ceil(width / math.sqrt(tol / quad)) + 1))
    axes = [
        torch.linspace(float(lo[i] - pad[i]), float(hi[i] + pad[i]), n, dtype=y.dtype, device=y.device)
        for i in range(d)
    ]
    cand = torch.cartesian_prod(*axes).reshape(-1, d)
    if not fast:  # dense (nodes × draws) evaluation: at most ``dense_pairs`` pairs, at least 32 768 draws
        keep = max(32_768, dense_pairs // cand.shape[0])
        y, log_z = y[:keep], log_z[:keep]
    stats = [c_stats(c, y, log_z, rho, beta) for c in cand.split(cand.shape[0] if fast else 256)]
    lc, se, ess = (torch.cat(t) for t in zip(*stats, strict=True))
    ok = ess >= min_ess
    j = int(torch.where(ok, lc + z * se, -math.inf).argmax())
    spacing = torch.tensor([float(a[1] - a[0]) for a in axes], dtype=torch.float64, device="cpu")
    slack = grid_slack(rho, beta, spacing)
    x = cand[j]
    how = (
        f"grid {n}^{d}, spacing {float(spacing.max()):.3g}, every node on {y.shape[0]} held-out draws, "
        f"{int(ok.sum())} nodes with ESS ≥ {min_ess:g}, node of max ln ĉ + {z:g} SE (ESS {float(ess[j]):.0f}), "
        + (f"resolution slack {slack:.4f}" if slack is not None else "resolution not bounded for this distortion")
    )
    j_low = int(torch.where(ok, lc - z * se, -math.inf).argmax())  # where c is surely largest
    x_low = cand[j_low]
    outside = bool(((x_low <= lo) | (x_low >= hi)).any())
    on_edge = outside or not bool(ok.any()) or borders(ok.reshape((n,) * d), j_low)
    return GridSup(x, float(lc[j]) + (slack or 0.0), float(se[j]), float(ess[j]), slack or 0.0, on_edge, how)


def borders(ok: Tensor, j: int) -> bool:
    """Whether flat index ``j`` of the grid mask ``ok`` lies on the grid's edge or next to an excluded node."""
    idx = list(torch.unravel_index(torch.tensor(j, device="cpu"), ok.shape))
    for axis, size in enumerate(ok.shape):
        for step in (-1, 1):
            k = int(idx[axis]) + step
            if not 0 <= k < size:
                return True
            nb = [int(i) for i in idx]
            nb[axis] = k
            if not bool(ok[tuple(nb)]):
                return True
    return False
