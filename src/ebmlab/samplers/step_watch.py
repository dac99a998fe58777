"""The finiteness test of ULA / kinetic-Langevin steps taken one at a time, run once per chunk of steps.

An unadjusted kernel's ``move`` tests every step (:func:`~ebmlab.samplers.base.finite_rows`: E + Σ∇E finite per
chain) and raises at the first non-finite one. On small batches those few elementwise ops cost ~10 % of a step.
:func:`~ebmlab.samplers.chains.run_chains` instead runs ``advance`` (the step without the test) and hands each new
state to a :class:`StepWatch`, which keeps the steps' E and ∇E and tests a chunk of them at once:

* **Filter** (a few ops per chunk): |E| + Σ|∇E| < M per chain and step, M = max(dtype) / 4 (:func:`safe_bound`).
  A NaN/inf fails it, and finite terms whose absolute sum passes it cannot overflow in any summation order, so it
  never lets through a step that the per-step test (a sum in one order) would stop.
* **Exact replay** (only when the filter fails): the per-step test, on each kept step in order, the same function
  on the same tensors as ``move`` — the first step it fails raises the kernel's error naming that step and its
  chains, word for word the error of ``move``; if none fails (finite values with a huge sum), the run goes on.

So a run stops at the same step with the same error as with ``move``, and the generator is put back where it stood
after that step's draws (:meth:`StepWatch.start` saves its state; the draws since are replayed). Differences: the
energy was evaluated at up to one chunk of further (NaN/inf) positions before the error, and an exception the
energy raises there is replaced by the non-finite error of the earlier step that caused it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ebmlab.samplers.base import SamplerState, finite_rows, raise_diverged

__all__ = ["StepWatch"]


def rng_of(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """The generator that draws with ``generator=generator`` on ``device`` (None: its device's default, if known)."""
    if generator is not None:
        return generator
    if device.type == "cpu":
        return torch.default_generator
    if device.type == "cuda":
        return torch.cuda.default_generators[device.index if device.index is not None else torch.cuda.current_device()]
    return None


def safe_bound(e_dtype: torch.dtype, g_dtype: torch.dtype, m: int) -> float | None:
    """M such that m terms (E and a row of ∇E) whose absolute sum computes below M sum to a finite value in any
    order; None when no such bound is known (non-float dtypes, or m·u > 1/4, u the unit roundoff).

    A computed sum of m non-negative terms is ≥ S(1 − γ), and any summation order's partial sums are ≤ S(1 + γ),
    γ = m·u / (1 − m·u) ≤ 1/3; so a computed Σ|·| < max/4 gives partial sums < max/2.
    """
    if not (e_dtype.is_floating_point and g_dtype.is_floating_point):
        return None
    e_info, g_info = torch.finfo(e_dtype), torch.finfo(g_dtype)
    if m * max(e_info.eps, g_info.eps) / 2 > 0.25:
        return None
    return min(e_info.max, g_info.max) / 4


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
    ) -> None:
        self.name, self.step_size, self.redraw = name, step_size, redraw
        self.rng = rng_of(generator, device)
        self.iteration = 0
        self.energies: list[Tensor] = []
        self.grads: list[Tensor] = []
        self.draws: list[int] = []
        self.rng_state: Tensor | None = None

    def start(self, iteration: int) -> None:
        """Begin a chunk after ``iteration`` steps, at a draw boundary (the generator's state is saved)."""
        self.iteration = iteration
        self.energies, self.grads, self.draws = [], [], []
        self.rng_state = None if self.rng is None else self.rng.get_state()

    def drew(self, k: int) -> None:
        """The chain loop drew the noise of the next ``k`` steps."""
        self.draws.append(k)

    def add(self, state: SamplerState) -> None:
        """Keep one step's E and ∇E."""
        assert state.grad is not None
        self.energies.append(state.energy)
        self.grads.append(state.grad)

    @property
    def steps(self) -> int:
        return len(self.energies)

    def check(self) -> None:
        """Raise the kernel's NonFiniteError at the first step of the chunk that ``move`` would have stopped at."""
        if not self.energies:
            return
        energies = torch.stack(self.energies)
        k, n = energies.shape
        grads = torch.stack(self.grads).reshape(k, n, -1)
        bound = safe_bound(energies.dtype, grads.dtype, grads.shape[2] + 1)
        if bound is not None:
            size = grads.abs().sum(dim=2) + energies.abs()  # Σ|∇E| + |E| (NaN/inf stay so; vector_norm is slower)
            if bool((size < bound).all()):
                return
        for i, (e, g) in enumerate(zip(self.energies, self.grads, strict=True)):
            ok = finite_rows(e, g)
            if not bool(ok.all()):
                self.rewind(i + 1)
                raise_diverged(self.name, self.iteration + i + 1, ok, self.step_size)

    def rewind(self, steps: int) -> None:
        """Put the generator where it stood after the draws of the chunk's first ``steps`` steps."""
        if self.rng is None or self.rng_state is None:
            return
        self.rng.set_state(self.rng_state)
        done = 0
        for k in self.draws:
            if done >= steps:
                break
            self.redraw(k)
            done += k
