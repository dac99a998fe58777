"""Run batched chains: warm-up (with optional step-size adaptation), sampling, diagnostics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.samplers.adaptation import REACHED_TOLERANCE, DualAveraging, WindowedBisection
from ebmlab.samplers.base import Sampler, SamplerState, StepInfo
from ebmlab.samplers.chains import block_draws, run_chains
from ebmlab.samplers.compiled import COMPILE_BLOCK_MAX_ELEMENTS, make_block_runner
from ebmlab.samplers.hmc import HMC

__all__ = ["SampleResult", "compile_hint", "sample"]


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
        accept_per_chain: mean acceptance probability of each chain over the post-warm-up steps ``(n_chains,)``.
        target_accept: the acceptance the step size was adapted to (``None`` without adaptation).
        adaptation: how the step size was adapted during warm-up (``"off"`` without adaptation).
        capture: how the post-warm-up steps ran: ``"off"`` (one kernel step at a time), ``"eager"``, ``"graph"`` or
            ``"compile"`` (what ``capture="auto"`` chose, or where a failed compile fell back to).
        capture_note: why (``auto``'s measurement on CUDA, a compile's failure), or None; after a long eager run of
            ``auto`` on a CPU at a small batch, a suggestion to try ``capture="compile"`` (:func:`compile_hint`).
        draw_ahead: the share of the post-warm-up blocks whose random numbers were drawn ahead on a helper thread
            (``draw_ahead``; :attr:`ChainResult.draw_ahead <ebmlab.samplers.chains.ChainResult.draw_ahead>`).
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
    accept_per_chain: Tensor | None = None
    target_accept: float | None = None
    adaptation: str = "off"
    capture: str = "off"
    capture_note: str | None = None
    draw_ahead: float = 0.0

    @property
    def adaptation_reached(self) -> bool | None:
        """Whether the post-warm-up acceptance is within ``REACHED_TOLERANCE`` of the target (None: no target)."""
        if self.target_accept is None:
            return None
        return abs(self.accept_rate - self.target_accept) <= REACHED_TOLERANCE

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "adaptation": self.adaptation,
            "target_accept": self.target_accept,
            "adaptation_reached": self.adaptation_reached,
            "adaptation_tolerance": REACHED_TOLERANCE if self.target_accept is not None else None,
            "n_kept": int(self.samples.shape[0]),
            "n_chains": int(self.samples.shape[1]),
            "accept_rate": self.accept_rate,
            "nonfinite": self.nonfinite,
            "divergent": self.divergent,
            "step_size": self.step_size,
            "seconds": self.seconds,
            "capture_used": self.capture,
            "capture_note": self.capture_note,
            "draw_ahead_share": self.draw_ahead,
            **self.diagnostics,
        }


def _check_int(name: str, value: int, minimum: int) -> int:
    if int(value) != value or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


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
    capture: str = "auto",
    draw_ahead: bool | str = "auto",
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
        capture: how blocks of ULA / MALA / HMC / kinetic steps run (:mod:`ebmlab.samplers.compiled`):
            ``"auto"`` (a CUDA graph on CUDA when it is measured faster, else eager), ``"eager"``, ``"graph"``,
            ``"compile"`` (torch.compile; fused arithmetic, equal up to rounding) or ``"off"`` (one
            ``kernel.step`` call per step). All consume the random stream identically; "auto", "eager",
            "graph" and "off" give the same chains bit for bit. Warm-up with step-size adaptation runs
            step by step.
        draw_ahead: on a CPU, draw the next block's noise on a helper thread while this block runs (blocks of at
            least 65 536 numbers; :mod:`ebmlab.samplers.draw_ahead`): the same chains bit for bit, faster where a
            second core is idle, slower where it is not. ``"auto"`` (default): while blocks measure it faster (12
            blocks timed both ways at the start, again every 30 s or more); True / False: always / never.

    For ULA, MALA, HMC and kinetic Langevin the noise (HMC: momenta) of a block of K steps is drawn
    at once, ``randn(K, n, *event)``, followed by the K·n MH uniforms for MALA / HMC.
    """
    if not isinstance(sampler, Sampler):
        hint = f"get_sampler({sampler!r}, step_size=...)" if isinstance(sampler, str) else "MALA(0.1)"
        raise ConfigError(f"sample: sampler must be a kernel instance such as MALA(0.1), got {sampler!r}; use {hint}.")
    if not isinstance(x0, Tensor):
        raise ShapeError(f"sample: x0 must be a tensor of starting points (n_chains, *event), got {type(x0).__name__}.")
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
    result = _sample_torch(
        energy, sampler, x0, n_steps, warmup, thin, controller, generator, progress, capture, draw_ahead
    )
    result.seconds = time.perf_counter() - start
    if diagnostics and result.samples.shape[0] >= 4:
        from ebmlab.diagnostics import summarize

        result.diagnostics = summarize(result.samples, energy_trace=result.energies, accept=result.accept_trace)
    return result


#: ``sample`` suggests ``capture="compile"`` after an eager CPU run of ``auto`` of at least this many seconds, on at
#: most COMPILE_BLOCK_MAX_ELEMENTS numbers per step and at most COMPILE_HINT_MAX_EVAL seconds per energy evaluation:
#: there a compile (4–30 s, from inductor's disk cache or cold) repays itself at the 2–11× it measured on cheap
#: energies (docs/performance.md, "Speed in your own scripts").
COMPILE_HINT_SECONDS = 60.0
COMPILE_HINT_MAX_EVAL = 1e-3


