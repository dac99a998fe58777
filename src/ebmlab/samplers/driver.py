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
from ebmlab.samplers.base import Sampler, SamplerState, StepInfo
from ebmlab.samplers.chains import block_draws, run_chains

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


_BACKENDS = ("auto", "torch", "native")
#: random numbers drawn per block (noise of K steps at once): K = max(1, _BLOCK_ELEMENTS // (n · event size))
_BLOCK_ELEMENTS = 1 << 20


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
    backend: str = "auto",
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
        backend: ``"auto"`` runs ULA / MALA / HMC / kinetic Langevin on analytic Gaussian-mixture and
            many-well targets in the compiled kernel of :mod:`ebmlab.samplers.native` when it is
            available, and everything else in PyTorch; ``"torch"`` always uses PyTorch; ``"native"``
            requires the compiled kernel (ConfigError if it cannot run).

    For ULA, MALA, HMC and kinetic Langevin the noise (HMC: momenta) of a block of K steps is drawn
    at once, ``randn(K, n, *event)``, followed by the K·n MH uniforms for MALA / HMC; both backends
    consume the generator in this order, so they run the same chains up to rounding.
    """
    n_steps = _check_int("n_steps", n_steps, 1)
    warmup = _check_int("warmup", warmup, 0)
    thin = _check_int("thin", thin, 1)
    if backend not in _BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}.")
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
    runner = _native_runner(energy, sampler, x0, backend)
    if runner is None:
        result = _sample_torch(energy, sampler, x0, n_steps, warmup, thin, controller, generator, progress)
    else:
        result = _sample_native(energy, sampler, runner, n_steps, warmup, thin, controller, generator, progress)
    result.seconds = time.perf_counter() - start
    if diagnostics and result.samples.shape[0] >= 4:
        from ebmlab.diagnostics import summarize

        result.diagnostics = summarize(result.samples, energy_trace=result.energies, accept=result.accept_trace)
    return result


def _sample_torch(
    energy: EnergyFn,
    sampler: Sampler,
    x0: Tensor,
    n_steps: int,
    warmup: int,
    thin: int,
    controller: DualAveraging | None,
    generator: torch.Generator,
    progress: bool,
) -> SampleResult:
    """Warm-up and sampling with :func:`~ebmlab.samplers.chains.run_chains` (the one chain loop)."""
    bar = _progress(warmup + n_steps, sampler.name) if progress else None
    state = sampler.init(energy, x0)
    if controller is not None:  # one step's draws at a time: the step size changes after every step
        da = controller.init(float(state.step_size))

        def adapt(t: int, s: SamplerState, info: StepInfo) -> SamplerState:
            nonlocal da
            da = controller.update(da, float(info.accept_prob.mean()))
            return s.replace(step_size=da.step_size)

        state = run_chains(sampler, energy, state, warmup, generator, hook=adapt, bar=bar).state
        state = state.replace(step_size=da.final_step_size)
    else:
        state = run_chains(sampler, energy, state, warmup, generator, block=_BLOCK_ELEMENTS, bar=bar).state
    run = run_chains(sampler, energy, state, n_steps, generator, keep_every=thin, block=_BLOCK_ELEMENTS, bar=bar)
    if bar is not None:
        bar.close()
    assert run.samples is not None and run.energies is not None
    track = sampler.metropolis_adjusted or not block_draws(sampler)[0]  # ULA / kinetic always accept
    return SampleResult(
        samples=run.samples,
        energies=run.energies,
        accept_rate=run.accept_rate if track else 1.0,
        accept_trace=run.accept.to(run.state.energy.dtype) if track else torch.ones(n_steps, dtype=x0.dtype),
        nonfinite=int(run.nonfinite.sum()),
        divergent=int(run.divergent.sum()),
        step_size=float(run.state.step_size),
        final_state=run.state,
        seconds=0.0,
    )


def _sample_native(
    energy: EnergyFn,
    sampler: Sampler,
    runner,
    n_steps: int,
    warmup: int,
    thin: int,
    controller: DualAveraging | None,
    generator: torch.Generator,
    progress: bool,
) -> SampleResult:
    """The same run in the compiled kernel of :mod:`ebmlab.samplers.native`."""
    run = _Run(energy, sampler, runner.state(), generator, runner)
    total = warmup + n_steps
    run.bar = _progress(total, sampler.name) if progress else None
    if controller is not None:
        da_state = controller.init(run.step_size)
        for _ in range(warmup):  # one step per block: the step size changes after every step
            accept = run.advance(1, adapting=True)
            da_state = controller.update(da_state, float(accept[0]))
            run.set_step_size(da_state.step_size)
        run.set_step_size(da_state.final_step_size)
    else:
        run.advance_many(warmup)

    n_kept = n_steps // thin
    x = run.state.x
    run.samples = torch.empty((n_kept, *x.shape), dtype=x.dtype, device=x.device)
    run.sample_energies = torch.empty((n_kept, x.shape[0]), dtype=run.state.energy.dtype, device=x.device)
    run.accept_trace = torch.empty(n_steps, dtype=run.state.energy.dtype)
    run.thin = thin
    run.advance_many(n_steps, record=True)
    if run.bar is not None:
        run.bar.close()
    state = run.state
    return SampleResult(
        samples=run.samples,
        energies=run.sample_energies,
        accept_rate=float(run.accept_trace.mean()),
        accept_trace=run.accept_trace,
        nonfinite=run.count_nonfinite(),
        divergent=run.count_divergent(),
        step_size=float(state.step_size),
        final_state=state,
        seconds=0.0,
    )


def _native_runner(energy: EnergyFn, sampler: Sampler, x0: Tensor, backend: str):
    """The compiled-kernel runner for ``backend``, started at x0 (None: run in PyTorch)."""
    if backend == "torch":
        return None
    from ebmlab.samplers import native

    runner = native.make_runner(energy, sampler, x0)
    if runner is None and backend == "native":
        reason = native.unsupported_reason(energy, sampler, x0) or native.build_error() or "unknown reason"
        raise ConfigError(f"backend='native' cannot run here: {reason}. Use backend='auto' or 'torch'.")
    return runner


class _Run:
    """The chains of one ``sample`` call in the compiled kernel: advances them in blocks and keeps the records.

    Post-warm-up step ``i`` (0-based) is kept at ``samples[(i + 1) // thin − 1]`` when ``(i + 1) % thin == 0``.
    """

    def __init__(self, energy: EnergyFn, sampler: Sampler, state: SamplerState, generator: torch.Generator, native):
        self.energy, self.sampler, self.generator, self.native = energy, sampler, generator, native
        self._state = state
        self.draw_noise, self.draw_uniform = block_draws(sampler)
        self.n = state.x.shape[0]
        self.event_size = max(1, state.x[0].numel())
        self.bar = None
        self.samples: Tensor | None = None
        self.sample_energies: Tensor | None = None
        self.accept_trace: Tensor | None = None
        self.thin = 1
        self.done = 0  # post-warm-up steps taken
        self.nonfinite = torch.zeros((), dtype=torch.long)
        self.divergent = torch.zeros((), dtype=torch.long)

    @property
    def state(self) -> SamplerState:
        return self.native.state() if self.native is not None else self._state

    @property
    def step_size(self) -> float:
        return float(self.state.step_size)

    def set_step_size(self, step_size: float) -> None:
        if self.native is not None:
            self.native.step_size = float(step_size)
        else:
            self._state = self._state.replace(step_size=float(step_size))

    def count_nonfinite(self) -> int:
        extra = 0 if self.native is None else int(self.native.nonfinite.sum())
        return int(self.nonfinite) + extra

    def count_divergent(self) -> int:
        extra = 0 if self.native is None else int(self.native.divergent.sum())
        return int(self.divergent) + extra

    def advance_many(self, total: int, record: bool = False) -> None:
        block = max(1, _BLOCK_ELEMENTS // (self.n * self.event_size)) if self.draw_noise else 1
        left = total
        while left > 0:
            k = min(block, left)
            self.advance(k, record=record)
            left -= k

    def _draw(self, k: int) -> tuple[Tensor | None, Tensor | None]:
        x, g = self.state.x, self.generator
        noise = torch.randn((k, *x.shape), generator=g, dtype=x.dtype, device=x.device) if self.draw_noise else None
        uniform = torch.rand((k, self.n), generator=g, dtype=x.dtype, device=x.device) if self.draw_uniform else None
        return noise, uniform

    def advance(self, k: int, record: bool = False, adapting: bool = False) -> Tensor:
        """Run ``k`` steps; returns the mean acceptance probability of each, shape (k,)."""
        noise, uniform = self._draw(k)
        accept = self._advance_native(k, noise, uniform, record)
        if record:
            assert self.accept_trace is not None
            self.accept_trace[self.done : self.done + k] = accept
            self.done += k
        if self.bar is not None:
            self.bar.update(k)
            if record and self.accept_trace is not None:
                self.bar.set_postfix(accept=f"{float(self.accept_trace[: self.done].mean()):.3f}", refresh=False)
        return accept

    def _advance_native(self, k: int, noise: Tensor | None, uniform: Tensor | None, record: bool) -> Tensor:
        from ebmlab.samplers.langevin import _raise_diverged

        runner = self.native
        assert noise is not None
        iteration0 = runner.iteration
        accept = runner.advance(
            k,
            noise,
            uniform,
            self.done if record else 0,
            self.samples if record else None,
            self.sample_energies if record else None,
            self.thin,
        )
        bad = runner.first_bad_step()
        if bad is not None:
            step, ok = bad
            _raise_diverged(self.sampler.name, iteration0 + step + 1, ok, runner.step_size)
        return accept if accept is not None else torch.ones(1, dtype=runner.dtype).expand(k)


def _progress(total: int, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sampling ({name})", unit="step", leave=False)
