"""log Z by the stepping-stone identity on the replica-exchange ladder.

With π_β ∝ q^{1−β} exp(−βE) for a normalised base density q (default N(0, s²I)), E₀ = −log q, D = E − E₀ and
Z_β = ∫ exp(−E₀ − βD) (so Z_0 = 1):

    log Z_1 = Σ_r log E_{π_{β_r}}[exp(−(β_{r+1} − β_r) D(x))],

each expectation estimated from the samples of rung r of :class:`~ebmlab.samplers.ReplicaExchange` (Xie et
al. 2011's stepping-stone sampling; the samples come for free from replica exchange). The columns of the
replica state (one chain per rung each) are independent, so the per-column averages of the R − 1 ratios are
i.i.d. vectors: the standard error is the delta method over them, and it accounts for the correlation in
time within a column. It does **not** account for a run that has not equilibrated: chains that have not yet
found the right mode weights bias the estimate by more than its standard error (measured on many-well-32,
see ``docs/estimators.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ebmlab.densities import Density
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError
from ebmlab.estimators.base import Estimate, pareto_k
from ebmlab.estimators.logz import make_generator
from ebmlab.samplers.base import Sampler
from ebmlab.samplers.langevin import MALA
from ebmlab.samplers.tempering import ReplicaExchange

__all__ = ["log_z_stepping_stone", "rung_diagnostics"]


def log_z_stepping_stone(
    energy: EnergyFn,
    event_shape: int | Sequence[int],
    n_chains: int = 256,
    n_rounds: int = 1000,
    burn_in: int = 200,
    *,
    kernel: Sampler | None = None,
    n_rungs: int = 16,
    base_scale: float = 1.0,
    beta_min: float = 0.01,
    base: Density | None = None,
    adapt_rounds: int = 300,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    progress: bool = False,
) -> Estimate:
    """log ∫ exp(−E) from ``n_rounds`` replica-exchange rounds (after ``adapt_rounds`` of per-rung step-size
    tuning and ``burn_in`` more), ``n_chains`` chains per rung (module doc). ``kernel`` defaults to
    ``MALA(0.05)``; its step size only starts the adaptation. ``base``: the β = 0 density (default N(0, s²I),
    s = ``base_scale``). ``progress``: a tqdm bar over the rounds."""
    for name, number, low in (("n_chains", n_chains, 2), ("n_rounds", n_rounds, 1), ("burn_in", burn_in, 0)):
        if isinstance(number, bool) or not isinstance(number, int) or number < low:
            raise ConfigError(f"log_z_stepping_stone: {name} must be an int >= {low}, got {number!r}.")
    if generator is None:
        generator = make_generator(None, seed, like=energy)
    event = (event_shape,) if isinstance(event_shape, int) else tuple(int(s) for s in event_shape)
    pt = ReplicaExchange(kernel or MALA(0.05), n_rungs=n_rungs, base_scale=base_scale, beta_min=beta_min, base=base)
    state = pt.init(energy, n_chains, event, generator)
    if adapt_rounds > 0:
        state = pt.adapt(energy, state, adapt_rounds, generator)
    ratios, swaps = [], []
    rounds = range(burn_in + n_rounds)
    if progress:
        from tqdm.auto import tqdm

        rounds = tqdm(rounds, desc="stepping stone", unit="round", leave=False)
    for t in rounds:
        state, info = pt.step(energy, state, generator)
        if t >= burn_in:
            ratios.append(state.log_ratio[:-1].to(torch.float64))
            swaps.append(info.swap_accept)
    state = pt.settled(state)  # on a GPU: the base draws' and the path parts' checks, read once
    log_w = -pt.betas.diff().to(torch.float64)[None, :, None] * torch.stack(ratios)  # (T, R−1, n)
    value, stderr, _ = _ladder_sum(log_w)
    return Estimate(
        value=value,
        stderr=stderr,
        n=n_chains,
        method="stepping-stone",
        details={
            "rounds": n_rounds,
            "betas": pt.betas.tolist(),
            "step_sizes": None if pt.step_sizes is None else pt.step_sizes.tolist(),
            "swap_accept": torch.stack(swaps).nanmean(0).tolist(),
            "base": type(pt.base).__name__,
            "base_scale": base_scale if base is None else None,
            **rung_diagnostics(log_w),
        },
    )


def _ladder_sum(log_w: Tensor) -> tuple[float, float, Tensor]:
    """``(Σ_r log r̂_r, delta-method SE, per-rung log r̂_r)`` from log-ratio terms ``(T, R−1, n)``; the n
    columns are i.i.d., so the SE is the delta method over the per-column means."""
    n = log_w.shape[2]
    shift = log_w.amax(dim=(0, 2), keepdim=True)
    per_column = (log_w - shift).exp().mean(0)  # (R−1, n): i.i.d. across columns
    mean = per_column.mean(1)
    rungs = mean.log() + shift[0, :, 0]
    grad = 1.0 / mean
    cov = torch.atleast_2d(torch.cov(per_column)) / n
    return float(rungs.sum()), float(torch.sqrt(grad @ cov @ grad)), rungs


def _rung_se(log_w: Tensor) -> Tensor:
    """Per-rung delta-method SE of log r̂_r over the columns."""
    per_column = (log_w - log_w.amax(dim=(0, 2), keepdim=True)).exp().mean(0)
    return per_column.std(1) / per_column.mean(1) / math.sqrt(log_w.shape[2])


def rung_diagnostics(log_w: Tensor, n_groups: int = 8) -> dict[str, Any]:
    """Per-rung checks of a stepping-stone run from its log-ratio terms ``(T, R−1, n)``:

    * ``rung_drift_z``: per rung, (log r̂ from the second half of the rounds − from the first half) / SE —
      large when the rung's chains are still moving (not mixed, not equilibrated);
    * ``rung_pareto_k``: per rung, Pareto k̂ of the chains' (columns') mean weights exp(−Δβ_r D) — the n i.i.d.
      units the SE is a CLT over; large when a few chains carry the rung's ratio, i.e. rung r's draws rarely
      reach rung r+1's mass (its tails, or a mode only some chains visit);
    * ``groups``: (values, SEs) of the whole estimate from ``n_groups`` disjoint groups of chains.
    """
    t = log_w.shape[0]
    half = t // 2
    drift: list[float] = []
    if half >= 2:
        _, _, first = _ladder_sum(log_w[:half])
        _, _, second = _ladder_sum(log_w[half:])
        se = torch.sqrt(_rung_se(log_w[:half]) ** 2 + _rung_se(log_w[half:]) ** 2).clamp_min(1e-300)
        drift = ((second - first) / se).tolist()
    per_column = torch.logsumexp(log_w, 0)  # (R−1, n): log of each chain's (column's) sum over rounds
    ks = [pareto_k(per_column[r]) for r in range(log_w.shape[1])]
    values, errors = [], []
    for part in torch.chunk(log_w, n_groups, dim=2):
        if part.shape[2] >= 2:
            v, s, _ = _ladder_sum(part)
            values.append(v)
            errors.append(s)
    return {"rung_drift_z": drift, "rung_pareto_k": ks, "groups": (values, errors)}
