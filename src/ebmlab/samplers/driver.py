"""Run batched chains: warm-up (with optional step-size adaptation), sampling, diagnostics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError
from ebmlab.samplers.adaptation import DualAveraging
from ebmlab.samplers.base import Sampler, SamplerState

__all__ = ["SampleResult", "sample"]


@dataclass
class SampleResult:
    """Samples and diagnostics of a run of ``n_chains`` chains.

    Attributes:
        samples: kept draws ``(n_kept, n_chains, *event)`` (warm-up discarded, thinned).
        energies: E at the kept draws ``(n_kept, n_chains)``.
        accept_rate: mean acceptance probability over chains and post-warm-up steps.
        accept_trace: mean acceptance probability per post-warm-up step ``(n_steps,)``.
        nonfinite: number of (chain, step) proposals rejected for non-finite values.
        divergent: number of divergent (chain, step) transitions.
        step_size: step size used after warm-up.
        final_state: the state after the last step (to continue the chains).
        seconds: wall time of the whole run.
        diagnostics: ESS / R̂ summary (see :func:`ebmlab.diagnostics.summarize`).
    """

    samples: Tensor
    energies: Tensor
    accept_rate: float
    accept_trace: Tensor
    nonfinite: int
    divergent: int
    step_size: float
    final_state: SamplerState
    seconds: float
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "n_kept": int(self.samples.shape[0]),
            "n_chains": int(self.samples.shape[1]),
            "accept_rate": self.accept_rate,
            "nonfinite": self.nonfinite,
            "divergent": self.divergent,
            "step_size": self.step_size,
            "seconds": self.seconds,
            **self.diagnostics,
        }


def _check_int(name: str, value: int, minimum: int) -> int:
    if int(value) != value or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def sample(
    energy: EnergyFn,
    sampler: Sampler,
    x0: Tensor,
    n_steps: int,
    *,
    warmup: int = 0,
    thin: int = 1,
    adapt_step_size: bool | None = None,
    target_accept: float | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    progress: bool = False,
    diagnostics: bool = True,
) -> SampleResult:
    """Run ``x0.shape[0]`` chains for ``warmup + n_steps`` transitions of ``sampler``.

    Args:
        energy: callable ``(n, *event) -> (n,)``.
        sampler: an MCMC kernel (``ULA``, ``MALA``, ``HMC``, ``KineticLangevin``, ``BlockGibbs``).
        x0: starting points ``(n_chains, *event)``.
        n_steps: post-warm-up transitions; every ``thin``-th state is kept.
        warmup: transitions discarded first; during them the step size is adapted by dual averaging
            when ``adapt_step_size`` (default: on for Metropolis-adjusted kernels when ``warmup > 0``).
        target_accept: acceptance rate adaptation aims for (default: the kernel's).
        generator / seed: the source of randomness (a seed builds a fresh ``torch.Generator``);
            the same seed and settings give identical chains.
        progress: show a tqdm progress bar.
        diagnostics: compute ESS and split-R̂ over the kept draws (needs ≥ 4 kept draws).
    """
    n_steps = _check_int("n_steps", n_steps, 1)
    warmup = _check_int("warmup", warmup, 0)
    thin = _check_int("thin", thin, 1)
    if generator is None:
        generator = torch.Generator(device=x0.device)
        generator.manual_seed(0 if seed is None else int(seed))
    elif seed is not None:
        raise ConfigError("pass either generator or seed, not both.")
    if adapt_step_size is None:
        adapt_step_size = sampler.metropolis_adjusted and warmup > 0
    if adapt_step_size and not sampler.metropolis_adjusted:
        raise ConfigError(
            f"{sampler.name} has no accept step, so its step size cannot be adapted to an acceptance rate; "
            "set adapt_step_size=False or use mala/hmc."
        )
    controller = DualAveraging(target_accept or sampler.default_target_accept) if adapt_step_size else None

    start = time.perf_counter()
    state = sampler.init(energy, x0)
    total = warmup + n_steps
    bar = _progress(total, sampler.name) if progress else None
    da_state = controller.init(state.step_size) if controller else None
    for _ in range(warmup):
        state, info = sampler.step(energy, state, generator)
        if controller is not None and da_state is not None:
            da_state = controller.update(da_state, float(info.accept_prob.mean()))
            state = state.replace(step_size=da_state.step_size)
        if bar is not None:
            bar.update(1)
    if da_state is not None:
        state = state.replace(step_size=da_state.final_step_size)

    n_kept = n_steps // thin
    samples = torch.empty((n_kept, *state.x.shape), dtype=state.x.dtype, device=state.x.device)
    energies = torch.empty((n_kept, state.x.shape[0]), dtype=state.energy.dtype, device=state.x.device)
    accept_trace = torch.empty(n_steps, dtype=state.energy.dtype)
    nonfinite = torch.zeros((), dtype=torch.long)
    divergent = torch.zeros((), dtype=torch.long)
    for i in range(n_steps):
        state, info = sampler.step(energy, state, generator)
        accept_trace[i] = info.accept_prob.mean()
        nonfinite += info.nonfinite.sum()
        divergent += info.divergent.sum()
        if (i + 1) % thin == 0:
            samples[(i + 1) // thin - 1] = state.x
            energies[(i + 1) // thin - 1] = state.energy
        if bar is not None:
            bar.update(1)
            if (i + 1) % 50 == 0:
                bar.set_postfix(accept=f"{float(accept_trace[: i + 1].mean()):.3f}", refresh=False)
    if bar is not None:
        bar.close()
    result = SampleResult(
        samples=samples,
        energies=energies,
        accept_rate=float(accept_trace.mean()),
        accept_trace=accept_trace,
        nonfinite=int(nonfinite),
        divergent=int(divergent),
        step_size=state.step_size,
        final_state=state,
        seconds=time.perf_counter() - start,
    )
    if diagnostics and n_kept >= 4:
        from ebmlab.diagnostics import summarize

        result.diagnostics = summarize(samples, energy_trace=energies, accept=accept_trace)
    return result


def _progress(total: int, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sampling ({name})", unit="step", leave=False)
