"""Global search for sup_x c(x), c(x) = E_y[e^{−βρ(x, y)} / Z_r(y)], the last term of Csiszár's lower bound.

c is a mean over source draws y_i of bumps e^{−βρ(x, y_i)} weighted by 1/Z_r(y_i); its weights'
effective sample size (ESS) at x falls like e^{−R} with the rate, so the empirical ĉ is a smooth function
only where many draws contribute. The search (above 2-D):

1. candidates: the caller's starts (draws of r, source draws, r's mean), a pool, and — given r's moments
   (mean m, variance v) under squared error — the mode of c̃, the objective's Gaussian approximation: with
   p̃ = N(ȳ, diag Var y) and r̃ = N(m, diag v), ln c̃ is a quadratic per coordinate, κ_k x_k² + linear, and its
   maximum is in closed form where κ_k < 0 (``gaussian_mode``; a start, never the answer);
2. the ``refine`` best candidates by ln ĉ − z·SE on the search draws are refined by L-BFGS (strong Wolfe line
   search) on ln ĉ with exact gradients, in coordinates whitened by r's scale (or the draws' spread):
   u = (x − ȳ)/scale, so coordinates where r is 10⁻³ wide and the source 10⁻⁸ are both O(1) steps;
3. every candidate and endpoint is ranked on independent ``validation`` draws by ln ĉ − z·SE (the empirical c
   is a sum of bumps, and a maximiser on the same draws favours single draws' bumps).

The caller re-evaluates the winner on held-out draws and checks its ESS (``rd_bounds``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.ratedistortion.distortions import Distortion, get_distortion, pairwise

__all__ = ["gaussian_mode", "lbfgs_ascent", "log_c", "lower_scores", "search_sup"]


def log_c(x: Tensor, y: Tensor, log_z: Tensor, rho: Distortion, beta: float, chunk: int = 8192) -> Tensor:
    """ln c(x) = ln mean_i e^{−βρ(x, y_i) − ln Z_r(y_i)} for candidates x (k, d) (chunks of ``chunk`` y's)."""
    parts = [
        torch.logsumexp(-beta * pairwise(rho, x, yc) - lz[:, None], 0)
        for yc, lz in zip(y.split(chunk), log_z.split(chunk), strict=True)
    ]
    return torch.logsumexp(torch.stack(parts), 0) - math.log(y.shape[0])


def lower_scores(
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


def gaussian_mode(y: Tensor, r_mean: Tensor, r_var: Tensor, beta: float) -> Tensor:
    """argmax of c̃ for p̃ = N(ȳ, diag Var y), r̃ = N(m, diag v), summed squared error at slope ``beta``.

    Per coordinate (centred at ȳ, μ = m − ȳ, a = 1 + 2βv, A = 2β²v/a + 1/(2 Var y)):
    ln c̃ = κx² − 2(β²/A)(μ/a)x + const, κ = β²/A − β, maximal at x = (β²/A)(μ/a)/κ for κ < 0;
    where κ ≥ 0 (c̃ unbounded in that coordinate) the coordinate keeps r's mean.
    """
    y_bar, vy = y.mean(0), y.var(0)
    mu, a = r_mean - y_bar, 1 + 2 * beta * r_var
    big_a = 2 * beta**2 * r_var / a + 1 / (2 * vy)  # inf where Var y = 0: then κ = −β, x = 0
    kappa = beta**2 / big_a - beta
    x = torch.where(kappa < 0, (beta**2 / big_a) * (mu / a) / kappa.clamp_max(-1e-300), mu)
    return y_bar + x


def lbfgs_ascent(
    x0: Tensor, y: Tensor, log_z: Tensor, rho: Distortion, beta: float, scale: Tensor, steps: int
) -> Tensor:
    """L-BFGS ascent of the empirical ln ĉ (exact gradients) from each row of ``x0``, in u = (x − ȳ)/scale."""
    centre = y.mean(0)
    ends = []
    for s in x0:
        u = ((s - centre) / scale).detach().clone().requires_grad_(True)
        opt = torch.optim.LBFGS(
            [u], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe", tolerance_change=1e-12
        )

        def closure(u: Tensor = u, opt: torch.optim.LBFGS = opt) -> Tensor:
            opt.zero_grad()
            loss = -log_c((centre + scale * u)[None], y, log_z, rho, beta)[0]
            loss.backward()
            return loss

        opt.step(closure)
        end = (centre + scale * u).detach()
        ends.append(end if bool(torch.isfinite(end).all()) else s)
    return torch.stack(ends) if ends else x0


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
    r_moments: tuple[Tensor, Tensor] | None = None,
    refine: int = 16,
) -> tuple[Tensor, str]:
    """The x maximising ln c(x): enumeration of ``alphabet``, a grid (d ≤ 2) or the search of the module doc.

    ``r_moments`` = (mean, variance) of r per coordinate: r's scale whitens the L-BFGS coordinates and, under
    squared error (or per-dimension MSE, slope β/d), :func:`gaussian_mode` adds a start. ``steps`` bounds the
    L-BFGS iterations per start.
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
    cand = (starts if starts is not None else y[: min(64, y.shape[0])]).to(y.dtype)
    if pool is not None:
        cand = torch.cat((cand, pool.to(y.dtype)))
    scale, whitened = y.std(0), "by the draws' spread"
    how = f"{cand.shape[0]} candidates"
    if r_moments is not None:
        r_mean, r_var = (t.to(y.dtype) for t in r_moments)
        scale, whitened = r_var.sqrt(), "by r's scale"
        slope = {id(get_distortion("squared")): beta, id(get_distortion("mse")): beta / d}.get(id(rho))
        if slope is not None:
            cand = torch.cat((cand, gaussian_mode(y, r_mean, r_var, slope)[None]))
            how += " + the Gaussian approximation's mode"
    scale = scale.clamp_min(1e-12)
    k = min(refine, cand.shape[0])
    top = cand[lower_scores(cand, y, log_z, rho, beta, confidence, group).topk(k).indices]
    cand = torch.cat((lbfgs_ascent(top, y, log_z, rho, beta, scale, steps), cand))
    how += f", L-BFGS from the best {k} ({steps} iterations, whitened {whitened}) on {y.shape[0]} draws"
    vy, vz = validation if validation is not None else (y, log_z)
    how += f", ranked on {vy.shape[0]} other draws" if validation is not None else ""
    return cand[int(lower_scores(cand, vy, vz, rho, beta, confidence, group).argmax())], how
