"""MCMC convergence diagnostics over batched chains: autocorrelation, split-R̂ and ESS.

A *trace* has shape ``(n_draws, n_chains)`` or ``(n_draws, n_chains, *event)``: draws first,
chains second (a :class:`torch.Tensor` or anything :func:`torch.as_tensor` accepts, e.g. a
NumPy array). Every statistic is computed independently per event dimension and returned
with shape ``event`` (a 0-d tensor for a 2-D trace), as ``float64`` on the trace's device.

The estimators follow Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), "Rank-normalization,
folding, and localization: an improved R̂ for assessing convergence of MCMC", Bayesian Analysis
16(2). With ``N`` draws per (split) chain, ``M`` (split) chains and ``S = N·M`` draws in all:

* chain means x̄_m, chain variances s_m² (divisor ``N − 1``), W = mean_m s_m²,
  B/N = var_m(x̄_m) (divisor ``M − 1``), var⁺ = (N − 1)/N · W + B/N;
* R̂ = sqrt(var⁺ / W);
* ρ̂_t = 1 − (W − mean_m γ̂_{m,t}) / var⁺ with γ̂_{m,t} the (biased, divisor ``N``) autocovariance
  of chain m at lag t, and ESS = S / τ̂ with τ̂ = −1 + 2 Σ_k P̂_k, P̂_k = ρ̂_{2k} + ρ̂_{2k+1}
  summed over Geyer's initial positive sequence and made monotone (Geyer 1992, "initial
  monotone sequence estimator"). τ̂ is floored at 1/log₁₀(S), as in Stan, so that
  antithetic chains report at most S·log₁₀(S).

*Split* chains: each chain is cut into its first and second half (the middle draw of an odd
length is dropped), which doubles the chains and exposes trends within a chain.
*Rank normalisation*: pooled draws are replaced by z = Φ⁻¹((r − 3/8)/(S + 1/4)) with r their
average rank (ties share a rank), which makes the diagnostics invariant to monotone
transformations and well defined for heavy tails.

Degenerate input, documented rather than raised: a dimension whose draws are all identical
gives ESS = nan and R̂ = nan; a dimension whose every split chain is constant but at
different values (chains stuck) gives R̂ = inf and ESS = nan; any non-finite draw makes that
dimension's statistics nan. Fewer than 4 draws (2 for :func:`autocorrelation`) raise
:class:`~ebmlab.errors.ConfigError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ebmlab.errors import ConfigError, ShapeError

__all__ = [
    "autocorrelation",
    "chain_health",
    "ess_basic",
    "ess_bulk",
    "mean_autocorrelation",
    "split_rhat",
    "summarize",
]

_MIN_DRAWS = 4


# ----------------------------------------------------------------------------- input handling


def _as_trace(trace: Any, name: str, min_draws: int) -> Tensor:
    """Validate a trace and return it as float64 of shape ``(n_draws, n_chains, *event)``."""
    t = trace if isinstance(trace, Tensor) else torch.as_tensor(np.asarray(trace))
    if t.dim() < 2:
        raise ShapeError(
            f"{name} must have shape (n_draws, n_chains) or (n_draws, n_chains, *event), got "
            f"{tuple(t.shape)}. For a single chain use `{name}[:, None]`; a sampler's per-step "
            "positions of shape (n_chains, *event) must be stacked along a new first dimension."
        )
    if t.is_complex():
        raise ShapeError(f"{name} must be real-valued, got dtype {t.dtype}.")
    if t.shape[1] == 0:
        raise ShapeError(f"{name} has shape {tuple(t.shape)}: no chains (dimension 1 is 0); expected >= 1.")
    if t.shape[0] < min_draws:
        raise ConfigError(
            f"{name} has {t.shape[0]} draws per chain (shape {tuple(t.shape)}); at least {min_draws} are "
            "needed (the diagnostics split each chain in two halves). Run the chains longer, and check "
            "that the trace is laid out draws-first: (n_draws, n_chains, *event)."
        )
    return t.detach().to(torch.float64)


def _flatten(t: Tensor) -> tuple[Tensor, torch.Size]:
    """``(N, M, *event) -> (N, M, D)`` and the event shape."""
    return t.reshape(t.shape[0], t.shape[1], -1), t.shape[2:]


def _split(x: Tensor) -> Tensor:
    """Split each chain in halves: ``(N, M, D) -> (N // 2, 2M, D)``, dropping a middle draw."""
    half = x.shape[0] // 2
    return torch.cat([x[:half], x[x.shape[0] - half :]], dim=1)


def _rank_normalize(x: Tensor) -> Tensor:
    """z = Φ⁻¹((r − 3/8)/(S + 1/4)) with r the average (tie-aware) rank in the pooled draws."""
    s = x.shape[0] * x.shape[1]
    flat = x.reshape(s, -1).T  # (D, S)
    ordered, order = flat.sort(dim=-1)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    pos = torch.arange(s, device=x.device, dtype=x.dtype)
    if bool(starts.all()):  # no ties: the k-th smallest draw has rank k in every dimension
        z_sorted = torch.special.ndtri((pos + 0.625) / (s + 0.25)).expand_as(ordered)
    else:  # a run of equal values shares the mean of its 1-based ranks
        ends = torch.ones_like(starts)
        ends[:, :-1] = starts[:, 1:]
        pos = pos.expand_as(ordered)
        first = torch.where(starts, pos, 0.0).cummax(dim=-1).values
        last = torch.where(ends, pos, float(s)).flip(-1).cummin(dim=-1).values.flip(-1)
        z_sorted = torch.special.ndtri(((first + last) / 2 + 0.625) / (s + 0.25))
    z = torch.empty_like(ordered).scatter_(-1, order, z_sorted)
    return z.T.reshape(x.shape)


def _fold(x: Tensor) -> Tensor:
    """|x − median| with the median of the pooled draws per dimension (for the tail R̂)."""
    flat = x.reshape(-1, x.shape[-1])
    s = flat.shape[0]
    lower = flat.kthvalue((s + 1) // 2, dim=0).values
    upper = lower if s % 2 else flat.kthvalue(s // 2 + 1, dim=0).values
    return (x - (lower + upper) / 2).abs()


def _degenerate(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per dimension of ``(N, M, D)``: (non-finite, all draws identical, every chain constant)."""
    nonfinite = ~torch.isfinite(x).all(dim=1).all(dim=0)
    chain_const = (x.amax(dim=0) == x.amin(dim=0)).all(dim=0)
    all_equal = chain_const & (x[0].amax(dim=0) == x[0].amin(dim=0))
    return nonfinite, all_equal, chain_const


def _finish(values: Tensor, x: Tensor, event: torch.Size, *, stuck: float) -> Tensor:
    """Apply the degenerate-input conventions and restore the event shape."""
    nonfinite, all_equal, chain_const = _degenerate(x)
    nan = torch.tensor(float("nan"), dtype=values.dtype, device=values.device)
    values = torch.where(chain_const, torch.full_like(values, stuck), values)
    values = torch.where(all_equal | nonfinite, nan, values)
    return values.reshape(event)


# ----------------------------------------------------------------------------- autocorrelation


def _autocovariance(x: Tensor) -> Tensor:
    """Biased autocovariance γ̂_t = (1/N) Σ_{i<N−t} (x_i − x̄)(x_{i+t} − x̄) along dim 0, via FFT."""
    n = x.shape[0]
    centred = x - x.mean(dim=0, keepdim=True)
    nfft = 1 << (2 * n - 1).bit_length()  # power of two >= 2N − 1: no circular wrap-around
    f = torch.fft.rfft(centred, n=nfft, dim=0)
    return torch.fft.irfft(f.real.square() + f.imag.square(), n=nfft, dim=0)[:n] / n


def autocorrelation(trace: Any, max_lag: int | None = None) -> Tensor:
    """Normalised autocorrelation of every chain and event dimension, by FFT.

    ρ_{m,t} = γ̂_{m,t} / γ̂_{m,0} with γ̂_{m,t} = (1/N) Σ_{i=0}^{N−1−t} (x_{m,i} − x̄_m)(x_{m,i+t} − x̄_m)
    (the biased, positive-definite estimator), for lags ``t = 0 … max_lag``.

    Args:
        trace: ``(n_draws, n_chains, *event)``.
        max_lag: largest lag returned; default ``n_draws − 1``.

    Returns:
        ``(max_lag + 1, n_chains, *event)`` float64; ρ_0 = 1, and nan for a constant chain.
    """
    t = _as_trace(trace, "trace", min_draws=2)
    n = t.shape[0]
    if max_lag is None:
        max_lag = n - 1
    if isinstance(max_lag, bool) or not isinstance(max_lag, int) or not 0 <= max_lag < n:
        raise ConfigError(
            f"max_lag must be an int in [0, n_draws - 1] = [0, {n - 1}], got {max_lag!r}. "
            "Leave it as None for all lags."
        )
    acov = _autocovariance(t)[: max_lag + 1]
    var = acov[:1]
    const = (t.amax(dim=0) == t.amin(dim=0)) | ~torch.isfinite(t).all(dim=0)
    rho = acov / torch.where(const, torch.ones_like(var), var)
    return torch.where(const, torch.full_like(rho, float("nan")), rho)


def mean_autocorrelation(trace: Any, max_lag: int | None = None) -> Tensor:
    """Autocorrelation averaged over chains: ``(max_lag + 1, *event)`` (nan if any chain is constant)."""
    return autocorrelation(trace, max_lag).mean(dim=1)


# ----------------------------------------------------------------------------- R̂ and ESS cores


def _variances(x: Tensor) -> tuple[Tensor, Tensor]:
    """(W, var⁺) per dimension of ``(N, M, D)``."""
    n, m = x.shape[0], x.shape[1]
    w = x.var(dim=0, correction=1).mean(dim=0)
    between = x.mean(dim=0).var(dim=0, correction=1) if m > 1 else torch.zeros_like(w)
    return w, (n - 1) / n * w + between


def _rhat(x: Tensor) -> Tensor:
    """R̂ = sqrt(var⁺ / W) of ``(N, M, D)`` chains (unsplit), shape ``(D,)``."""
    w, var_plus = _variances(x)
    return (var_plus / w.clamp_min(torch.finfo(w.dtype).tiny)).sqrt()


def _ess(x: Tensor) -> Tensor:
    """Multi-chain ESS of ``(N, M, D)`` chains with Geyer's initial monotone sequence, ``(D,)``."""
    n, m = x.shape[0], x.shape[1]
    s = n * m
    acov = _autocovariance(x)  # (N, M, D)
    w = acov[0].mean(dim=0) * n / (n - 1)
    between = x.mean(dim=0).var(dim=0, correction=1) if m > 1 else torch.zeros_like(w)
    var_plus = (n - 1) / n * w + between
    rho = 1 - (w - acov.mean(dim=1)) / var_plus.clamp_min(torch.finfo(w.dtype).tiny)  # (N, D)
    rho[0] = 1.0
    k = n // 2
    pairs = rho[0 : 2 * k : 2] + rho[1 : 2 * k : 2]  # P̂_k, (K, D)
    initial_positive = (pairs > 0).to(torch.int64).cumprod(dim=0).bool()
    monotone = pairs.cummin(dim=0).values
    tau = -1 + 2 * torch.where(initial_positive, monotone, torch.zeros_like(monotone)).sum(dim=0)
    tau = tau.clamp_min(1 / math.log10(s))
    return s / tau


# ----------------------------------------------------------------------------- public statistics


def split_rhat(trace: Any, rank_normalize: bool = True) -> Tensor:
    """Split-R̂ per event dimension.

    With ``rank_normalize=True`` (default, Vehtari et al. 2021) this is
    max(R̂_bulk, R̂_tail): R̂_bulk is R̂ of the rank-normalised split chains and R̂_tail that of the
    rank-normalised folded draws |x − median(x)|, which also catches chains that agree in
    location but differ in scale. With ``rank_normalize=False`` it is the classic split-R̂
    (Gelman et al., BDA3) of the raw draws: sqrt(var⁺ / W) on split chains, which needs finite
    variance and is not invariant to monotone transformations.

    Returns ``event``-shaped float64; values near 1 indicate mixing (Vehtari et al. recommend
    R̂ < 1.01). nan if all draws of a dimension are equal or not finite, inf if the chains are
    constant at different values.
    """
    t = _as_trace(trace, "trace", _MIN_DRAWS)
    x, event = _flatten(t)
    xs = _split(torch.nan_to_num(x))
    if rank_normalize:
        rhat = torch.maximum(_rhat(_rank_normalize(xs)), _rhat(_rank_normalize(_fold(xs))))
    else:
        rhat = _rhat(xs)
    return _finish(rhat, _split(x), event, stuck=float("inf"))


def ess_bulk(trace: Any) -> Tensor:
    """Bulk effective sample size per event dimension (Vehtari et al. 2021).

    ESS = S / τ̂ computed on the rank-normalised split chains (see the module docstring for
    τ̂ and the Geyer initial monotone sequence). Measures how well the centre of the
    distribution is explored and is invariant to monotone transformations of the draws.
    ``event``-shaped float64; nan for degenerate (constant or non-finite) dimensions.
    """
    t = _as_trace(trace, "trace", _MIN_DRAWS)
    x, event = _flatten(t)
    xs = _split(x)
    return _finish(_ess(_rank_normalize(torch.nan_to_num(xs))), xs, event, stuck=float("nan"))


def ess_basic(trace: Any) -> Tensor:
    """Effective sample size of the raw draws (split chains, no rank normalisation).

    The ESS relevant for the Monte-Carlo error of the posterior mean, sd(x̄) ≈ sd(x)/sqrt(ESS);
    needs a finite variance. ``event``-shaped float64; nan for degenerate dimensions.
    """
    t = _as_trace(trace, "trace", _MIN_DRAWS)
    x, event = _flatten(t)
    xs = _split(x)
    return _finish(_ess(torch.nan_to_num(xs)), xs, event, stuck=float("nan"))


def _plain(value: float) -> float | None:
    return value if math.isfinite(value) else None


def summarize(trace: Any, energy_trace: Any = None, accept: Any = None) -> dict[str, Any]:
    """JSON-ready summary of a run: plain Python ints/floats, ``None`` where undefined.

    Keys:
        ``n_draws``, ``n_chains``, ``n_dims``: sizes of the trace.
        ``ess_bulk_min``, ``ess_bulk_median``: bulk ESS over the event dimensions where it is finite.
        ``ess_bulk_min_per_draw``: ``ess_bulk_min / (n_draws · n_chains)``.
        ``rhat_max``: largest rank-normalised split-R̂ over the dimensions where it is finite.
        ``n_degenerate_dims``: dimensions left out of the above because their ESS or R̂ is nan/inf
        (constant draws, chains stuck at different values, or non-finite draws). Check it: a
        stuck sampler shows up here, not in ``rhat_max``.
        ``energy_ess_bulk``, ``energy_rhat``: the same for an ``(n_draws, n_chains)`` energy trace,
        if given.
        ``accept_mean``: mean of ``accept`` (acceptance flags or probabilities, any shape), if given.

    ``None`` replaces nan/inf so that ``json.dumps(summary, allow_nan=False)`` succeeds.
    """
    t = _as_trace(trace, "trace", _MIN_DRAWS)
    ess = ess_bulk(t).flatten().cpu().numpy()
    rhat = split_rhat(t).flatten().cpu().numpy()
    finite_ess = ess[np.isfinite(ess)]
    finite_rhat = rhat[np.isfinite(rhat)]
    total = t.shape[0] * t.shape[1]
    out: dict[str, Any] = {
        "n_draws": int(t.shape[0]),
        "n_chains": int(t.shape[1]),
        "n_dims": int(ess.size),
        "ess_bulk_min": _plain(float(finite_ess.min())) if finite_ess.size else None,
        "ess_bulk_median": _plain(float(np.median(finite_ess))) if finite_ess.size else None,
        "ess_bulk_min_per_draw": _plain(float(finite_ess.min()) / total) if finite_ess.size else None,
        "rhat_max": float(finite_rhat.max()) if finite_rhat.size else None,
        "n_degenerate_dims": int((~np.isfinite(ess) | ~np.isfinite(rhat)).sum()),
    }
    if energy_trace is not None:
        e = _as_trace(energy_trace, "energy_trace", _MIN_DRAWS)
        if e.shape != t.shape[:2]:
            raise ShapeError(
                f"energy_trace must have shape (n_draws, n_chains) = {tuple(t.shape[:2])} to match the "
                f"trace, got {tuple(e.shape)}. Record one energy per chain at every draw."
            )
        out["energy_ess_bulk"] = _plain(float(ess_bulk(e)))
        out["energy_rhat"] = _plain(float(split_rhat(e)))
    if accept is not None:
        a = (accept if isinstance(accept, Tensor) else torch.as_tensor(np.asarray(accept))).detach()
        out["accept_mean"] = _plain(float(a.to(torch.float64).mean())) if a.numel() else None
    return out


def chain_health(trace: Any, grads_per_draw: float | None = None, stuck_ratio: float = 0.1) -> dict[str, Any]:
    """Per-chain checks that a mean over chains hides: which chains never move.

    From a trace ``(n_draws, n_chains, *event)``: each chain's **move rate** (fraction of consecutive draws
    that differ — its acceptance rate for a Metropolis kernel without thinning) and **spread** (mean
    within-chain variance). A chain is *stuck* when its move rate is below ``stuck_ratio`` × the median
    chain's, or its spread is below ``stuck_ratio``² × the median chain's, while the median chain moves.
    With ``grads_per_draw`` (gradient evaluations per kept draw and chain) ``ess_per_grad`` is the bulk
    ESS per gradient evaluation, the cost-aware efficiency.

    Returns JSON-ready ``{"move_rate_min", "move_rate_median", "stuck_chains" (indices), "n_stuck",
    "ess_per_grad"}``.
    """
    t = _as_trace(trace, "trace", 2)
    n_draws, n_chains = t.shape[0], t.shape[1]
    flat = t.reshape(n_draws, n_chains, -1).to(torch.float64)
    moved = (flat[1:] != flat[:-1]).any(dim=2).to(torch.float64)  # (n_draws − 1, n_chains)
    rate = moved.mean(0)
    spread = flat.var(0).mean(1)
    med_rate, med_spread = float(rate.median()), float(spread.median())
    stuck = torch.zeros(n_chains, dtype=torch.bool, device=rate.device)
    if med_rate > 0:
        stuck |= rate < stuck_ratio * med_rate
    if med_spread > 0:
        stuck |= spread < stuck_ratio**2 * med_spread
    out: dict[str, Any] = {
        "move_rate_min": _plain(float(rate.min())),
        "move_rate_median": _plain(med_rate),
        "stuck_chains": [int(i) for i in torch.nonzero(stuck).flatten()],
        "n_stuck": int(stuck.sum()),
    }
    if grads_per_draw is not None and n_draws >= _MIN_DRAWS:
        ess = ess_bulk(t).flatten()
        ess = ess[torch.isfinite(ess)]
        total = n_draws * n_chains * grads_per_draw
        out["ess_per_grad"] = _plain(float(ess.min()) / total) if ess.numel() else None
    return out
