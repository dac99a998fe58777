"""Replica exchange (parallel tempering) along the geometric path from a base density q to exp(−E).

Rungs r = 0..R−1 target π_r(x) ∝ q(x)^{1−β_r} exp(−β_r E(x)), 0 = β_0 < β_1 < … < β_{R−1} = 1, for any base
:class:`~ebmlab.densities.Density` q (default N(0, s²I)): the rung energy is E₀ + β_r D with E₀ = −log q and
D = E − E₀ (:class:`~ebmlab.samplers.path.GeometricPath`). One round:

1. ``steps_per_swap`` transitions of any :mod:`ebmlab.samplers` kernel at every rung r ≥ 1, all rungs in one
   batch (:func:`~ebmlab.samplers.chains.run_chains` on the per-chain energy E₀ + β D);
2. rung 0 is redrawn exactly from q (an independence Gibbs move: the hot end of the ladder mixes perfectly);
3. a swap between neighbouring rungs r, r+1 is proposed for every chain and accepted with probability
   min(1, exp((β_{r+1} − β_r)(D(x_{r+1}) − D(x_r)))) (E₀ cancels); pairs alternate between even and odd r from
   round to round (the deterministic even–odd scheme of Okabe et al. 2001; Syed et al. 2019 show that it
   makes the replicas travel the ladder non-reversibly).

Every move leaves ∏_r π_r invariant, so the β = 1 rung samples exp(−E) exactly in the limit, and chains jump
between modes that a local kernel alone never leaves. E₀, E and their gradients are cached per chain (a
:class:`~ebmlab.samplers.path.PathPoint`): a round costs ``steps_per_swap`` gradient evaluations of all rungs plus
one of rung 0. A base draw where E is NaN or −∞ raises a NonFiniteError naming it; one where E = +∞ or ∇E is not
finite is never swapped up (``ReplicaInfo.nonfinite[0]``); non-finite proposals are counted per rung.

A round does not wait for the device: its statistics (:class:`ReplicaInfo`) stay on the chains' device, and on a GPU
(:func:`~ebmlab.samplers.finite_watch.deferred`) the NaN / −∞ base draws are counted on the device and the error is
raised at the end of :meth:`ReplicaExchange.sample` or :meth:`~ReplicaExchange.adapt` (:meth:`~ReplicaExchange.settled`
after a loop of your own); such chains are never swapped up meanwhile, and a Gibbs kernel's finiteness checks are
kept in :attr:`ReplicaState.unread` and read 32 rounds at a time and there. With one MALA or HMC transition per round
(``steps_per_swap=1``) a round reads the host not at all (:func:`~ebmlab.samplers.path.track_on_device`); with more,
once, for :func:`~ebmlab.samplers.path.track`'s test whether a chain needs its path parts evaluated again (a kernel
that moved it and then rejected a later step).

>>> import torch
>>> from ebmlab.samplers import MALA, ReplicaExchange
>>> energy = lambda x: 0.5 * (x.square().sum(-1) - 9).square()  # a ring of radius 3
>>> pt = ReplicaExchange(MALA(step_size=0.02), n_rungs=6, base_scale=3.0)
>>> gen = torch.Generator().manual_seed(0)
>>> state = pt.init(energy, 64, 2, gen)
>>> for _ in range(50):
...     state, info = pt.step(energy, state, gen)
>>> pt.target_samples(state).shape
torch.Size([64, 2])
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ebmlab.densities import Density, DiagonalNormal
from ebmlab.device_copies import copies_on
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.samplers.base import Sampler, SamplerState, finite_rows, mh_accept
from ebmlab.samplers.chains import run_chains
from ebmlab.samplers.finite_watch import BlockCheck, deferred, queued, read_checks
from ebmlab.samplers.path import (
    GeometricPath,
    PathPoint,
    geometric_betas,
    make_betas,
    raise_untracked,
    track,
    track_on_device,
    tracks_on_device,
)

__all__ = [
    "ReplicaExchange",
    "ReplicaInfo",
    "ReplicaState",
    "TemperingResult",
    "default_base_scale",
]


def default_base_scale(target: object, fallback: float = 1.0) -> float:
    """Half the largest |coordinate bound| of a target with ``bounds`` (its box), else ``fallback``: a base
    N(0, s²I) wide enough that the hot end of the ladder covers the target's support."""
    bounds = getattr(target, "bounds", None)
    if not bounds:
        return float(fallback)
    return 0.5 * max(max(abs(float(lo)), abs(float(hi))) for lo, hi in bounds)


