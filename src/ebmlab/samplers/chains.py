"""The one chain loop: every place that runs MCMC chains (``sample``, negatives, AIS, replica exchange, stepping
stone) calls :func:`run_chains`.

``run_chains(kernel, energy, start, n_steps, generator)`` starts from points ``(n, *event)`` (or a
:class:`SamplerState` whose cached E/∇E are reused), takes ``n_steps`` transitions of ``kernel`` on ``energy``
and returns the final state with per-step acceptance, per-chain non-finite / divergence counts and, when
``keep_every > 0``, every ``keep_every``-th state. With ``block > 0`` (the ``sample`` driver) the noise (HMC:
momenta) of a block of K steps of ULA, MALA, HMC and kinetic Langevin is drawn at once, ``randn(K, n, *event)``,
then the K·n MH uniforms (MALA, HMC); otherwise each step draws its own.

``capture`` (:mod:`ebmlab.samplers.compiled`): for those four kernels with one step size for all chains and no
``hook``, each block of draws goes to a :class:`~ebmlab.samplers.compiled.BlockRunner` (``"auto"``, the default:
with ``block > 0`` a CUDA graph on CUDA when measured faster, else eager; with one step's draws at a time, step by
step; ``"eager"``; ``"graph"``; ``"compile"``, equal only up to
rounding) instead of ``kernel.step`` per step (``"off"``). The draws are the same, so every mode but ``"compile"``
gives the same chains bit for bit; inside a block nothing synchronises with the host, and ULA / kinetic Langevin
raise at the exact first non-finite step with the kernels' own message (one check per block). Step by step, ULA and
kinetic Langevin run in :func:`~ebmlab.samplers.step_watch.run_unadjusted` (``advance`` per step, the finiteness
of a chunk of steps read at once; the same error at the same step). On the GPU path
(:func:`~ebmlab.samplers.finite_watch.deferred`) :class:`~ebmlab.samplers.BlockGibbs` runs its ``sweep`` (no host
read) and the sweeps' per-block finiteness is read with the booking, once per ``BOOK_EVERY`` sweeps, one chunk late
(the same error, sweep and units as its ``step``).

``final_energy=False`` is for callers that use only the final positions (the negatives of maximum-likelihood
training, whose loss evaluates E there itself): ULA and kinetic Langevin step by step, with nothing kept
(``keep_every = 0``), move to x_K without evaluating E and ∇E there (one evaluation fewer: K instead of K + 1), test x_K
for finiteness instead (the same error, naming step K and its chains, "non-finite positions") and return a
positions-only state (``energy``, ``grad``, ``momentum`` None; the same x_K bit for bit). Every other kernel or path
evaluates them as usual. A positions-only start state is evaluated first (kinetic Langevin: velocities from zero).

A chain whose proposals are non-finite at ``frozen_after`` consecutive steps is frozen (a Metropolis kernel
rejects every move): if E itself is non-finite at the chains' positions (e.g. NaN parameters) a
:class:`~ebmlab.errors.NonFiniteError` names that cause, otherwise a warning names the frozen chains.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ebmlab.device_copies import check_generator
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError, NonFiniteError
from ebmlab.samplers import draw_ahead as ahead_draws
from ebmlab.samplers.base import Sampler, SamplerState, StepInfo, UnadjustedSampler
from ebmlab.samplers.compiled import MODES, BlockRunner, make_block_runner
from ebmlab.samplers.finite_watch import BlockCheck, deferred
from ebmlab.samplers.gibbs import BlockGibbs
from ebmlab.samplers.hmc import HMC
from ebmlab.samplers.kinetic import KineticLangevin
from ebmlab.samplers.langevin import MALA, ULA
from ebmlab.samplers.step_watch import rng_of, run_unadjusted

__all__ = ["ChainResult", "StepHook", "block_draws", "run_chains"]

#: random numbers drawn per block (noise of K steps at once): K = max(1, BLOCK_ELEMENTS // (n · event size))
BLOCK_ELEMENTS = 1 << 20
#: steps booked at once on the step-by-step path (their flags are kept until then: BOOK_EVERY × n values each)
BOOK_EVERY = 32
#: ``hook(t, state, info) -> state or None`` called after step t (1-based); it may return a changed state
#: (e.g. a new step size: adaptation)
StepHook = Callable[[int, SamplerState, StepInfo], "SamplerState | None"]


@dataclass
class ChainResult:
    """Output of :func:`run_chains`.

    Attributes:
        state: the state after the last step (positions ``state.x``, cached E and ∇E).
        samples: kept positions ``(n_kept, n, *event)`` (``None`` when ``keep_every == 0``).
        energies: E at the kept positions ``(n_kept, n)`` (``None`` when ``keep_every == 0``).
        accept: mean acceptance probability of each step ``(n_steps,)`` (float64).
        accept_sum: acceptance probability summed over the steps, per chain ``(n,)`` (float64).
        nonfinite: proposals rejected for a non-finite energy or gradient, per chain ``(n,)``.
        divergent: divergent transitions per chain ``(n,)``.
        unread: with ``read_last_check=False``, the finiteness check of the last block or sweeps, not read yet
            (the caller calls its ``raise_if_bad()``); otherwise None.
        capture: how the steps ran: ``"off"`` (one kernel step at a time), ``"eager"``, ``"graph"`` or ``"compile"``
            (a block runner; what ``capture="auto"`` chose, or where a failed compile fell back to).
        capture_note: why ``auto`` or a failed ``compile`` ran what it did (the runner's ``fallback``), or None.
        draw_ahead: the share of the blocks after the first whose random numbers were drawn ahead on a helper thread
            (1.0 with ``draw_ahead=True``; with ``"auto"``, its probes' blocks drawn ahead and what it chose after each).
    """

    state: SamplerState
    samples: Tensor | None
    energies: Tensor | None
    accept: Tensor
    accept_sum: Tensor
    nonfinite: Tensor
    divergent: Tensor
    unread: BlockCheck | None = None
    capture: str = "off"
    capture_note: str | None = None
    draw_ahead: float = 0.0

    @property
    def x(self) -> Tensor:
        return self.state.x

    @property
    def accept_rate(self) -> float:
        """Mean acceptance over chains and steps (NaN after zero steps)."""
        return float(self.accept.mean()) if self.accept.numel() else float("nan")


def block_draws(kernel: Sampler) -> tuple[bool, bool]:
    """(Gaussian noise per step, MH uniform per step) for the kernels whose ``step`` takes them pre-drawn."""
    if type(kernel) in (MALA, HMC):
        return True, True
    if type(kernel) in (ULA, KineticLangevin):
        return True, False
    return False, False


def run_chains(
    kernel: Sampler,
    energy: EnergyFn,
    start: Tensor | SamplerState,
    n_steps: int,
    generator: torch.Generator | None,
    *,
    keep_every: int = 0,
    step_size: float | Tensor | None = None,
    hook: StepHook | None = None,
    block: int = 0,
    frozen_after: int | None = 5,
    bar: object | None = None,
    capture: str = "auto",
    final_energy: bool = True,
    read_last_check: bool = True,
    draw_ahead: bool | str = "auto",
) -> ChainResult:
    """Take ``n_steps`` transitions of ``kernel`` on ``energy`` from ``start`` (module doc).

    Args:
        start: positions ``(n, *event)`` (E and ∇E evaluated there) or a state to continue.
        keep_every: keep the state after every ``keep_every``-th step (0: keep none).
        step_size: the step size to start from (default: the state's, else the kernel's).
        hook: called after every step, may return a new state (step-size adaptation).
        block: pre-draw the noise of K = max(1, block // (n · event size)) steps at once, as ``sample`` does
            (``BLOCK_ELEMENTS``); 0 (default): one step's noise and uniform at a time, the order the kernels use on
            their own. The two give different, equally valid chains.
        frozen_after: consecutive non-finite proposals after which a chain counts as frozen (None: never).
        bar: a tqdm-like object updated once per step (once per block with a block runner).
        capture: how blocks of ULA / MALA / HMC / kinetic steps run (module doc): ``"auto"``, ``"off"``,
            ``"eager"``, ``"graph"`` or ``"compile"``.
        final_energy: False: the caller needs only the final positions; ULA / kinetic Langevin step by step may
            leave E and ∇E at them unevaluated (module doc).
        read_last_check: False: on the GPU path, leave the last finiteness check of a block runner or of Gibbs
            sweeps unread in ``result.unread`` (AIS queues them and reads 32 at a time: ``finite_watch.queued``).
        draw_ahead: on a CPU, with ``block > 0``, a block runner or ULA / kinetic Langevin step by step and a
            generator of the caller's, draw the next block on a helper thread while this one runs
            (:mod:`~ebmlab.samplers.draw_ahead`; the same numbers; pays only where a core is idle); ``"auto"``
            (default): while blocks measure it faster (timed at the start and again during long runs).
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise ConfigError(f"run_chains: n_steps must be an int >= 0, got {n_steps!r}.")
    if draw_ahead not in (True, False, "auto"):
        raise ConfigError(f"draw_ahead must be True, False or 'auto', got {draw_ahead!r}.")
    if isinstance(keep_every, bool) or not isinstance(keep_every, int) or keep_every < 0:
        raise ConfigError(f"run_chains: keep_every must be an int >= 0, got {keep_every!r}.")
    if capture not in MODES:
        raise ConfigError(f"run_chains: capture must be one of {', '.join(MODES)}, got {capture!r}.")
    if isinstance(start, SamplerState) and not start.evaluated:  # positions only: evaluate E and ∇E there
        size0 = start.step_size if step_size is None else step_size
        state = kernel.init(energy, start.x, size0).replace(iteration=start.iteration)  # type: ignore[arg-type]
    elif isinstance(start, SamplerState):
        state = start if step_size is None else start.replace(step_size=step_size)
    else:
        state = kernel.init(energy, start, step_size)  # type: ignore[arg-type]
    x = state.x
    check_generator(generator, x.device, kernel.name)
    n = x.shape[0]
    size = max(1, math.prod(x.shape[1:]))
    n_kept = n_steps // keep_every if keep_every else 0
    samples = torch.empty((n_kept, *x.shape), dtype=x.dtype, device=x.device) if keep_every else None
    e_dtype = state.cached(kernel.name)[0].dtype
    energies = torch.empty((n_kept, n), dtype=e_dtype, device=x.device) if keep_every else None
    draw_noise, draw_uniform = block_draws(kernel)
    per_block = max(1, block // (n * size)) if (draw_noise and block) else 1
    one_step = capture == "auto" and per_block == 1  # auto with one-step blocks: only bookkeeping to gain
    runner = make_block_runner(energy, kernel, state, "off" if hook is not None or one_step else capture, n_steps)
    # ULA / kinetic (exact types) accept every move and raise at a non-finite one: nothing to book per step
    lean = hook is None and draw_noise and not draw_uniform
    if lean and runner is None and isinstance(kernel, UnadjustedSampler):  # step by step: step_watch
        ahead = draw_ahead if ahead_pays(x, per_block, generator) else False
        state, drew_ahead = run_unadjusted(kernel, energy, state, n_steps, generator, per_block, BOOK_EVERY,
                                           keep_every, samples, energies, bar, final_energy or keep_every > 0,
                                           ahead)  # fmt: skip
        ones = torch.ones(n_steps, dtype=torch.float64, device=x.device)
        counts = torch.zeros(n, dtype=torch.long, device=x.device)
        total = torch.full((n,), float(n_steps), dtype=torch.float64, device=x.device)  # n_steps × 1.0, exactly
        return ChainResult(state, samples, energies, ones, total, counts, counts.clone(), draw_ahead=drew_ahead)
    accept = torch.empty(n_steps, dtype=torch.float64, device=x.device)
    accept_sum = torch.zeros(n, dtype=torch.float64, device=x.device)
    nonfinite = torch.zeros(n, dtype=torch.long, device=x.device)
    divergent = torch.zeros(n, dtype=torch.long, device=x.device)
    streak = torch.zeros(n, dtype=torch.long, device=x.device)
    result = ChainResult(state, samples, energies, accept, accept_sum, nonfinite, divergent)
    pending: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []  # unbooked steps: mean, acceptance, flags
    t = booked = 0
    late: BlockCheck | None = None  # ULA / kinetic / Gibbs on CUDA: a block's finiteness, read one block late
    # Gibbs on the GPU path: each sweep's finiteness per block, checked with the booking, one chunk late
    # (the exact type: a subclass may override step, which sweep would bypass)
    sweeps: list[Tensor] | None = [] if type(kernel) is BlockGibbs and hook is None and deferred(x.device) else None
    flat = runner is None and per_block == 1  # one step's draws without the step dimension (the same numbers)

    def draw(k: int) -> tuple[Tensor | None, Tensor | None]:
        shape = x.shape if flat else (k, *x.shape)
        noise = torch.randn(shape, generator=generator, dtype=x.dtype, device=x.device) if draw_noise else None
        u_shape = (n,) if flat else (k, n)
        uniform = torch.rand(u_shape, generator=generator, dtype=x.dtype, device=x.device) if draw_uniform else None
        return noise, uniform

    # a block runner's steps take their draws and nothing else from the generator: the next block can be drawn ahead
    ahead = draw_ahead if runner is not None and draw_noise and ahead_pays(x, per_block, generator) else False
    draws = ahead_draws.BlockDraws(draw, n_steps, per_block, rng_of(generator, x.device), ahead)
    try:
        while t < n_steps:
            k = min(per_block, n_steps - t)
            (noise, uniform), _ = draws.next()
            if runner is not None and noise is not None:
                state, streak, check = run_block(runner, kernel, state, noise, uniform, result, t, keep_every, streak)
                if late is not None:  # the previous block's flags, read after this block was queued
                    late.raise_if_bad()
                late = None
                if check is not None and deferred(x.device):
                    late = check.start_copy() if t + k < n_steps else check  # more blocks follow: copy its flag now
                elif check is not None:
                    check.raise_if_bad()
                t = booked = t + k
                if bar is not None:
                    bar.update(k)  # type: ignore[attr-defined]
                continue
            for i in range(k):
                kwargs = {}
                if noise is not None:
                    kwargs["noise"] = noise if flat else noise[i]
                if uniform is not None:
                    kwargs["uniform"] = uniform if flat else uniform[i]
                if sweeps is not None:
                    state, info, finite = kernel.sweep(energy, state, generator)  # type: ignore[attr-defined]
                    sweeps.append(finite)
                else:
                    state, info = kernel.step(energy, state, generator, **kwargs)  # type: ignore[call-arg]
                pending.append((info.accept_prob.mean(), info.accept_prob, info.nonfinite, info.divergent))
                t += 1
                if keep_every and t % keep_every == 0:
                    assert samples is not None and energies is not None
                    samples[t // keep_every - 1] = state.x
                    energies[t // keep_every - 1] = state.cached(kernel.name)[0]
                if hook is not None:
                    state = hook(t, state, info) or state
                if bar is not None:
                    bar.update(1)  # type: ignore[attr-defined]
                if len(pending) == BOOK_EVERY:
                    streak = book_pending(result, booked, pending, streak)
                    late = swap_checks(late, gibbs_check(kernel, sweeps, state.iteration - (t - booked), x))
                    booked, pending = t, []
    finally:
        draws.close()
    result.draw_ahead = draws.share
    late = swap_checks(late, gibbs_check(kernel, sweeps, state.iteration - (t - booked), x), more=False)
    if late is not None and read_last_check:
        late.raise_if_bad()
    result.unread = None if read_last_check else late
    if pending:
        streak = book_pending(result, booked, pending, streak)
    if frozen_after is not None and n_steps >= frozen_after and not lean:  # lean: no non-finite proposal was kept
        check_frozen(kernel, energy, state, streak >= frozen_after, frozen_after)
    result.state = state
    if runner is not None:  # an auto runner still measuring ran every step so far eagerly
        result.capture = "eager" if runner.mode == "auto" else runner.mode
        result.capture_note = runner.fallback
    return result


def ahead_pays(x: Tensor, per_block: int, generator: torch.Generator | None) -> bool:
    """Whether to draw the next block ahead (:mod:`~ebmlab.samplers.draw_ahead`): on a CPU (elsewhere a draw is
    queued, not waited for), for blocks of at least AHEAD_MIN_ELEMENTS numbers, from the caller's own generator (the
    global one may be drawn from by the energy itself, e.g. dropout, while the helper draws)."""
    big = per_block * x.numel() >= ahead_draws.AHEAD_MIN_ELEMENTS
    return x.device.type == "cpu" and big and generator is not None


def gibbs_check(kernel: Sampler, sweeps: list[Tensor] | None, iteration: int, x: Tensor) -> BlockCheck | None:
    """The check of the Gibbs sweeps after ``iteration`` collected in ``sweeps`` (emptied), or None."""
    if not sweeps:
        return None
    check = kernel.check(torch.stack(sweeps), iteration, x.device, x.shape[1])  # type: ignore[attr-defined]
    sweeps.clear()
    return check


def swap_checks(late: BlockCheck | None, new: BlockCheck | None, more: bool = True) -> BlockCheck | None:
    """Read the pending check ``late`` now that later work is queued, and keep ``new`` pending (if there is one;
    ``more``: work follows it in this call, so its flag's copy starts now)."""
    if new is None:
        return late
    if late is not None:
        late.raise_if_bad()
    return new.start_copy() if more else new


def book_pending(
    books: ChainResult, t: int, pending: list[tuple[Tensor, Tensor, Tensor, Tensor]], streak: Tensor
) -> Tensor:
    """Book steps ``t+1 … t+len(pending)`` (per step: mean acceptance, acceptance, non-finite and divergent flags)."""
    means, probs, nonfinite, divergent = (torch.stack(column) for column in zip(*pending, strict=True))
    return book(books, t, means, probs, ~nonfinite, divergent, streak)


def book(
    books: ChainResult, t: int, means: Tensor, probs: Tensor, ok: Tensor, divergent: Tensor, streak: Tensor
) -> Tensor:
    """Book K steps into ``books`` from step ``t + 1`` exactly as one step at a time would; returns the new streak.

    ``means`` (K,): each step's mean acceptance; ``probs``, ``ok``, ``divergent`` (K, n). The float64 running sum is
    a cumsum along the steps (a scan along a non-innermost dimension adds the rows one after the other, as ``+=``
    per step does); the trailing run of non-finite proposals is k − (last finite step, 1-based; 0 if none), or
    streak + k.
    """
    k = means.shape[0]
    books.accept[t : t + k] = means
    seq = torch.cat([books.accept_sum.unsqueeze(0), probs.to(torch.float64)])
    books.accept_sum.copy_(seq.cumsum(0)[-1])
    books.nonfinite += (~ok).sum(0)
    books.divergent += divergent.sum(0)
    order = torch.arange(1, k + 1, device=streak.device).unsqueeze(1)
    last_ok = (ok.long() * order).amax(0)
    return torch.where(last_ok == 0, streak + k, k - last_ok)


def run_block(
    runner: BlockRunner,
    kernel: Sampler,
    state: SamplerState,
    noise: Tensor,
    uniform: Tensor | None,
    books: ChainResult,
    t: int,
    keep_every: int,
    streak: Tensor,
) -> tuple[SamplerState, Tensor, BlockCheck | None]:
    """Steps ``t+1 … t+K`` by ``runner`` with these draws, booked into ``books`` exactly as step by step would.

    Returns the new state, the per-chain count of trailing non-finite proposals and, for ULA / kinetic Langevin
    (which stop at the first non-finite step, as ``kernel.step`` does), the block's finiteness check for the caller
    to read (:mod:`~ebmlab.samplers.finite_watch`). Nothing here synchronises with the host.
    """
    k = noise.shape[0]
    first = (-(t + 1)) % keep_every if keep_every else k  # first kept step of the block (0-based)
    out = runner.run(state, noise, uniform, records=first < k)
    check = None
    if not kernel.metropolis_adjusted:
        check = BlockCheck.unadjusted(kernel.name, state.iteration, out.ok, state.step_size)
    streak = book(books, t, out.accept_mean, out.accept, out.ok, out.divergent, streak)
    if first < k:
        assert books.samples is not None and books.energies is not None
        assert out.xs is not None and out.es is not None
        j = (t + first + 1) // keep_every - 1
        kept = out.xs[first::keep_every]
        books.samples[j : j + kept.shape[0]] = kept
        books.energies[j : j + kept.shape[0]] = out.es[first::keep_every]
    return out.state, streak, check


def check_frozen(kernel: Sampler, energy: EnergyFn, state: SamplerState, frozen: Tensor, steps: int) -> None:
    """Name the cause when chains stopped moving because every proposal was non-finite (module doc)."""
    if not bool(frozen.any()):
        return
    idx = frozen.nonzero().flatten()
    with torch.no_grad():
        now = energy(state.x)
    if not bool(torch.isfinite(now[idx]).all()):
        raise NonFiniteError(
            f"{kernel.name}: the energy is now non-finite at the positions of {idx.numel()} of {frozen.numel()} "
            f"chains (first chains: {idx[:5].tolist()}), so every proposal was rejected for {steps}+ steps and the "
            "chains froze. The energy itself turned NaN/inf (NaN parameters, or an overflow): check the model."
        )
    warnings.warn(
        f"{kernel.name}: {idx.numel()} of {frozen.numel()} chains (first: {idx[:5].tolist()}) had non-finite "
        f"proposals at their last {steps}+ steps and did not move; lower the step size (now "
        f"{float(torch.as_tensor(state.step_size).max()):g}) or check the energy for overflow near them.",
        RuntimeWarning,
        stacklevel=3,
    )
