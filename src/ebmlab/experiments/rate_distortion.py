"""Train EBA at one β and evaluate it; R(D) points for every method (the API behind ``ebmlab rd``).

A point is ``{"beta", "distortion", "rate", "rate_upper", "rate_lower", "rate_critic", "rate_closed_form",
"seconds"}`` in nats (None where not applicable). ``rate`` is the method's headline estimate: for EBA the
rate E_y KL(p_φ(·|y) ‖ p_φ) of the learned pair at its own distortion D̂ (an achievable rate, the point
estimate of the upper bound); ``rate_upper`` / ``rate_lower`` are the upper bound and Csiszár's lower bound
from the learned marginal widened by ``Z_BAND`` standard errors (Monte Carlo over y and, for the lower
bound, the held-out value of sup c), so the band is a ~95 % statement; ``rate_closed_form`` is R(D̂) at
the *achieved* distortion (matched-distortion comparison). ``extra`` holds the raw bounds and their SEs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import torch

from ebmlab.errors import ConfigError
from ebmlab.ratedistortion import closed_form as cf
from ebmlab.ratedistortion.blahut_arimoto import blahut_arimoto, discretize_density
from ebmlab.ratedistortion.bounds import (
    RDBounds,
    abs_1d_marginal_terms,
    gaussian_marginal_terms,
    rd_bounds,
    sample_marginal_terms,
)
from ebmlab.ratedistortion.density_c import DensityRDBounds, density_bounds
from ebmlab.ratedistortion.distortions import get_distortion, pairwise
from ebmlab.ratedistortion.mixture import MixtureEnergy, mixture_abs_terms
from ebmlab.ratedistortion.model import DiscreteEnergy, whitened_chains
from ebmlab.ratedistortion.sources import BernoulliSource, GaussianSource, LaplaceSource, Source
from ebmlab.samplers.langevin import MALA

__all__ = [
    "C_ESTIMATORS",
    "METHODS",
    "bounded_widenings",
    "closed_form_rate",
    "estimate_rd",
    "evaluate_eba",
    "train_eba",
    "trivial_reason",
]

METHODS = ("eba", "eba-ba", "ba", "closed-form")
#: estimators of c(x) in Csiszár's lower bound: from source draws (default) or importance-sampled from the source's
#: log-density (``ebmlab.ratedistortion.density_c``; needs ``source.log_prob``)
C_ESTIMATORS = ("samples", "density")
#: standard errors added to (subtracted from) the upper (lower) bound in reported points
Z_BAND = 2.0
#: target relative SE of D̂ where Z_r is exact (evaluation draws are cheap there): 200 000 y left ±0.3 % on the
#: scalar source's D̂, a third of the |ΔD| ≤ 1 % budget
D_REL_SE = 1e-3
#: held-out source draws for ĉ on the 1-D grid where Z_r is exact and c is O(log n) per node (mixture, |x − y|)
N_GRID_Y = 2_000_000
#: variance factors of the Gaussian marginal also tried for the lower bound (each gives a valid bound)
WIDEN = (1.02, 1.1, 1.3, 2.0)
_COMPATIBLE = {"gaussian": ("squared", "mse"), "bernoulli": ("hamming",), "laplace": ("abs",)}


def closed_form_rate(source: Source, distortion: str, d: float) -> float | None:
    """R(D) in nats at distortion d where a closed form exists, else None."""
    if isinstance(source, GaussianSource) and distortion in ("squared", "mse"):
        return cf.gaussian_rate_at(source.variances, d, per_dim=distortion == "mse")
    if isinstance(source, BernoulliSource) and distortion == "hamming":
        return (
            max(cf.binary_entropy(source.p) - cf.binary_entropy(min(d, 0.5)), 0.0)
            if d < min(source.p, 1 - source.p)
            else 0.0
        )
    if isinstance(source, LaplaceSource) and distortion == "abs":
        return max(-math.log(d / source.scale), 0.0) if d > 0 else math.inf
    return None


def train_eba(
    method: Any,
    steps: int,
    seed: int,
    lr: float = 0.02,
    critic_lr: float = 2e-3,
    average: float = 0.25,
    callbacks: Sequence[Any] = (),
    schedule: str = "cosine",
    final_lr_fraction: float = 0.01,
) -> Any:
    """Fit with the library loop (Adam, lr by ``schedule`` — ``fit``'s ``lr_schedule``: cosine decay to
    ``final_lr_fraction`` × lr by default, or constant; sequential critic → energy stages for EBA).

    ``average``: the energy's parameters are averaged over the last fraction ``average`` of the steps
    (Polyak–Ruppert) and the average is loaded at the end. Near the optimum L_RD is flat in the marginal's
    scale at low rates, so the last iterate wanders by the gradient noise; the average wanders less (0 = off).
    It should cover only converged steps: an average over a still-moving trajectory lags behind it.
    """
    from ebmlab.training import fit

    groups = {"energy": {"lr": lr}} | ({"critic": {"lr": critic_lr}} if method.critic is not None else {})
    cfg = {
        "steps": steps,
        "seed": seed,
        "lr": lr,
        "lr_schedule": schedule,
        "final_lr_fraction": final_lr_fraction,
        "groups": groups,
        "progress": False,
        "log_every": max(1, steps // 50),
    }
    start = steps - int(average * steps) if average > 0 else steps + 1
    params = list(method.energy.parameters())
    acc = [torch.zeros_like(p) for p in params]
    count = [0]

    def accumulate(step: int, values: dict[str, float]) -> None:
        if step > start:
            with torch.no_grad():
                for a, p in zip(acc, params, strict=True):
                    a.add_(p)
            count[0] += 1

    run = fit(method, None, cfg, callbacks=[accumulate, *callbacks])
    if count[0]:
        with torch.no_grad():
            for a, p in zip(acc, params, strict=True):
                p.copy_(a / count[0])
    return run


def evaluate_eba(
    method: Any, seed: int, n_y: int = 200_000, n_r: int = 4096, r_steps: int = 2000, log_prob: Any = None
) -> RDBounds:
    """Sandwich bounds from the learned marginal p_φ (exact Z for Gaussian/discrete energies, else MALA draws).

    ``log_prob``: the source's normalised log-density ``(n, d) -> (n,)``; given, c(x) of the lower bound is
    importance-sampled from it (:func:`~ebmlab.ratedistortion.density_c.density_bounds`) instead of averaged over
    source draws (squared error / MSE only).
    """
    g = torch.Generator(device="cpu").manual_seed(seed)
    src, rho, beta, energy = method.source, method.rho, method.beta, method.energy
    bounds: Any = rd_bounds if log_prob is None else partial(density_bounds, log_prob=log_prob, generator=g)

    def sample_y(n: int) -> torch.Tensor:
        if isinstance(src, BernoulliSource):  # stratified: exactly round(p·n) ones, no frequency noise
            k = round(src.p * n)
            return torch.cat((torch.ones(k, 1, device="cpu"), torch.zeros(n - k, 1, device="cpu"))).double()
        return src.sample(n, g)

    per_dim = rho is get_distortion("mse")
    squared_error = per_dim or rho is get_distortion("squared")
    if isinstance(energy, DiscreteEnergy):
        if log_prob is not None:
            raise ConfigError("the density c-estimator applies to continuous sources; use the default (samples).")
        alphabet = energy.alphabet.double()
        log_r = torch.log_softmax(-energy.logits.detach().double(), 0)

        def terms(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            r = pairwise(rho, alphabet, y)
            lw = log_r[None, :] - beta * r
            return torch.logsumexp(lw, 1), (torch.softmax(lw, 1) * r).sum(1)

        return rd_bounds(terms, sample_y, rho, beta, min(n_y, 50_000), alphabet=alphabet)
    gauss = energy.gaussian()
    if gauss is not None and not squared_error:  # Z_r(y) in closed form only under squared error: exact draws of r
        loc, var = (t.double() for t in gauss)
        xr = loc + var.sqrt() * torch.randn(n_r * 4, src.dim, generator=g, dtype=torch.float64)
        terms, ny = draw_terms(xr, rho, beta, n_y)
        return bounds(terms, sample_y, rho, beta, ny, starts=xr[:64], r_moments=(loc, var))
    if gauss is not None:
        loc, var = (t.double() for t in gauss)
        return _gaussian_bounds(src, sample_y, rho, beta, per_dim, loc, var, n_y, g, bounds)
    if isinstance(energy, MixtureEnergy) and rho is get_distortion("abs"):  # Z_r in closed form
        xr = energy.sample(64, g).double()
        abs_terms, moments = mixture_abs_terms(energy, beta), (xr.mean(0), xr.var(0))
        extra = {"n_grid_y": N_GRID_Y} if log_prob is None else {}  # the density path refuses |x − y| (one line)
        return bounds(abs_terms, sample_y, rho, beta, n_y, starts=xr, r_moments=moments, d_rel_se=D_REL_SE, **extra)
    if isinstance(energy, MixtureEnergy):  # normalised: exact draws of r (8 n_r of them) for the Monte Carlo Z_r
        xr = energy.sample(8 * n_r, g).double()
        terms, ny = draw_terms(xr, rho, beta, n_y)
        return bounds(terms, sample_y, rho, beta, ny, starts=xr[:64], r_moments=(xr.mean(0), xr.var(0)))
    x0 = method.chains["xm"][:n_r] if method.chains else src.sample(n_r, g).float()
    xr = whitened_chains(energy, MALA(0.05), x0, r_steps, g).double()
    mc_terms = sample_marginal_terms(xr, rho, beta)
    moments = (xr.mean(0), xr.var(0))
    return bounds(mc_terms, sample_y, rho, beta, min(n_y, 10_000), starts=xr[:64], r_moments=moments)


def draw_terms(xr: torch.Tensor, rho: Any, beta: float, n_y: int) -> tuple[Any, int]:
    """(terms, number of y) for Monte Carlo Z_r from draws ``xr``: |x − y| in 1-D is O(n ln m), so it affords every y
    (the distortion's Monte Carlo error moves R(D̂) by β·SE(D̂): 10 000 y put ±2 % on a Laplace source's R at β = 1.5)."""
    if xr.shape[1] == 1 and rho is get_distortion("abs"):
        return abs_1d_marginal_terms(xr, beta), n_y
    return sample_marginal_terms(xr, rho, beta), min(n_y, 10_000)


def bounded_widenings(
    y: torch.Tensor, var: torch.Tensor, beta: float, factors: Sequence[float], z: float = 3.0
) -> list[float]:
    """The factors w for which sup c is finite for r = N(μ, w·var) under squared error (slope ``beta``, per
    component), judged from source draws ``y``.

    c(x) = q(x)/r(x) with q = E_y Q(·|y) the tilted channel's output marginal, so sup c < ∞ needs q's tails no
    heavier than r's. Per component Q(·|y) is Gaussian with variance s²/a and mean (μ + 2βs²y)/a, a = 1 + 2βs²,
    so Var q = s²/a + (2βs²/a)² Var y; q lighter than r is Var q < s², which for a Gaussian source is exactly
    s² > σ² − 1/(2β) (the optimal marginal's variance). Var y is the draws' variance; a factor counts only if
    the inequality holds with ``z`` standard errors of it to spare.
    """
    vy = y.var(0)
    se_rel = (y - y.mean(0)).square().std(0) / (vy * math.sqrt(y.shape[0]))
    out = []
    for w in factors:
        s2 = var * w
        a = 1 + 2 * beta * s2
        var_q = s2 / a + (2 * beta * s2 / a).square() * vy * (1 + z * se_rel)
        if bool((var_q < s2).all()):
            out.append(w)
    return out


def _gaussian_bounds(
    src: Source,
    sample_y: Any,
    rho: Any,
    beta: float,
    per_dim: bool,
    loc: torch.Tensor,
    var: torch.Tensor,
    n_y: int,
    g: torch.Generator,
    bounds: Any = rd_bounds,
) -> RDBounds:
    """Bounds from a Gaussian marginal under squared error: Z_r exact; the lower bound from r or r widened.

    The lower bound holds for any r, and is finite only where sup c is: r and its widenings ``WIDEN`` for which
    :func:`bounded_widenings` finds q lighter-tailed than r are searched (the others would need a sup over
    directions the source draws cannot reach), and the best (largest lower − 2 SE) is kept.
    """
    b = beta / src.dim if per_dim else beta
    ok = bounded_widenings(src.sample(50_000, g), var, b, (1.0, *WIDEN))
    # starts for the sup search: source draws, marginal draws (E_r c = 1 there) and the marginal's mean; a pool
    # of marginal draws shrunk towards the mean (c's maximum sits near r's mode when r ≈ r*) and source draws
    draws = loc + var.sqrt() * torch.randn(31, src.dim, generator=g, dtype=torch.float64, device=g.device)
    starts = torch.cat((src.sample(32, g), draws, loc[None]))
    eps = torch.randn(256, src.dim, generator=g, dtype=torch.float64, device=g.device) * var.sqrt()
    pool = torch.cat([loc + f * eps for f in (1.0, 0.5, 0.25)] + [src.sample(256, g)])
    best = bounds(
        gaussian_marginal_terms(loc, var, beta, per_dim),
        sample_y,
        rho,
        beta,
        n_y,
        starts=starts,
        pool=pool,
        r_moments=(loc, var),
        d_rel_se=D_REL_SE,
    )
    if 1.0 not in ok:
        best = replace(
            best, rate_lower=0.0, rate_lower_se=0.0, log_sup=math.inf, search="r narrower than q: sup c = inf"
        )
    refused: list[tuple[float, str]] = []
    for widen in (w for w in ok if w != 1.0):
        w = bounds(
            gaussian_marginal_terms(loc, var * widen, beta, per_dim),
            sample_y,
            rho,
            beta,
            n_y,
            starts=starts,
            at_distortion=best.distortion,
            pool=pool,
            r_moments=(loc, var * widen),
        )
        if w.rate_lower <= 0:
            refused.append((widen, w.search))
        if w.rate_lower - 2 * w.rate_lower_se > best.rate_lower - 2 * best.rate_lower_se:
            ess = {"ess": w.ess} if isinstance(w, DensityRDBounds) else {}
            best = replace(
                best,
                **ess,
                rate_lower=w.rate_lower,
                rate_lower_se=w.rate_lower_se,
                log_sup=w.log_sup,
                log_sup_se=w.log_sup_se,
                search=f"{w.search}; r widened x{widen}",
            )
    if best.rate_lower <= 0 and refused:
        best = replace(best, search=trivial_reason(best.search, refused))
    return best


def trivial_reason(own: str, refused: Sequence[tuple[float, str]]) -> str:
    """Why a lower bound is trivial when r itself (search label ``own``) and every widening (w, label) gave 0.

    The widenings' reasons come first: "not estimable" when a widening's c(x*) rests on too few held-out draws
    (ESS of c's weights below ``MIN_ESS``) — not r's tails, which only concern r itself.
    """
    low_ess = [w for w, how in refused if "not estimable" in how]
    parts = [f"×{w:g}: {how.rsplit('; ', 1)[-1]}" for w, how in refused]
    head = (
        f"not estimable: ESS of c's weights too low at widening(s) {', '.join(f'×{w:g}' for w in low_ess)}"
        if low_ess
        else "no widening gave a non-trivial bound"
    )
    return f"{head} ({'; '.join(parts)}); r itself: {own}"


def _point(
    beta: float,
    d: float | None,
    rate: float | None,
    up: float | None,
    lo: float | None,
    crit: float | None,
    closed: float | None,
    seconds: float,
) -> dict[str, Any]:
    return {
        "beta": beta,
        "distortion": d,
        "rate": rate,
        "rate_upper": up,
        "rate_lower": lo,
        "rate_critic": crit,
        "rate_closed_form": closed,
        "seconds": round(seconds, 3),
    }


def _ba_point(
    source: Source, distortion: str, beta: float, tol: float, grid: int, max_iter: int = 5000
) -> tuple[float, float, float]:
    """(D, R_upper, R_lower) by BA: exact alphabet for Bernoulli; 1-D grids per component otherwise."""
    rho = get_distortion(distortion)
    if isinstance(source, BernoulliSource):
        a = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
        r = blahut_arimoto(
            torch.tensor([1 - source.p, source.p], dtype=torch.float64), pairwise(rho, a, a), beta, tol, max_iter
        )
        return r.distortion, r.rate, r.rate_lower
    if isinstance(source, GaussianSource) and distortion in ("squared", "mse"):
        b = beta / source.dim if distortion == "mse" else beta
        parts = []
        for s2 in source.variances:  # independent components at a common slope: R and D add
            gr = torch.linspace(-7 * math.sqrt(s2), 7 * math.sqrt(s2), grid, dtype=torch.float64)
            parts.append(
                blahut_arimoto(
                    discretize_density(-0.5 * gr**2 / s2, gr), (gr[None] - gr[:, None]) ** 2, b, tol, max_iter
                )
            )
        d = sum(r.distortion for r in parts) / (source.dim if distortion == "mse" else 1)
        return d, sum(r.rate for r in parts), sum(r.rate_lower for r in parts)
    if isinstance(source, LaplaceSource):
        gr = torch.linspace(-12 * source.scale, 12 * source.scale, grid, dtype=torch.float64)
        r = blahut_arimoto(
            discretize_density(-gr.abs() / source.scale, gr), (gr[None] - gr[:, None]).abs(), beta, tol, max_iter
        )
        return r.distortion, r.rate, r.rate_lower
    raise ConfigError(f"--method ba supports the built-in sources, not {source.name!r}; use --method eba.")


def estimate_rd(
    source: Source,
    distortion: str,
    betas: Sequence[float],
    method: str,
    seed: int = 0,
    steps: int = 1500,
    n_chains: int = 1024,
    ba_tol: float = 1e-5,
    ba_grid: int = 401,
    c_estimator: str = "samples",
    device: str | torch.device = "cpu",
) -> list[dict[str, Any]]:
    """R(D) points at each β (see the module doc for the fields).

    ``device`` (EBA only): where the EBM and its chains train; the bounds are then evaluated on the CPU (the same
    bits as always for ``"cpu"``).

    ``c_estimator="density"`` (EBA only): c(x) of the lower bound importance-sampled from ``source.log_prob``, the
    source's normalised log-density (:mod:`ebmlab.ratedistortion.density_c`); the points then carry
    ``"c_estimator"``.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}.")
    log_prob = None
    if c_estimator not in C_ESTIMATORS:
        raise ConfigError(f"unknown c-estimator {c_estimator!r}; valid: {', '.join(C_ESTIMATORS)}.")
    if c_estimator == "density":
        log_prob = getattr(source, "log_prob", None)
        if not callable(log_prob):
            raise ConfigError(
                f"--c-estimator density needs a source with log_prob(y), a normalised log-density; {source.name!r} has "
                "none (use --source gaussian or a Source subclass with log_prob, or the default --c-estimator samples)."
            )
        if method not in ("eba", "eba-ba"):
            raise ConfigError(
                f"--c-estimator applies to --method eba or eba-ba (the learned marginal), not {method!r}."
            )
    if torch.device(device).type != "cpu" and method not in ("eba", "eba-ba"):
        raise ConfigError(f"--device applies to --method eba or eba-ba (training); {method!r} runs on the CPU.")
    get_distortion(distortion)
    if source.name in _COMPATIBLE and distortion not in _COMPATIBLE[source.name]:
        raise ConfigError(
            f"source {source.name} pairs with distortion {' or '.join(_COMPATIBLE[source.name])}, not {distortion!r}."
        )
    points = []
    for beta in betas:
        if not (beta > 0 and math.isfinite(beta)):
            raise ConfigError(f"beta must be positive and finite, got {beta!r}; e.g. --beta 0.5,1,2.")
        t0 = time.perf_counter()
        if method == "closed-form":
            pt = _closed_point(source, distortion, beta)
            if pt is None:
                raise ConfigError(f"no closed form for source {source.name!r} with distortion {distortion!r}.")
            points.append(_point(beta, pt.distortion, pt.rate, None, None, None, pt.rate, time.perf_counter() - t0))
        elif method == "ba":
            d, up, lo = _ba_point(source, distortion, beta, ba_tol, ba_grid)
            points.append(
                _point(beta, d, up, up, lo, None, closed_form_rate(source, distortion, d), time.perf_counter() - t0)
            )
        else:
            from ebmlab.methods.eba import EBA
            from ebmlab.training import derive_seed

            with torch.random.fork_rng(devices=[]):  # the initial weights from the seed (they were unseeded)
                torch.default_generator.manual_seed(derive_seed(seed, "init"))
                m = EBA(source, distortion, beta, variant="ba" if method == "eba-ba" else "eba", n_chains=n_chains)
            run = train_eba(m.to(device), steps, seed)
            m.to("cpu")  # the bounds run on the CPU
            m.chains = {k: v.cpu() for k, v in m.chains.items()}
            b = evaluate_eba(m, seed + 1, log_prob=log_prob)
            crit = run.final_metrics.get("rate_critic")
            up, lo = b.rate_upper + Z_BAND * b.rate_upper_se, b.rate_lower - Z_BAND * b.rate_lower_se
            points.append(
                _point(
                    beta,
                    b.distortion,
                    b.rate_upper,
                    up,
                    lo,
                    crit,
                    closed_form_rate(source, distortion, b.distortion),
                    time.perf_counter() - t0,
                )
                | {"extra": b.to_dict()}
                | ({"c_estimator": c_estimator} if log_prob is not None else {})
            )
    return points


def _closed_point(source: Source, distortion: str, beta: float) -> cf.RDPoint | None:
    if isinstance(source, GaussianSource) and distortion in ("squared", "mse"):
        return cf.gaussian_rd(source.variances, beta, per_dim=distortion == "mse")
    if isinstance(source, BernoulliSource) and distortion == "hamming":
        return cf.bernoulli_rd(source.p, beta)
    if isinstance(source, LaplaceSource) and distortion == "abs":
        return cf.laplace_rd(source.scale, beta)
    return None
