"""Samples of p ∝ exp(−E) for the reverse run of a bracket, from replica exchange, with the checks that decide
whether they can stand in for exact samples.

Reverse AIS gives a stochastic *upper* bound on log Z only when it starts from p. Samples that a forward run
produced, or a local MCMC chain that never crosses a barrier, miss the same mass as the forward run, and the
"bracket" then sits below log Z at both ends (many-well-32: both ends 4.2 nats low). Replica exchange
(:class:`~ebmlab.samplers.ReplicaExchange`) along the geometric path from a wide base q lets every chain
reach the hot end, where barriers are low, and come back; its β = 1 rung is then a sample of p that knows
the relative weights of the modes. Whether it did is judged, not assumed (``validated``):

* every neighbouring pair of rungs swaps at least ``min_swap`` of the time (else the ladder is cut in two and
  the cold rungs never see the hot ones);
* rank-normalised split-R̂ (Vehtari et al. 2021) of every coordinate and of E over the β = 1 draws of the
  second half is at most ``max_rhat``: the chains, started apart, agree — in particular on how often each
  side of a barrier is occupied;
* the bulk ESS of every coordinate and of E is at least the number of start states handed to the reverse run.

When the swaps pass but R̂ or the ESS does not, the chains may only be too short for a mode that they enter
and leave rarely (a split-R̂ of 1 + c/T from T rounds); the run is then doubled — continued from where it
stopped, the checks repeated on the second half of the longer run, i.e. on the new rounds alone — until the
checks pass or ``max_rounds`` would be exceeded (default 4·``n_rounds``: at most two doublings, so a run whose
checks never pass costs 4× the ladder; ``max_rounds=n_rounds`` never extends). ``diagnostics["extensions"]``
lists (rounds, R̂, ESS) after each length tried. A run that passes at ``n_rounds`` is unchanged (nothing is drawn
before its checks). Stopping when the chains agree selects runs in which they happen to agree, so an extended
run's R̂ is slightly optimistic; the ESS check and the bracket's own width remain.

The start states are the β = 1 states of the chains at evenly spaced rounds of the second half (latest
first), as many as asked for. The checks cannot see a mode that no chain ever visited; a bracket from
validated states is only as good as that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ebmlab.densities import Density
from ebmlab.diagnostics import ess_bulk, split_rhat
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError
from ebmlab.samplers import HMC, ReplicaExchange
from ebmlab.samplers.path import geometric_betas

__all__ = ["TemperedSamples", "tempered_target_samples"]


@dataclass
class TemperedSamples:
    """``x``: start states ``(n, *event)``; ``pooled``: all β = 1 draws of the second half ``(m, *event)``;
    ``validated`` and the ``reasons`` it is not; ``diagnostics`` (swap rates, R̂, ESS, evaluations of E)."""

    x: Tensor
    pooled: Tensor
    validated: bool
    reasons: list[str] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)


def tempered_target_samples(
    energy: EnergyFn,
    base: Density,
    n: int,
    generator: torch.Generator,
    *,
    n_chains: int = 64,
    n_rungs: int = 12,
    beta_min: float = 0.02,
    n_rounds: int = 2000,
    max_rounds: int | None = None,
    adapt_rounds: int = 50,
    steps_per_swap: int = 1,
    n_leapfrog: int = 5,
    max_rhat: float = 1.05,
    min_swap: float = 0.05,
) -> TemperedSamples:
    """``n`` start states for reverse AIS from ``n_chains`` replica-exchange chains (HMC with ``n_leapfrog`` steps —
    MALA's step at β = 1 is too small to move the stiff and the soft directions of a double well at once —,
    per-rung step sizes adapted for ``adapt_rounds``, then ``n_rounds`` rounds, doubled while R̂ or the ESS fails up
    to ``max_rounds``) on the geometric ladder from ``base`` to exp(−E) (``n_rungs`` rungs, log-spaced from
    ``beta_min``); module doc for the checks."""
    max_rounds = 4 * n_rounds if max_rounds is None else max_rounds
    for name, value, low in (
        ("n", n, 1),
        ("n_chains", n_chains, 2),
        ("n_rounds", n_rounds, 8),
        ("max_rounds", max_rounds, n_rounds),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"tempered_target_samples: {name} must be an int >= {low}, got {value!r}.")
    event = tuple(base.event_shape)
    kernel = HMC(0.1, n_leapfrog=n_leapfrog)
    pt = ReplicaExchange(kernel, betas=geometric_betas(n_rungs, beta_min), base=base, steps_per_swap=steps_per_swap)
    state = pt.init(energy, n_chains, event, generator)
    state = pt.adapt(energy, state, adapt_rounds, generator)
    done, target, extensions = 0, n_rounds, []
    while True:  # rounds done .. target; the checks see target // 2 .. target
        xs, es, swaps = [], [], []
        for t in range(done, target):
            state, info = pt.step(energy, state, generator)
            if t >= target // 2:
                xs.append(pt.target_samples(state).detach())
                es.append(state.point.target.reshape(state.n_rungs, -1)[-1].detach())
                swaps.append(info.swap_accept)
        state = pt.settled(state)  # on a GPU: the base draws' check, read once per extension
        done = target
        trace = torch.stack(xs)  # (draws, chains, *event)
        e_trace = torch.stack(es)  # (draws, chains)
        swap = torch.stack(swaps).nanmean(0)
        rhat_x, ess_x = split_rhat(trace).reshape(-1), ess_bulk(trace).reshape(-1)
        rhat_e, ess_e = float(split_rhat(e_trace[..., None])[0]), float(ess_bulk(e_trace[..., None])[0])
        worst_rhat = max(float(rhat_x.nan_to_num(math.inf).max()), rhat_e)
        least_ess = min(float(ess_x.nan_to_num(0.0).min()), ess_e)
        extensions.append({"rounds": done, "max_split_rhat": worst_rhat, "min_ess_bulk": least_ess})
        swaps_ok = float(swap.min()) >= min_swap
        if not swaps_ok or (worst_rhat <= max_rhat and least_ess >= n) or 2 * done > max_rounds:
            break  # a cut ladder is not cured by running longer
        target = 2 * done
    reasons = []
    if not swaps_ok:
        reasons.append(f"a pair of rungs swaps only {float(swap.min()):.3f} of the time (< {min_swap})")
    longer = f" after {done} rounds" if done > n_rounds else ""
    if worst_rhat > max_rhat:
        reasons.append(f"split-R̂ {worst_rhat:.3f} > {max_rhat} at β = 1{longer}: the chains disagree")
    if least_ess < n:
        reasons.append(f"bulk ESS {least_ess:.0f} at β = 1{longer} is below the {n} start states asked for")
    n_times = math.ceil(n / n_chains)
    times = torch.linspace(trace.shape[0] - 1, 0, n_times, device=trace.device).round().long()
    x = trace[times].reshape(-1, *event)[:n]
    diagnostics = {
        "n_chains": n_chains,
        "n_rungs": n_rungs,
        "beta_min": beta_min,
        "n_rounds": done,
        "max_rounds": max_rounds,
        "extensions": extensions,
        "adapt_rounds": adapt_rounds,
        "steps_per_swap": steps_per_swap,
        "kernel": f"hmc ({n_leapfrog} leapfrog steps)",
        "step_sizes": [round(float(v), 4) for v in (pt.step_sizes if pt.step_sizes is not None else [])],
        "swap_accept": [round(float(s), 4) for s in swap],
        "min_swap_accept": float(swap.min()),
        "max_split_rhat": worst_rhat,
        "energy_split_rhat": rhat_e,
        "min_ess_bulk": least_ess,
        "energy_ess_bulk": ess_e,
    }
    return TemperedSamples(x, trace.reshape(-1, *event), not reasons, reasons, diagnostics)