def compile_hint(used: str, seconds: float, sampler: Sampler, x0: Tensor, steps: int) -> str | None:
    """Suggest ``capture="compile"`` after a long, dispatch-bound eager run of ``auto`` on a CPU; else None.

    ``used``: the mode ``auto`` ran (on a CPU ``"eager"``, or ``"off"`` for ULA and kinetic Langevin); ``seconds``:
    how long its ``steps`` steps took. ``auto`` never picks ``compile`` itself: it rounds differently from
    ``capture="off"`` (``auto`` gives the same chains bit for bit) and costs seconds before its first step.
    """
    has_runner = block_draws(sampler)[0]  # ULA, MALA, HMC, kinetic Langevin: the kernels a block compiles
    small = x0.numel() <= COMPILE_BLOCK_MAX_ELEMENTS
    if not has_runner or used not in ("eager", "off") or x0.device.type != "cpu" or not small:
        return None
    per_eval = seconds / (steps * (sampler.n_leapfrog if isinstance(sampler, HMC) else 1))
    if seconds < COMPILE_HINT_SECONDS or per_eval > COMPILE_HINT_MAX_EVAL:
        return None
    return (
        f"these steps took {seconds:.0f} s, {per_eval * 1e6:.0f} µs per energy evaluation; at this batch size "
        "capture='compile' (ebmlab sample --capture compile) ran cheap energies 2–11× faster after a compile of "
        "about 4–30 s (docs/performance.md); it rounds differently"
    )


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
    capture: str,
    draw_ahead: bool | str,
) -> SampleResult:
    """Warm-up and sampling with :func:`~ebmlab.samplers.chains.run_chains` (the one chain loop)."""
    bar = _progress(warmup + n_steps, sampler.name) if progress else None
    state = sampler.init(energy, x0)
    make_block_runner(energy, sampler, state, capture)  # an impossible capture is a ConfigError before any step
    method = "off"
    if controller is not None:  # one step's draws at a time: the step size changes after every step
        state, method = _adapt(energy, sampler, state, warmup, controller, generator, bar)
    else:
        state = run_chains(
            sampler, energy, state, warmup, generator, block=_BLOCK_ELEMENTS, bar=bar, capture=capture,
            draw_ahead=draw_ahead,
        ).state  # fmt: skip
    started = time.perf_counter()
    run = run_chains(
        sampler, energy, state, n_steps, generator, keep_every=thin, block=_BLOCK_ELEMENTS, bar=bar, capture=capture,
        draw_ahead=draw_ahead,
    )  # fmt: skip
    if capture == "auto" and run.capture_note is None:
        run.capture_note = compile_hint(run.capture, time.perf_counter() - started, sampler, x0, n_steps)
    if bar is not None:
        bar.close()
    assert run.samples is not None and run.energies is not None
    track = sampler.metropolis_adjusted or not block_draws(sampler)[0]  # ULA / kinetic always accept
    return SampleResult(
        samples=run.samples,
        energies=run.energies,
        accept_rate=run.accept_rate if track else 1.0,
        accept_trace=run.accept.to(run.state.cached(sampler.name)[0].dtype)
        if track
        else run.accept.new_ones(n_steps).to(x0.dtype),
        accept_per_chain=(run.accept_sum / n_steps if track else torch.ones_like(run.accept_sum)).cpu(),
        nonfinite=int(run.nonfinite.sum()),
        divergent=int(run.divergent.sum()),
        step_size=float(run.state.step_size),
        final_state=run.state,
        seconds=0.0,
        target_accept=None if controller is None else controller.target_accept,
        adaptation=method,
        capture=run.capture,
        capture_note=run.capture_note,
        draw_ahead=run.draw_ahead,
    )


#: proposals per measurement window of the bisection phase: window = max(4, ⌈WINDOW_PROPOSALS / n_chains⌉) steps
WINDOW_PROPOSALS = 1024


def _adapt(
    energy: EnergyFn,
    sampler: Sampler,
    state: SamplerState,
    warmup: int,
    controller: DualAveraging,
    generator: torch.Generator,
    bar: Any,
) -> tuple[SamplerState, str]:
    """Warm-up with step-size adaptation: dual averaging for the first half, then a windowed bisection on
    measured acceptance (:class:`WindowedBisection`) for the second half when it fits at least 6 windows;
    otherwise dual averaging throughout. Returns the state with the final step size and the method used."""
    window = max(4, -(-WINDOW_PROPOSALS // state.x.shape[0]))
    n_da = warmup // 2 if warmup - warmup // 2 >= 6 * window else warmup
    da = controller.init(float(state.step_size))

    def dual(t: int, s: SamplerState, info: StepInfo) -> SamplerState:
        nonlocal da
        da = controller.update(da, float(info.accept_prob.mean()))
        return s.replace(step_size=da.step_size)

    state = run_chains(sampler, energy, state, n_da, generator, hook=dual, bar=bar).state
    state = state.replace(step_size=da.final_step_size)
    if n_da == warmup:
        return state, "dual averaging"
    bisection = WindowedBisection(controller.target_accept, window)
    bs = bisection.init(da.final_step_size)

    def refine(t: int, s: SamplerState, info: StepInfo) -> SamplerState:
        nonlocal bs
        bs = bisection.update(bs, float(info.accept_prob.mean()))
        return s.replace(step_size=bs.step_size)

    state = run_chains(sampler, energy, state, warmup - n_da, generator, hook=refine, bar=bar).state
    return state.replace(step_size=bs.final_step_size), "dual averaging + windowed bisection"


def _progress(total: int, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sampling ({name})", unit="step", leave=False)
