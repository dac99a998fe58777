"""Csiszár's c(x) by importance sampling from the source's log-density: the lower bound at high rate (opt-in).

The default estimator of c(x) = E_{y~p}[e^{−βρ(x, y)} / Z_r(y)] is a mean over source draws
(:mod:`ebmlab.ratedistortion.sup_search`); its weights' ESS falls like e^{−R}, so above ~10 nats (40-D, β ≥ 30)
c is not estimable from samples. Where the source exposes a *normalised* log-density ln p(y) (``log_prob``),
c is an integral that can be importance-sampled from a proposal q(·|x) where p(y) e^{−βρ(x, y)}/Z_r(y) has its mass:

    c(x) = E_{y~q(·|x)}[w(y)],   w(y) = p(y) e^{−βρ(x, y)} / (q(y|x) Z_r(y)),

unbiased for any q whose support covers p's. Under squared error ρ = Σ_k (x_k − y_k)² (slope b = β; per-dimension
MSE: b = β/d) q is built from what a user has — the mean m̂ and covariance Ĉ of source draws and r's moments
(μ, v) — as the Gaussian

    q(y|x) ∝ N(y; m̂, Ĉ) · e^{−b‖x − y‖²} · e^{b Σ_k (y_k − μ_k)²/a_k},   a_k = 1 + 2b v_k,

the last factor being 1/Z_r of a Gaussian r with those moments (left out without them). For a Gaussian source and
a Gaussian r the weights are constant up to the moment fit; for any other source they correct q, and their
variance is finite only where p e^{−βρ}/Z_r has tails no heavier than q's (``widen`` multiplies q's covariance).
The weights' effective sample size gates the bound, as on the sample path.

In z = (y − m̂)/ŝ (ŝ the draws' standard deviations, Ĉ → the correlation matrix R̂: well conditioned even where
variances span 10¹⁷) q has precision M = R̂⁻¹ + diag τ, τ_k = 2bŝ_k²(1 − 1/a_k), and mean M⁻¹h with
h_k = 2bŝ_k(x_k − m̂_k) + (2b/a_k)ŝ_k(m̂_k − μ_k). Draws y = m̂ + ŝ ⊙ (M⁻¹h(x) + √widen L⁻ᵀε), LLᵀ = M, with ε fixed
(common random numbers), make ĉ(x) smooth in x; its sup is searched as on the sample path: candidates (starts, pool,
r's mean, the mode of the Gaussian approximation) ranked by ln ĉ − 2 SE on 1024 draws, L-BFGS from the best in
coordinates whitened by r's scale, endpoints and starts ranked on other draws, the winner re-evaluated on held-out
draws; its SE there and on the ranking draws (the search's resolution) enter the lower bound's SE. A winner where
L-BFGS did not converge (c growing without bound) is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, NonFiniteError
from ebmlab.ratedistortion.bounds import MIN_ESS, RDBounds, draw_batches, upper_bound
from ebmlab.ratedistortion.distortions import Distortion, get_distortion
from ebmlab.ratedistortion.sup_search import gaussian_mode

__all__ = ["DensityRDBounds", "TiltedProposal", "density_bounds", "density_log_c"]

LogProb = Callable[[Tensor], Tensor]
Terms = Callable[[Tensor], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class DensityRDBounds(RDBounds):
    """:class:`RDBounds` whose c was importance-sampled from the source density; ``ess``: of c(x*)'s weights."""

    ess: float = 0.0
    c_estimator: str = "density"


def slope(rho: Distortion, beta: float, dim: int) -> float:
    """b with ρ = (b/β)·Σ(x − y)²: β for summed squared error, β/d for MSE; other distortions are refused."""
    b = {id(get_distortion("squared")): beta, id(get_distortion("mse")): beta / dim}.get(id(rho))
    if b is None:
        raise ConfigError(
            "the density c-estimator needs squared or mse distortion (its proposal is the Gaussian tilt); "
            "use the default c-estimator (samples)."
        )
    return b