@dataclass(frozen=True)
class ReplicaState:
    """Chains of every rung, rung-major.

    Attributes:
        point: the path parts (E₀ = −log q, E, gradients) at the ``R·n`` chains, flat and rung-major.
        n_rungs: R.
        round: number of rounds taken (its parity chooses the swap pairs).
        bad_base: on a GPU, the NaN / −∞ base draws since the host last looked, a count on the device (module doc).
        untracked: on a GPU, whether some chain's path parts went stale since the host last looked
            (:func:`~ebmlab.samplers.path.track_on_device`; never for MALA or HMC), a flag on the device.
        unread: on a GPU, the kernel's finiteness checks of the last rounds not read yet (Gibbs: its sweeps'), read
            together every ``finite_watch.READ_EVERY`` rounds and by :meth:`ReplicaExchange.settled`.
    """

    point: PathPoint
    n_rungs: int
    round: int = 0
    bad_base: Tensor | None = None
    untracked: Tensor | None = None
    unread: tuple[BlockCheck, ...] = ()

    @property
    def x(self) -> Tensor:
        """Positions ``(R, n, *event)``; ``x[-1]`` is the β = 1 rung (samples of exp(−E))."""
        return self.point.x.reshape(self.n_rungs, -1, *self.point.x.shape[1:])

    @property
    def log_ratio(self) -> Tensor:
        """D(x) = E(x) − E₀(x) = E(x) + log q(x) at every chain, ``(R, n)``."""
        return self.point.log_ratio.reshape(self.n_rungs, -1)


@dataclass(frozen=True)
class TemperingResult:
    """Output of :meth:`ReplicaExchange.sample`.

    Attributes:
        samples: the β = 1 rung every ``thin`` rounds after ``burn_in``, ``(n_kept, n, *event)``; the columns
            (second dimension) are independent chains.
        swap_accept: mean swap acceptance per neighbouring pair over the kept rounds, ``(R − 1,)``.
        accept: mean kernel acceptance per rung over the kept rounds, ``(R,)`` (NaN at the exact β = 0 rung).
        final_state: the state after the last round (to continue sampling).
        nonfinite: non-finite counts per rung over all rounds ``(R,)`` (:class:`ReplicaInfo`).
    """

    samples: Tensor
    swap_accept: Tensor
    accept: Tensor
    final_state: ReplicaState
    nonfinite: Tensor


@dataclass(frozen=True)
class ReplicaInfo:
    """One round: kernel acceptance per rung ``(R,)`` (NaN at rung 0, drawn exactly), swap acceptance per pair
    ``(R − 1,)`` (NaN if not proposed), non-finite counts per rung ``(R,)`` (module doc); on the chains' device."""

    accept: Tensor
    swap_accept: Tensor
    nonfinite: Tensor


