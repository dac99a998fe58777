"""ULA / kinetic Langevin step by step with the finiteness test read once per chunk of steps.

An unadjusted kernel's ``move`` tests every step (:func:`~ebmlab.samplers.base.finite_rows`: E + Σ∇E finite per
chain) and raises at the first non-finite one; the test's ``isfinite``, ``all`` and host read cost ~10 % of a step
on small batches. :func:`run_unadjusted` (what :func:`~ebmlab.samplers.chains.run_chains` runs for them step by
step) runs ``advance`` (the step without the test) as the kernel's :class:`~ebmlab.samplers.base.Transition` on bare
tensors (the same functions, no state built per step) and hands each step's E, ∇E to a :class:`StepWatch`, which
keeps the per-chain sum E + Σ∇E of each step (the very tensor ``finite_rows`` tests, by the same two ops) and tests a
chunk of them at once. Keeping the sums, not E and ∇E themselves, keeps no per-step tensor larger than one value
per chain alive (holding every ∇E made the allocator fault in fresh pages: slower than the test it replaced).

With ``final_energy=False`` the last step is ``advance_positions`` (``drift`` only: E and ∇E at x_K not evaluated)
and the watch keeps the row sums of x_K instead: a non-finite x_K raises the same error naming step K, for
"non-finite positions".

So a run stops at the same step, with the same error naming the same chains, as with ``move``, and the generator
is put back where it stood after that step's draws (:meth:`StepWatch.start` saves its state; the draws since are
replayed). Differences: the energy was evaluated at up to one chunk of further (NaN/inf) positions before the
error, and an exception the energy raises there is replaced by the non-finite error of the earlier step that
caused it (``move`` would have stopped before the energy saw that input).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, energy_and_grad
from ebmlab.samplers.base import SamplerState, UnadjustedSampler, raise_diverged, row_sums
from ebmlab.samplers.draw_ahead import BlockDraws

__all__ = ["StepWatch", "run_unadjusted"]


def rng_of(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """The generator that draws with ``generator=generator`` on ``device`` (None: its device's default, if known)."""
    if generator is not None:
        return generator
    if device.type == "cpu":
        return torch.default_generator
    if device.type == "cuda":
        return torch.cuda.default_generators[device.index if device.index is not None else torch.cuda.current_device()]
    return None


class StepWatch:
    """Finiteness of the steps after ``start(iteration)``, tested by ``check()`` (module doc).

    Args:
        name: the kernel's name (for its error); step_size: the state's step size (for its error).
        generator: the generator the chain loop draws from; ``redraw(k)`` repeats a draw of k steps' noise on it.
    """

    def __init__(
        self,
        name: str,
        step_size: float | Tensor,
        generator: torch.Generator | None,
        device: torch.device,
        redraw: Callable[[int], object],
        settle: Callable[[], None] | None = None,
    ) -> None:
        self.name, self.step_size, self.redraw, self.settle = name, step_size, redraw, settle
        self.rng = rng_of(generator, device)
        self.iteration = 0
        self.sums: list[Tensor] = []
        self.draws: list[int] = []
        self.rng_state: Tensor | None = None
        self.positions_at = -1  # the chunk's step (0-based) whose sums are of positions only (-1: none)

    def start(self, iteration: int, rng_state: Tensor | None = None) -> None:
        """Begin a chunk after ``iteration`` steps, at a draw boundary: the generator's state there is saved
        (``rng_state``: that state, when the chunk's first draw was made ahead of time)."""
        self.iteration = iteration
        self.sums, self.draws = [], []
        self.positions_at = -1
        if rng_state is not None:
            self.rng_state = rng_state
        else:
            self.rng_state = None if self.rng is None else self.rng.get_state()

    def drew(self, k: int) -> None:
        """The chain loop drew the noise of the next ``k`` steps."""
        self.draws.append(k)

    def add(self, energy: Tensor, grad: Tensor) -> None:
        """Keep one step's E + Σ∇E per chain (:func:`~ebmlab.samplers.base.row_sums`, what ``finite_rows`` tests)."""
        self.sums.append(row_sums(energy, grad))

    def add_positions(self, x: Tensor) -> None:
        """Keep a positions-only step's Σx per chain (finite iff x is, barring overflow of the sum)."""
        self.positions_at = len(self.sums)
        self.sums.append(x.reshape(x.shape[0], -1).sum(dim=1))

    @property
    def steps(self) -> int:
        return len(self.sums)

    def check(self) -> None:
        """Raise the kernel's NonFiniteError at the first step of the chunk that ``move`` would have stopped at."""
        if not self.sums:
            return
        ok = torch.isfinite(torch.stack(self.sums))
        if bool(ok.all()):
            return
        first = int((~ok).any(dim=1).nonzero()[0, 0])
        self.rewind(first + 1)
        what = "non-finite positions" if first == self.positions_at else "a non-finite energy or gradient"
        raise_diverged(self.name, self.iteration + first + 1, ok[first], self.step_size, what)

    def rewind(self, steps: int) -> None:
        """Put the generator where it stood after the draws of the chunk's first ``steps`` steps."""
        if self.rng is None or self.rng_state is None:
            return
        if self.settle is not None:  # a draw in flight ends (and is undone) before the generator is set
            self.settle()
        self.rng.set_state(self.rng_state)
        done = 0
        for k in self.draws:
            if done >= steps:
                break
            self.redraw(k)
            done += k


def run_unadjusted(
    kernel: UnadjustedSampler,
    energy: EnergyFn,
    state: SamplerState,
    n_steps: int,
    generator: torch.Generator | None,
    per_draw: int,
    chunk: int,
    keep_every: int,
    samples: Tensor | None,
    energies: Tensor | None,
    bar: object | None,
    final_energy: bool = True,
    ahead: bool | str = False,
) -> tuple[SamplerState, float]:
    """``n_steps`` of ``kernel.advance`` (its :class:`~ebmlab.samplers.base.Transition`, no state built per step)
    with the noise of ``per_draw`` steps drawn at once, the finiteness of every step tested by a :class:`StepWatch`
    at draw boundaries after ``chunk`` or more steps and at the end; every ``keep_every``-th step's x and E written
    into ``samples`` / ``energies``. Returns the last state (positions only when not ``final_energy``: the last step
    is ``advance_positions``, module doc) and the share of the blocks drawn ahead on a helper thread (``ahead``,
    :mod:`~ebmlab.samplers.draw_ahead`; the same numbers either way)."""
    if n_steps == 0:
        return state, 0.0
    state.cached(kernel.name)  # a positions-only state: its one-line error
    x = state.x
    flat = per_draw == 1  # one step's noise without the step dimension (the same numbers: k · numel decides)

    def draw(k: int) -> Tensor:
        shape = x.shape if flat else (k, *x.shape)
        return torch.randn(shape, generator=generator, dtype=x.dtype, device=x.device)

    draws = BlockDraws(draw, n_steps, per_draw, rng_of(generator, x.device), ahead)
    watch = StepWatch(kernel.name, state.step_size, generator, x.device, draw, settle=draws.settle)
    watch.start(state.iteration)
    try:
        state = _run(
            kernel, energy, state, n_steps, draws, watch, chunk, keep_every, samples, energies, bar, final_energy
        )
    finally:
        draws.close()
    return state, draws.share


def _run(
    kernel: UnadjustedSampler,
    energy: EnergyFn,
    state: SamplerState,
    n_steps: int,
    draws: BlockDraws[Tensor],
    watch: StepWatch,
    chunk: int,
    keep_every: int,
    samples: Tensor | None,
    energies: Tensor | None,
    bar: object | None,
    final_energy: bool,
) -> SamplerState:
    """:func:`run_unadjusted`'s loop over the steps, with its draws and watch."""
    x, v, start = state.x, state.momentum, state.iteration
    e, g = state.cached(kernel.name)
    assert g is not None
    per_draw = draws.per_block
    flat = per_draw == 1
    step = kernel.transition(state.step_size)  # the arithmetic of kernel.advance, its constants computed once
    drift, kick = step.drift, step.kick
    noise = x
    last = n_steps - 1 if not final_energy else -1
    for t in range(n_steps):
        i = t % per_draw
        if i == 0:
            restart = watch.steps >= chunk
            if restart:
                watch.check()
            k = min(per_draw, n_steps - t)
            noise, before = draws.next(state=restart)
            if restart:
                watch.start(start + t, before)
            watch.drew(k)
        if t == last:  # kernel.advance_positions
            x, _ = drift(x, v, g, noise if flat else noise[i])
            watch.add_positions(x)
            if bar is not None:
                bar.update(1)  # type: ignore[attr-defined]
            watch.check()
            return SamplerState(x, None, None, step.step_size, start + n_steps)
        try:  # kernel.advance
            x, v = drift(x, v, g, noise if flat else noise[i])
            e, g = energy_and_grad(energy, x)
            v = kick(v, g)
        except Exception:
            watch.check()  # the energy failed on the NaN/inf an earlier step left: that step's error instead
            raise
        watch.add(e, g)
        if keep_every and (t + 1) % keep_every == 0:
            assert samples is not None and energies is not None
            samples[(t + 1) // keep_every - 1] = x
            energies[(t + 1) // keep_every - 1] = e
        if bar is not None:
            bar.update(1)  # type: ignore[attr-defined]
    watch.check()
    return SamplerState(x, e, g, step.step_size, start + n_steps, momentum=v)