class TiltedProposal:
    """q(y|x) of the module doc, from source draws ``y_fit`` (n, d) and optionally r's ``(mean, variance)``."""

    def __init__(
        self,
        y_fit: Tensor,
        rho: Distortion,
        beta: float,
        r_moments: tuple[Tensor, Tensor] | None = None,
        widen: float = 1.0,
    ) -> None:
        y_fit = y_fit.double()
        n, d = y_fit.shape
        b = slope(rho, beta, d)
        self.m, self.s = y_fit.mean(0), y_fit.std(0).clamp_min(1e-300)
        z = (y_fit - self.m) / self.s
        corr = z.T @ z / (n - 1)
        inv_a = torch.zeros(d, dtype=torch.float64)
        mu = self.m
        if r_moments is not None:
            mu, v = (t.double() for t in r_moments)
            inv_a = 1.0 / (1.0 + 2.0 * b * v)
        tau = 2.0 * b * self.s.square() * (1.0 - inv_a)
        prec = torch.cholesky_inverse(torch.linalg.cholesky(corr)) + torch.diag(tau)
        self.chol = torch.linalg.cholesky(prec)
        self.lin = 2.0 * b * self.s
        self.h0 = -self.lin * self.m + 2.0 * b * inv_a * self.s * (self.m - mu)
        self.widen = float(widen)
        self.log_norm = float(
            -0.5 * d * math.log(2 * math.pi * self.widen) + self.chol.diagonal().log().sum() - self.s.log().sum()
        )

    def draw(self, x: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
        """y (k, n, d) ~ q(·|x_j) for candidates x (k, d) from standard normals ``eps`` (n, d), and ln q(y) (n,)."""
        mean_z = torch.cholesky_solve((self.lin * x + self.h0).T, self.chol).T
        noise = torch.linalg.solve_triangular(self.chol.T, eps.T, upper=True).T * math.sqrt(self.widen)
        y = self.m + self.s * (mean_z[:, None, :] + noise[None])
        return y, self.log_norm - 0.5 * eps.square().sum(1)


def density_log_c(
    x: Tensor, eps: Tensor, q: TiltedProposal, log_prob: LogProb, terms: Terms, rho: Distortion, beta: float
) -> Tensor:
    """Log importance weights ln w (k, n) of c at candidates x (k, d); ln ĉ(x) = logmeanexp over the last axis."""
    y, log_q = q.draw(x, eps)
    k, n, d = y.shape
    flat = y.reshape(k * n, d)
    lp = log_prob(flat).reshape(k, n)
    if bool(torch.isnan(lp).any()) or bool((lp == math.inf).any()):
        raise NonFiniteError("log_prob returned NaN or +inf at proposal draws; it must be a normalised log-density.")
    lw = lp - beta * rho(x[:, None, :], y) - terms(flat)[0].reshape(k, n) - log_q
    return torch.where(torch.isnan(lw), -math.inf, lw)


def _summary(lw: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(ln ĉ, SE of ln ĉ, ESS) per row of log-weights (k, n)."""
    top = lw.max(1, keepdim=True).values.clamp_min(-1e300)
    w = (lw - top).exp()
    mean = w.mean(1)
    return top[:, 0] + mean.log(), w.std(1) / (mean * math.sqrt(lw.shape[1])), w.sum(1) ** 2 / w.square().sum(1)


def _scores(cand: Tensor, eps: Tensor, fn: Callable[[Tensor, Tensor], Tensor], z: float, group: int = 8) -> Tensor:
    with torch.no_grad():
        parts = [_summary(fn(c, eps)) for c in cand.split(group)]
    return torch.cat([lc - z * se for lc, se, _ in parts])


def _ascend(
    x0: Tensor, eps: Tensor, fn: Callable[[Tensor, Tensor], Tensor], centre: Tensor, scale: Tensor, steps: int
) -> tuple[Tensor, Tensor]:
    """L-BFGS on ln ĉ (common random numbers ``eps``) from each row of x0 in u = (x − centre)/scale; the endpoints
    and the largest |∂ ln ĉ/∂u| there (the convergence check)."""
    ends, grads = [], []
    for s in x0:
        u = ((s - centre) / scale).detach().clone().requires_grad_(True)
        opt = torch.optim.LBFGS(
            [u], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe", tolerance_change=1e-12
        )

        def loss_fn(u: Tensor = u) -> Tensor:
            return -_summary(fn((centre + scale * u)[None], eps))[0][0]

        def closure(u: Tensor = u, opt: torch.optim.LBFGS = opt) -> Tensor:
            opt.zero_grad()
            loss = loss_fn(u)
            loss.backward()
            return loss

        opt.step(closure)
        end_u = u.detach().clone().requires_grad_(True)
        g = torch.autograd.grad(loss_fn(end_u), end_u)[0]
        ok = bool(torch.isfinite(end_u).all()) and bool(torch.isfinite(g).all())
        ends.append((centre + scale * end_u).detach() if ok else s)
        grads.append(g.abs().max().detach() if ok else torch.tensor(math.inf, dtype=torch.float64))
    return torch.stack(ends), torch.stack(grads)


def density_bounds(
    terms: Terms,
    sample_y: Callable[[int], Tensor],
    rho: Distortion,
    beta: float,
    n_y: int = 20_000,
    *,
    log_prob: LogProb,
    starts: Tensor | None = None,
    pool: Tensor | None = None,
    at_distortion: float | None = None,
    r_moments: tuple[Tensor, Tensor] | None = None,
    min_ess: float = MIN_ESS,
    d_rel_se: float | None = None,
    max_y: int = 5_000_000,
    generator: torch.Generator | None = None,
    n_fit: int = 50_000,
    n_search: int = 4096,
    n_validate: int = 16_384,
    n_held: int = 65_536,
    widen: float = 1.0,
    refine: int = 8,
    steps: int = 100,
    grad_tol: float = 1e-3,
) -> DensityRDBounds:
    """:func:`~ebmlab.ratedistortion.bounds.rd_bounds` with c importance-sampled from ``log_prob`` (module doc).

    The upper bound, D̂ and E_y ln Z_r come from source draws as on the sample path (``d_rel_se``/``max_y`` alike).
    The lower bound is refused (0) when the held-out weights' ESS at x* is below ``min_ess``, when L-BFGS did not
    converge at x* (largest |∂ ln ĉ/∂u| above ``grad_tol``: c may grow without bound) or when ln ĉ(x*) < 0 by 3 SE.
    """
    g = generator if generator is not None else torch.Generator(device="cpu").manual_seed(0)
    _, lzs, dists = draw_batches(terms, sample_y, n_y, d_rel_se, max_y)
    with torch.no_grad():
        all_lz, all_d = torch.cat(lzs), torch.cat(dists)
        n_all = all_d.numel()
        d_hat, d_se = float(all_d.mean()), float(all_d.std() / math.sqrt(n_all))
        upper, upper_se = upper_bound(all_lz, all_d, beta)
        y_fit = sample_y(n_fit).double()
    q = TiltedProposal(y_fit, rho, beta, r_moments, widen)
    d = y_fit.shape[1]

    def fn(x: Tensor, eps: Tensor) -> Tensor:
        return density_log_c(x, eps, q, log_prob, terms, rho, beta)

    def normals(n: int) -> Tensor:
        return torch.randn(n, d, generator=g, dtype=torch.float64)

    eps_s, eps_v, eps_h = normals(n_search), normals(n_validate), normals(n_held)
    cand = [y_fit[:16]] + [t.double() for t in (starts, pool) if t is not None]
    centre, scale = y_fit.mean(0), y_fit.std(0)
    if r_moments is not None:
        r_mean, r_var = (t.double() for t in r_moments)
        cand += [r_mean[None], gaussian_mode(y_fit, r_mean, r_var, slope(rho, beta, d))[None]]
        scale = r_var.sqrt()
    cand_t = torch.cat(cand)
    k = min(refine, cand_t.shape[0])
    top = cand_t[_scores(cand_t, eps_s[:1024], fn, 2.0).topk(k).indices]  # a first cut on 1024 of the draws
    ends, grads = _ascend(top, eps_s, fn, centre, scale.clamp_min(1e-12), steps)
    every = torch.cat((ends, top))  # the endpoints and their starts, ranked on other draws
    grad_all = torch.cat((grads, torch.full((k,), math.inf, dtype=torch.float64)))
    best = int(_scores(every, eps_v, fn, 2.0).argmax())
    x_star = every[best]
    with torch.no_grad():
        _, se_v, _ = _summary(fn(x_star[None], eps_v))
        lc_h, se_h, ess_h = (float(t[0]) for t in _summary(fn(x_star[None], eps_h)))
    how = (
        f"c by importance sampling from the source density (tilted-Gaussian proposal, widen {widen:g}): "
        f"{cand_t.shape[0]} candidates, L-BFGS from the best {k} (≤ {steps} iterations) on {n_search} proposal draws, "
        f"ranked on {n_validate}, held-out {n_held}; held-out ESS {ess_h:.0f}"
    )
    search_se = float(se_v[0])
    failed = ""
    if not ess_h >= min_ess:  # also NaN: every weight 0 (q misses the integrand's support)
        failed = f"; c(x*) rests on ESS {ess_h:.0f} < {min_ess:g} proposal draws: not estimable"
    elif float(grad_all[best]) > grad_tol:
        failed = f"; L-BFGS did not converge at x* (|grad| {float(grad_all[best]):.2g}): sup c not found"
    elif lc_h + 3 * se_h < 0:
        failed = "; missed the sup (ln c < 0)"
    if failed:
        return DensityRDBounds(float(beta), d_hat, d_se, upper, upper_se, 0.0, 0.0, lc_h, se_h, how + failed, ess=ess_h)
    how += f"; search resolution ±{search_se:.3g} (in the lower bound's SE)"
    d_at = d_hat if at_distortion is None else at_distortion
    lower = -beta * d_at - float(all_lz.mean()) - max(lc_h, 0.0)
    lower_se = math.hypot(float(all_lz.std()) / math.sqrt(n_all), se_h, search_se)
    return DensityRDBounds(
        float(beta), d_hat, d_se, upper, upper_se, max(lower, 0.0), lower_se, lc_h, se_h, how, ess=ess_h
    )