class ReplicaExchange:
    """Parallel tempering between a base density q and exp(−E) (module doc).

    Args:
        kernel: the MCMC kernel run at every rung (MALA, HMC or Gibbs keep each rung exact; ULA is biased).
        n_rungs: R, number of rungs including the base (β = 0) and the target (β = 1); ignored if ``betas``.
        base: the base density q (any :class:`~ebmlab.densities.Density`); default N(0, s²I) with s = ``base_scale``
            over the event shape given to :meth:`init`.
        base_scale: s of the default base.
        beta_min: smallest positive β of the default geometric ladder (:func:`~ebmlab.samplers.geometric_betas`).
        betas: an explicit increasing ladder starting at 0 and ending at 1.
        steps_per_swap: kernel transitions between swap rounds.
        step_sizes: one kernel step size per rung β > 0 (R − 1 values, hot to cold), for kernels that take
            per-chain step sizes (MALA, ULA, HMC); default: the kernel's step size at every rung. Hot rungs
            are broad and want large steps, cold rungs narrow ones: :meth:`adapt` tunes them.
    """

    def __init__(
        self,
        kernel: Sampler,
        n_rungs: int = 8,
        base_scale: float = 1.0,
        beta_min: float = 0.01,
        betas: Sequence[float] | Tensor | None = None,
        steps_per_swap: int = 1,
        step_sizes: Sequence[float] | Tensor | None = None,
        base: Density | None = None,
    ) -> None:
        if not isinstance(kernel, Sampler):
            raise ConfigError(f"kernel must be an ebmlab.samplers kernel (MALA, HMC, ...), got {kernel!r}.")
        if kernel.carries_velocity:
            raise ConfigError(
                f"ReplicaExchange: the {kernel.name} kernel carries a velocity per chain, which rounds that keep and swap "
                "positions only would drop; use mala, hmc or ula for the rungs."
            )
        if base is not None and not isinstance(base, Density):
            raise ConfigError(f"base must be an ebmlab.densities.Density, got {type(base).__name__}.")
        self.kernel = kernel
        self.base = base
        if not 0 < float(base_scale) < math.inf:
            raise ConfigError(f"ReplicaExchange: base_scale must be a positive finite number, got {base_scale!r}.")
        self.base_scale = float(base_scale)
        if isinstance(n_rungs, bool) or not isinstance(n_rungs, int) or n_rungs < 2:
            raise ConfigError(f"n_rungs must be an int >= 2 (the base and the target), got {n_rungs!r}.")
        try:
            self.betas = geometric_betas(n_rungs, beta_min) if betas is None else make_betas(torch.as_tensor(betas))
        except ConfigError as err:
            raise ConfigError(f"ReplicaExchange: {err} (betas must run from 0, the base, to 1, the target)") from None
        if isinstance(steps_per_swap, bool) or not isinstance(steps_per_swap, int) or steps_per_swap < 1:
            raise ConfigError(f"steps_per_swap must be an int >= 1, got {steps_per_swap!r}.")
        self.steps_per_swap = steps_per_swap
        self.step_sizes: Tensor | None = None
        if step_sizes is not None:
            self.set_step_sizes(step_sizes)

    def path(
        self,
        energy: EnergyFn,
        event: Sequence[int],
        dtype: torch.dtype | None = None,
        device: torch.device | None = None,
    ) -> GeometricPath:
        """The geometric path from the base (default N(0, s²I) over ``event``, built on the chains' ``device`` at the
        first call: a base elsewhere would be copied to them at every round) to exp(−E)."""
        base = self.base
        if base is None:
            zeros = torch.zeros(tuple(event), dtype=dtype or torch.get_default_dtype(), device=device)
            base = DiagonalNormal(zeros, self.base_scale)
            self.base = base
        elif tuple(base.event_shape) != tuple(event):
            raise ShapeError(
                f"ReplicaExchange: the base has event shape {tuple(base.event_shape)}, chains {tuple(event)}."
            )
        return GeometricPath(base, energy)

    def set_step_sizes(self, step_sizes: Sequence[float] | Tensor) -> None:
        """One step size per rung β > 0 (R − 1 values, positive and finite)."""
        if not self.kernel.per_chain_step_size:
            raise ConfigError(
                f"ReplicaExchange: the {self.kernel.name} kernel takes one step size for all chains; per-rung "
                "step sizes need mala, ula or hmc."
            )
        steps = torch.as_tensor(step_sizes, dtype=torch.float64).flatten()
        if steps.numel() != self.n_rungs - 1 or not bool(torch.isfinite(steps).all() and (steps > 0).all()):
            raise ConfigError(
                f"step_sizes must be {self.n_rungs - 1} positive finite numbers (one per rung β > 0), got "
                f"{steps.tolist()}."
            )
        self.step_sizes = steps

    @property
    def n_rungs(self) -> int:
        return int(self.betas.numel())

    def __repr__(self) -> str:
        return f"ReplicaExchange(kernel={self.kernel!r}, n_rungs={self.n_rungs}, base={self.base!r})"

    # ------------------------------------------------------------------ pieces

    def _base_draw(
        self, path: GeometricPath, n: int, dtype: torch.dtype, generator: torch.Generator, bad_before: Tensor | None
    ) -> tuple[PathPoint, Tensor | None]:
        """n exact draws of rung 0 with their path parts. NaN or −∞ energies there raise at once; on a GPU they are
        added to ``bad_before`` instead, the count returned (module doc)."""
        x = path.base.sample(n, generator).to(dtype)
        point = path.point(x, grad=self.kernel.uses_gradient)
        bad = (torch.isnan(point.target) | torch.isneginf(point.target) | ~torch.isfinite(point.base)).sum()
        if deferred(x.device):
            return point, bad if bad_before is None else bad_before + bad
        _raise_bad_base(int(bad), f"{n} draws")
        return point, None

    def settled(self, state: ReplicaState) -> ReplicaState:
        """``state`` after the host has read its count of NaN / −∞ base draws and its untracked flag (raising if
        either is set); call it after the last :meth:`step` of a loop of your own on a GPU (:meth:`sample` and
        :meth:`adapt` do)."""
        if state.bad_base is None and state.untracked is None and not state.unread:
            return state
        if state.bad_base is not None:
            _raise_bad_base(int(state.bad_base), "the draws of the last rounds")
        read_checks(state.unread)
        raise_untracked(state.untracked, self.kernel.name)
        return ReplicaState(state.point, state.n_rungs, state.round)

    def init(
        self,
        energy: EnergyFn,
        n: int,
        event_shape: int | Sequence[int],
        generator: torch.Generator,
        x0: Tensor | None = None,
    ) -> ReplicaState:
        """``n`` chains per rung, drawn from the base, or the given ``x0`` of shape ``(R, n, *event)``."""
        event = (event_shape,) if isinstance(event_shape, int) else tuple(int(s) for s in event_shape)
        dtype = torch.get_default_dtype() if x0 is None else x0.dtype
        path = self.path(energy, event, dtype, generator.device if x0 is None else x0.device)
        if x0 is None:
            x0 = path.base.sample(self.n_rungs * n, generator)
        elif x0.shape[:2] != (self.n_rungs, n) or tuple(x0.shape[2:]) != event:
            raise ShapeError(
                f"ReplicaExchange.init: x0 must have shape ({self.n_rungs}, {n}, *{event}), got {tuple(x0.shape)}."
            )
        point = path.point(x0.detach().reshape(self.n_rungs * n, *event), grad=self.kernel.uses_gradient)
        grad = None if point.target_grad is None else point.target_grad + point.base_grad  # type: ignore[operator]
        bad = ~finite_rows(point.target + point.base, grad).reshape(self.n_rungs, n)[1:]  # rung 0 is redrawn
        if bool(bad.any()):
            raise NonFiniteError(
                f"ReplicaExchange.init: {int(bad.sum())} of {bad.numel()} starting points of the rungs β > 0 have a "
                "non-finite energy or gradient (an energy that is infinite outside its support, or overflows far "
                "from the origin). Pass x0 inside the support, or a narrower base."
            )
        return ReplicaState(point, self.n_rungs)

    def target_samples(self, state: ReplicaState) -> Tensor:
        """The β = 1 rung, ``(n, *event)``: samples of exp(−E)."""
        return state.x[-1]

    def sample(
        self,
        energy: EnergyFn,
        n: int,
        event_shape: int | Sequence[int],
        n_rounds: int,
        generator: torch.Generator,
        burn_in: int = 0,
        thin: int = 1,
        state: ReplicaState | None = None,
        progress: bool = False,
    ) -> TemperingResult:
        """``burn_in + n_rounds`` rounds from ``state`` (default: fresh chains from the base); keeps the β = 1 rung
        every ``thin`` rounds after the burn-in, with the mean acceptance and swap rates of those rounds; warns
        with the per-rung counts when proposals were non-finite."""
        for name, value, low in (("n_rounds", n_rounds, 1), ("burn_in", burn_in, 0), ("thin", thin, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"ReplicaExchange.sample: {name} must be an int >= {low}, got {value!r}.")
        if state is None:
            state = self.init(energy, n, event_shape, generator)
        rounds = range(burn_in + n_rounds)
        if progress:
            from tqdm.auto import tqdm

            rounds = tqdm(rounds, desc=f"replica exchange ({self.kernel.name})", unit="round")
        kept, swaps, accepts = [], [], []
        nonfinite = torch.zeros(self.n_rungs, dtype=torch.long, device=state.point.x.device)
        for t in rounds:
            state, info = self.step(energy, state, generator)
            nonfinite += info.nonfinite
            if t >= burn_in:
                swaps.append(info.swap_accept)
                accepts.append(info.accept)
                if (t - burn_in + 1) % thin == 0:
                    kept.append(self.target_samples(state))
        state = self.settled(state)
        nonfinite = nonfinite.cpu()  # the statistics of the call come back once, on the CPU as before
        if bool(nonfinite[1:].any()):
            msg = f"ReplicaExchange: non-finite kernel proposals per rung β > 0 {nonfinite[1:].tolist()} were rejected"
            warnings.warn(f"{msg}; lower those rungs' step sizes or check the energy for overflow.", stacklevel=2)
        return TemperingResult(
            torch.stack(kept) if kept else state.x[:0],
            torch.stack(swaps).nanmean(0).cpu(),
            torch.stack(accepts).nanmean(0).cpu(),
            state,
            nonfinite,
        )

    def adapt(
        self,
        energy: EnergyFn,
        state: ReplicaState,
        n_rounds: int,
        generator: torch.Generator,
        target_accept: float | None = None,
    ) -> ReplicaState:
        """Warm-up that tunes one step size per rung to the kernel's target acceptance (MALA 0.574, HMC 0.65).

        Stochastic approximation on log λ_r: after each round, log λ_r += (a_r − a*)/√(t + 1) with a_r the
        rung's mean acceptance. Starts from :attr:`step_sizes` (default: the kernel's). The rounds are warm-up,
        not samples (the kernel changes while they run); the tuned sizes stay fixed afterwards.
        """
        if isinstance(n_rounds, bool) or not isinstance(n_rounds, int) or n_rounds < 1:
            raise ConfigError(f"ReplicaExchange.adapt: n_rounds must be an int >= 1, got {n_rounds!r}.")
        target = self.kernel.default_target_accept if target_accept is None else float(target_accept)
        if not 0 < target < 1:
            raise ConfigError(f"target_accept must lie in (0, 1), got {target_accept!r}.")
        if self.step_sizes is None:
            self.set_step_sizes(
                torch.full((self.n_rungs - 1,), self.kernel.step_size, dtype=torch.float64, device="cpu")
            )
        assert self.step_sizes is not None
        home = self.step_sizes.device
        log_steps = self.step_sizes.log().to(state.point.x.device)  # updated on the chains' device: no host read
        for t in range(n_rounds):
            state, info = self.step(energy, state, generator)
            log_steps = log_steps + (info.accept[1:].to(torch.float64) - target) / math.sqrt(t + 1)
            self.step_sizes = log_steps.exp()
        self.step_sizes = self.step_sizes.to(home)
        return self.settled(state)

    # ------------------------------------------------------------------ one round

    def step(
        self, energy: EnergyFn, state: ReplicaState, generator: torch.Generator
    ) -> tuple[ReplicaState, ReplicaInfo]:
        """Kernel moves at rungs ≥ 1, an exact draw at rung 0, then one even or odd round of swaps."""
        n_rungs = state.n_rungs
        x = state.point.x
        n = x.shape[0] // n_rungs
        path = self.path(energy, tuple(x.shape[1:]), x.dtype, x.device)
        (betas,) = copies_on(self, ("betas",), x.device, x.dtype)
        hot_rungs = state.point.take(slice(n, None))
        hot, accept, nonfinite, untracked, check = self._move_hot_rungs(path, hot_rungs, betas, n, generator,
                                                                        state.untracked)  # fmt: skip
        unread = queued(state.unread, check)
        cold, bad_base = self._base_draw(path, n, x.dtype, generator, state.bad_base)
        stuck = ~finite_rows(cold.target, cold.target_grad)  # E or ∇E not finite: never swapped up
        point = _cat(cold, hot)
        point, swap = self._swap(point, betas, n, state.round % 2, stuck, generator)
        rung_accept = torch.cat([torch.full((1,), float("nan"), dtype=torch.float64, device=x.device), accept])
        counts = torch.cat([stuck.sum().reshape(1), nonfinite])
        new = ReplicaState(point, n_rungs, state.round + 1, bad_base, untracked, unread)
        return new, ReplicaInfo(rung_accept, swap, counts)

    def _move_hot_rungs(
        self,
        path: GeometricPath,
        point: PathPoint,
        betas: Tensor,
        n: int,
        generator: torch.Generator,
        untracked: Tensor | None,
    ) -> tuple[PathPoint, Tensor, Tensor, Tensor | None, BlockCheck | None]:
        """``steps_per_swap`` kernel transitions of rungs 1..R−1 in one batch: the new parts, the mean acceptance
        per rung ``(R − 1,)``, the non-finite proposals per rung ``(R − 1,)``, ``untracked`` (on the GPU path
        after one transition of MALA or HMC, or'ed with track_on_device's flag instead of reading the host) and, on
        the GPU path, the kernel's finiteness check left unread (Gibbs)."""
        rungs = self.n_rungs - 1
        beta = betas[1:].repeat_interleave(n)
        if self.step_sizes is None:
            steps = None
        else:  # on the chains' device (adapt leaves them on the CPU), copied once per device
            (per_rung,) = copies_on(self, ("step_sizes",), point.x.device, point.x.dtype)
            steps = per_rung.repeat_interleave(n)
        grad = self.kernel.uses_gradient
        energy = path.at(beta)
        start = SamplerState(point.x, point.energy(beta), point.grad(beta) if grad else None, self.kernel.step_size)
        run = run_chains(self.kernel, energy, start, self.steps_per_swap, generator, step_size=steps, frozen_after=None,
                         read_last_check=not deferred(point.x.device))  # fmt: skip
        if tracks_on_device(self.kernel, self.steps_per_swap, point.x.device):
            new, missed = track_on_device(energy, run.state.x, point, grad)
            untracked = missed if untracked is None else untracked | missed
        else:
            new, _ = track(energy, run.state.x, point, grad)
        accept = (run.accept_sum / self.steps_per_swap).reshape(rungs, n).mean(1)
        return new, accept, run.nonfinite.reshape(rungs, n).sum(1), untracked, run.unread

    @staticmethod
    def _swap(
        point: PathPoint, betas: Tensor, n: int, parity: int, stuck: Tensor, generator: torch.Generator
    ) -> tuple[PathPoint, Tensor]:
        """Propose x_r ↔ x_{r+1} for r = parity, parity + 2, …; accept per chain (module doc). Rung-0 chains in
        ``stuck`` are never swapped up."""
        d = point.log_ratio.reshape(-1, n)
        n_rungs = d.shape[0]
        lower = torch.arange(parity, n_rungs - 1, 2, device=d.device)
        swap_accept = torch.full((n_rungs - 1,), float("nan"), dtype=torch.float64, device=d.device)
        if lower.numel() == 0:
            return point, swap_accept
        upper = lower + 1
        dbeta = (betas[upper] - betas[lower]).unsqueeze(1)
        log_alpha = dbeta * (d[upper] - d[lower])
        if parity == 0:
            log_alpha[0] = log_alpha[0].masked_fill(stuck, -float("inf"))
        # mh_accept maps NaN and −inf to −inf (never accepted, even at u = 0 exactly) and clamps at 0
        accept_prob, accepted, _ = mh_accept(log_alpha, torch.ones_like(log_alpha, dtype=torch.bool), generator)
        perm = torch.arange(n_rungs, device=d.device).reshape(n_rungs, 1).repeat(1, n)
        perm[lower] = torch.where(accepted, upper.unsqueeze(1), lower.unsqueeze(1))
        perm[upper] = torch.where(accepted, lower.unsqueeze(1), upper.unsqueeze(1))
        cols = torch.arange(n, device=d.device)
        swap_accept[lower] = accept_prob.mean(1).to(torch.float64)
        return point.take((perm * n + cols).reshape(-1)), swap_accept


def _raise_bad_base(found: int, of: str) -> None:
    if found:
        raise NonFiniteError(
            f"ReplicaExchange: the energy is NaN or −inf (or log q not finite) at {found} of {of} from the base q "
            "(rung 0): the energy overflows or is unbounded below where q puts mass. Fix the energy there, or use a "
            "base that stays inside its domain."
        )


def _cat(a: PathPoint, b: PathPoint) -> PathPoint:
    def cat(u: Tensor | None, v: Tensor | None) -> Tensor | None:
        return None if u is None or v is None else torch.cat([u, v])

    x, base, target = cat(a.x, b.x), cat(a.base, b.base), cat(a.target, b.target)
    assert x is not None and base is not None and target is not None
    return PathPoint(x, base, target, cat(a.base_grad, b.base_grad), cat(a.target_grad, b.target_grad))
