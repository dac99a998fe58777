"""Sampler state, per-step info and the base class shared by every MCMC kernel.

Every kernel is a small object holding hyper-parameters, with a functional core::

    state = kernel.init(energy, x0)                  # x, E(x), ∇E(x) cached
    state, info = kernel.step(energy, state, gen)    # one transition, all chains at once

The state is explicit and immutable; the energy and ∇E at the current point are cached
in it so that no kernel evaluates them twice. A caller that needs only the final positions (the negatives of
maximum-likelihood training) may ask :func:`~ebmlab.samplers.run_chains` not to evaluate them after the last step
(``final_energy=False``): that state's ``energy`` and ``grad`` are ``None`` (``evaluated`` is False), never stale. Targets are p_T(x) ∝ exp(-E(x)/T) with
temperature ``T`` (``T = 1`` is the Boltzmann distribution of E).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, energy_and_grad
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError

if TYPE_CHECKING:
    from ebmlab.samplers.driver import SampleResult

__all__ = [
    "Sampler",
    "SamplerState",
    "StepInfo",
    "Transition",
    "UnadjustedSampler",
    "finite_rows",
    "raise_diverged",
    "row_sums",
    "unadjusted_info",
]


@dataclass(frozen=True)
class SamplerState:
    """State of a batch of chains: positions and cached energy/gradient.

    Attributes:
        x: positions ``(n, *event)``.
        energy: E(x), shape ``(n,)``; ``None`` when not evaluated (a positions-only state, module doc).
        grad: ∇ₓE(x), shape ``(n, *event)`` (``None`` for gradient-free kernels and when not evaluated).
        step_size: current step size (changed only by adaptation); a float, or one value per chain ``(n,)``
            for the kernels with ``per_chain_step_size`` (replica exchange gives each rung its own).
        iteration: number of transitions taken so far.
        momentum: velocities for kinetic Langevin (``None`` otherwise).
    """

    x: Tensor
    energy: Tensor | None
    grad: Tensor | None
    step_size: float | Tensor
    iteration: int = 0
    momentum: Tensor | None = None

    def replace(self, **changes: object) -> SamplerState:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def evaluated(self) -> bool:
        """Whether E (and ∇E, for gradient kernels) at ``x`` are in the state (False: positions only)."""
        return self.energy is not None

    def cached(self, kernel: str) -> tuple[Tensor, Tensor | None]:
        """``(energy, grad)``, or a one-line error for a positions-only state (a kernel cannot step from it)."""
        if self.energy is None:
            raise ConfigError(
                f"{kernel}: this state holds positions only (E and ∇E after its last step were not evaluated: "
                "run_chains(..., final_energy=False)); continue it with run_chains, which evaluates them, or start "
                "anew with kernel.init(energy, state.x)."
            )
        return self.energy, self.grad


@dataclass(frozen=True)
class StepInfo:
    """Per-chain information about one transition.

    Attributes:
        accept_prob: Metropolis–Hastings acceptance probability ``(n,)`` (ones if unadjusted).
        accepted: whether the proposal was accepted ``(n,)``.
        nonfinite: the proposal had a NaN/inf energy or gradient (MALA, HMC: a log α that is not finite, which
            includes those; :func:`clamp_log_alpha_`) and was rejected ``(n,)``.
        divergent: non-finite, or an energy error above the kernel's divergence threshold ``(n,)``.
    """

    accept_prob: Tensor
    accepted: Tensor
    nonfinite: Tensor
    divergent: Tensor


def finite_rows(energy: Tensor, grad: Tensor | None) -> Tensor:
    """Chains whose energy and gradient are all finite, shape ``(n,)``.

    One reduction: a NaN/inf anywhere in a row of ∇E makes the row sum non-finite (:func:`row_sums`).
    """
    if grad is None:
        return torch.isfinite(energy)
    s = row_sums(energy, grad)
    return (s - s) == 0  # isfinite in two ops (torch.isfinite dispatches four): s − s is 0 iff s is finite, else NaN


def row_sums(energy: Tensor, grad: Tensor) -> Tensor:
    """E + Σ∇E per chain, shape ``(n,)``: what :func:`finite_rows` tests for finiteness. For ``(n, d)`` gradients
    without the reshape (the same tensor), E added in place to the fresh sum (x + y = y + x bit for bit)."""
    s = grad.sum(dim=1) if grad.dim() == 2 else grad.reshape(grad.shape[0], -1).sum(dim=1)
    return s.add_(energy) if s.dtype == energy.dtype else energy + s


def unadjusted_info(energy: Tensor) -> StepInfo:
    """The StepInfo of an unadjusted step that passed its finiteness check: every move accepted, none non-finite."""
    true = torch.ones(energy.shape, dtype=torch.bool, device=energy.device)
    false = torch.zeros_like(true)
    return StepInfo(accept_prob=torch.ones_like(energy), accepted=true, nonfinite=false, divergent=false)


def positive_finite(name: str, value: float, kernel: str) -> float:
    """``float(value)`` if positive and finite, else a ConfigError naming the kernel and the parameter."""
    value = float(value)
    if not value > 0 or value != value or value == float("inf"):
        raise ConfigError(f"{kernel}: {name} must be a positive finite number, got {value!r}.")
    return value


class Sampler(ABC):
    """Base class of MCMC kernels over batched chains (first dimension = chain)."""

    name: str = "sampler"
    #: whether the kernel has a Metropolis–Hastings correction (step-size adaptation applies)
    metropolis_adjusted: bool = False
    #: whether each transition leaves p_T exactly invariant (MALA, HMC, Gibbs; not ULA or kinetic Langevin),
    #: as AIS and replica exchange need
    exact: bool = False
    #: acceptance rate targeted by step-size adaptation (dual averaging)
    default_target_accept: float = 0.65
    #: whether the kernel needs ∇E in its state
    uses_gradient: bool = True
    #: whether ``SamplerState.step_size`` may be a tensor with one step size per chain
    per_chain_step_size: bool = False
    #: whether a transition's last energy evaluation is at its proposal, so that every chain ends at the proposal
    #: or where it started (MALA, HMC): path.track_on_device then needs no host read
    ends_at_proposal: bool = False
    #: whether the state carries a velocity from one transition to the next (kinetic Langevin), which a loop that
    #: keeps only positions between rounds (replica exchange) would drop
    carries_velocity: bool = False

    def __init__(self, step_size: float, temperature: float = 1.0) -> None:
        self.step_size = positive_finite("step_size", step_size, self.name)
        self.temperature = positive_finite("temperature", temperature, self.name)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"

    def init(self, energy: EnergyFn, x0: Tensor, step_size: float | None = None) -> SamplerState:
        """Evaluate E and ∇E at the starting points; they must be finite."""
        if not isinstance(x0, Tensor) or x0.dim() < 1 or x0.shape[0] == 0:
            raise ShapeError(
                f"{self.name}: x0 must be a tensor of shape (n_chains, *event_shape) with n_chains >= 1, "
                f"got {getattr(x0, 'shape', type(x0).__name__)}."
            )
        x0 = x0.detach()
        return self._start(x0, *self.evaluate(energy, x0), step_size)

    def evaluate(self, energy: EnergyFn, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """E at ``x``, and ∇E when the kernel uses it (else None), as :meth:`init` evaluates them."""
        if self.uses_gradient:
            return energy_and_grad(energy, x)
        with torch.no_grad():
            return energy(x), None

    def _start(self, x0: Tensor, e: Tensor, g: Tensor | None, step_size: float | Tensor | None = None) -> SamplerState:
        """The initial state from E and ∇E at the starting points, which must be finite."""
        ok = finite_rows(e, g)
        if not bool(ok.all()):
            self.raise_bad_start(ok)
        return self._make_state(x0, e, g, self.step_size if step_size is None else step_size)

    def raise_bad_start(self, ok: Tensor) -> None:
        """Raise the error of starting points whose energy or gradient is non-finite (``~ok``, per chain)."""
        bad = (~ok).nonzero().flatten()
        raise NonFiniteError(
            f"{self.name}: {bad.numel()} of {ok.numel()} starting points have a non-finite energy or "
            f"gradient (first chains: {bad[:5].tolist()}). Start the chains inside the support of the "
            "energy, or check the energy for overflow."
        )

    def _make_state(self, x: Tensor, e: Tensor, g: Tensor | None, step_size: float | Tensor) -> SamplerState:
        if isinstance(step_size, Tensor):
            if not self.per_chain_step_size:
                raise ConfigError(f"{self.name}: one step size per chain is not supported; pass a float.")
            if step_size.shape != (x.shape[0],) or not bool((step_size > 0).all()):
                raise ShapeError(
                    f"{self.name}: per-chain step sizes must be positive with shape ({x.shape[0]},), "
                    f"got shape {tuple(step_size.shape)}."
                )
            return SamplerState(x=x, energy=e, grad=g, step_size=step_size)
        return SamplerState(x=x, energy=e, grad=g, step_size=float(step_size))

    @abstractmethod
    def step(
        self, energy: EnergyFn, state: SamplerState, generator: torch.Generator | None = None
    ) -> tuple[SamplerState, StepInfo]:
        """One transition of every chain."""

    def move(
        self,
        energy: EnergyFn,
        state: SamplerState,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> SamplerState:
        """The state after one transition, without its :class:`StepInfo` (``step(...)[0]``; the unadjusted
        kernels, whose info is constant, skip building it)."""
        kwargs = {} if noise is None else {"noise": noise}
        return self.step(energy, state, generator, **kwargs)[0]  # type: ignore[call-arg]

    def sample(self, energy: EnergyFn, x0: Tensor, n_steps: int, **kwargs: object) -> SampleResult:
        """Run chains with :func:`ebmlab.samplers.sample` (see there for the options)."""
        from ebmlab.samplers.driver import sample

        return sample(energy, self, x0, n_steps, **kwargs)  # type: ignore[arg-type]


class Transition(ABC):
    """One unadjusted step's arithmetic as pure tensor functions, its constants (step size, noise scale) computed
    once: ``drift`` (x, v, ∇E(x), ξ) → (x', v⁻) before E is evaluated at x', ``kick`` (v⁻, ∇E(x')) → v' after
    (v: kinetic Langevin's velocities, None for ULA). ``advance`` and the chain loop (:mod:`.step_watch`) both run
    these, so the update has one implementation."""

    step_size: float | Tensor  # the step size the new states carry

    @abstractmethod
    def drift(self, x: Tensor, v: Tensor | None, g: Tensor, noise: Tensor) -> tuple[Tensor, Tensor | None]:
        """The new positions and the velocities before ∇E at them is known."""

    def kick(self, v: Tensor | None, g: Tensor) -> Tensor | None:
        """The velocities after ∇E(x') = ``g`` is known (none for ULA)."""
        return v


class UnadjustedSampler(Sampler):
    """A kernel without a Metropolis test (ULA, kinetic Langevin): ``advance`` is the transition, ``move`` adds the
    finiteness test (a non-finite energy or gradient raises) and ``step`` the constant :class:`StepInfo` (every
    proposal accepted). A kernel defines only ``transition`` (its arithmetic); the chain loop runs it and tests many
    steps at once (:mod:`.step_watch`)."""

    def step(
        self,
        energy: EnergyFn,
        state: SamplerState,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> tuple[SamplerState, StepInfo]:
        new = self.move(energy, state, generator, noise)
        return new, unadjusted_info(new.cached(self.name)[0])

    def move(
        self,
        energy: EnergyFn,
        state: SamplerState,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> SamplerState:
        """The next state, raising :class:`~ebmlab.errors.NonFiniteError` at a non-finite energy or gradient."""
        new = self.advance(energy, state, generator, noise)
        ok = finite_rows(*new.cached(self.name))
        if not bool(ok.all()):
            raise_diverged(self.name, new.iteration, ok, state.step_size)
        return new

    @abstractmethod
    def transition(self, step_size: float | Tensor) -> Transition:
        """The step's arithmetic at step size ``step_size`` (a float, or one per chain where the kernel allows)."""

    def advance(
        self,
        energy: EnergyFn,
        state: SamplerState,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> SamplerState:
        """The next state, not tested for finiteness (its E and ∇E may be NaN/inf)."""
        t = self.transition(state.step_size)
        x, v = t.drift(state.x, state.momentum, self.grad_of(state), draw_noise(state.x, generator, noise))
        e, g = energy_and_grad(energy, x)
        return SamplerState(x, e, g, t.step_size, state.iteration + 1, momentum=t.kick(v, g))

    def advance_positions(
        self,
        state: SamplerState,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> SamplerState:
        """The positions ``advance`` moves to (the same bits), E and ∇E there not evaluated: a positions-only state
        (``energy``, ``grad`` and kinetic Langevin's ``momentum``, whose last half kick needs ∇E, are ``None``)."""
        t = self.transition(state.step_size)
        x, _ = t.drift(state.x, state.momentum, self.grad_of(state), draw_noise(state.x, generator, noise))
        return SamplerState(x, None, None, t.step_size, state.iteration + 1)

    def grad_of(self, state: SamplerState) -> Tensor:
        """∇E at the state's positions, or the one-line error of a positions-only state (nothing to step from)."""
        g = state.cached(self.name)[1]
        assert g is not None
        return g


def draw_noise(x: Tensor, generator: torch.Generator | None, noise: Tensor | None) -> Tensor:
    """``noise``, or a fresh standard normal draw shaped like ``x`` from ``generator``."""
    if noise is not None:
        return noise
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def raise_diverged(
    name: str, step: int, ok: Tensor, step_size: float | Tensor, what: str = "a non-finite energy or gradient"
) -> None:
    """Raise the NonFiniteError of an unadjusted kernel whose chains ``~ok`` became non-finite at ``step`` (``what``:
    the energy or gradient; ``"non-finite positions"`` at a positions-only last step)."""
    bad = (~ok).nonzero().flatten()
    if isinstance(step_size, Tensor):
        step_size = float(step_size.max())
    raise NonFiniteError(
        f"{name} diverged at step {step}: {bad.numel()} of {ok.numel()} chains have {what} "
        f"(first chains: {bad[:5].tolist()}). Reduce step_size (now {step_size:g}), start "
        "closer to the mode, or use a Metropolis-adjusted sampler (mala, hmc) that rejects such moves."
    )


def mh_accept(
    log_alpha: Tensor, ok: Tensor, generator: torch.Generator | None, uniform: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Metropolis–Hastings decision: non-finite proposals (``~ok``) are always rejected.

    Accepts where log u < min(0, log α), u ~ U(0, 1) drawn from ``generator`` unless given as ``uniform``.
    Returns ``(accept_prob, accepted, log_alpha)``.
    """
    return accept_clamped(clamped_log_alpha(log_alpha, ok), generator, uniform)


def accept_clamped(
    log_alpha: Tensor, generator: torch.Generator | None, uniform: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`mh_accept` for a log α already clamped (−inf where rejected outright, at most 0)."""
    u = uniform
    if u is None:
        u = torch.rand(log_alpha.shape, generator=generator, dtype=log_alpha.dtype, device=log_alpha.device)
    accepted = torch.log(u) < log_alpha
    return log_alpha.exp(), accepted, log_alpha


def clamped_log_alpha(log_alpha: Tensor, ok: Tensor) -> Tensor:
    """min(0, log α), −inf where the proposal is non-finite (``~ok``) or log α is NaN."""
    log_alpha = torch.where(ok, log_alpha, -float("inf"))
    # neginf: nan_to_num would otherwise turn −inf into the lowest finite float, which log(u) = −inf (u = 0 exactly,
    # probability 2⁻²⁴ per float32 draw) is below: a rejected (non-finite) proposal would be accepted
    return torch.nan_to_num(log_alpha, nan=-float("inf"), neginf=-float("inf")).clamp(max=0.0)


def clamp_log_alpha_(log_alpha: Tensor) -> tuple[Tensor, Tensor]:
    """``(min(0, log α), bad)`` in place, with −inf where log α is not finite (``bad``, the mask returned).

    MALA's and HMC's own test for a non-finite proposal. Their log α is built from the proposal's E and ∇E so that a
    NaN/inf in either always makes it NaN/±inf (:func:`~ebmlab.samplers.langevin.log_ratio`; HMC: −ΔH, whose kinetic
    term carries every ∇E of the trajectory): ``bad`` holds every chain :func:`finite_rows` would reject, and also
    a log α that overflowed from finite parts. One test of n numbers instead of a pass over the gradients; a log α
    of +inf is rejected too (never clamped to an acceptance of 1).
    """
    bad = (log_alpha - log_alpha) != 0  # isfinite in two ops: x − x is 0 iff x is finite, else NaN
    return log_alpha.masked_fill_(bad, -float("inf")).clamp_(max=0.0), bad


def axpy(y: Tensor, x: Tensor, alpha: float | Tensor) -> Tensor:
    """y + α·x with α a scalar or one value per chain ``(n,)`` (broadcast over the event dimensions)."""
    if isinstance(alpha, Tensor):
        return y + alpha.reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype) * x
    return y.add(x, alpha=alpha)


def check_jitter(jitter: float, kernel: str) -> float:
    """A step-size jitter j ≥ 0 (finite), or a one-line error."""
    if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0.0 <= jitter < math.inf:
        raise ConfigError(f"{kernel}: jitter must be a finite number >= 0 (0: no jitter), got {jitter!r}.")
    return float(jitter)


def jittered(step: float | Tensor, jitter: float, x: Tensor, generator: torch.Generator | None) -> float | Tensor:
    """The step of each chain for one iteration: ε·exp(−j·U), U ~ U(0, 1) per chain (ε itself when j = 0)."""
    if jitter == 0.0:
        return step
    u = torch.rand(x.shape[0], generator=generator, dtype=torch.float64, device=x.device)
    return (torch.as_tensor(step, dtype=torch.float64, device=x.device) * torch.exp(-jitter * u)).to(x.dtype)


def sqrt(v: float | Tensor) -> float | Tensor:
    """√v for a scalar or a per-chain tensor."""
    return torch.sqrt(v) if isinstance(v, Tensor) else math.sqrt(v)


#: from this many numbers a row choice on the CPU copies rows by index instead of calling ``torch.where``, which the CPU
#: runs element by element (4096 × 64: 206 against 87 µs with ``new`` overwritten in place, 141 µs into a copy of
#: ``old``; 128 × 64: 11 against 17 µs; docs/perf_results/s12_scratch/select_rows.py, docs/performance_log.md "Session 12")
SELECT_BY_INDEX_MIN = 1 << 15


def select(mask: Tensor, new: Tensor, old: Tensor, fresh: bool = False) -> Tensor:
    """Row-wise choice between ``new`` and ``old`` for a per-chain boolean ``mask``: rows copied, so the same bits however
    it runs. ``fresh``: ``new`` is the caller's own temporary and may be overwritten (the result is then ``new``).

    On the CPU from ``SELECT_BY_INDEX_MIN`` numbers, and not while compiling, rows are copied by index (a
    ``nonzero``, which would synchronise a GPU, so CUDA keeps ``torch.where``)."""
    if new.device.type == "cpu" and new.numel() >= SELECT_BY_INDEX_MIN and not torch.compiler.is_compiling():
        if fresh:
            keep = (~mask).nonzero().squeeze(1)
            return new.index_copy_(0, keep, old.index_select(0, keep))
        take = mask.nonzero().squeeze(1)
        return old.index_copy(0, take, new.index_select(0, take))
    return torch.where(mask.reshape(mask.shape + (1,) * (new.dim() - 1)), new, old)
