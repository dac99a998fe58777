"""Replica exchange (parallel tempering) along the geometric path from a Gaussian base to exp(−E).

Rungs r = 0..R−1 target π_r(x) ∝ q(x)^{1−β_r} exp(−β_r E(x)), 0 = β_0 < β_1 < … < β_{R−1} = 1, with the base
q = N(0, s²I). Writing Q(x) = ½‖x‖²/s² and D(x) = E(x) − Q(x), the rung energy is Q + β_r D. One round:

1. ``steps_per_swap`` transitions of any :mod:`ebmlab.samplers` kernel at every rung r ≥ 1, all rungs in one
   batch (the kernel sees the per-chain energy Q + β D);
2. rung 0 is redrawn exactly from q (an independence Gibbs move: the hot end of the ladder mixes perfectly);
3. a swap between neighbouring rungs r, r+1 is proposed for every chain and accepted with probability
   min(1, exp((β_{r+1} − β_r)(D(x_{r+1}) − D(x_r)))) (Q cancels); pairs alternate between even and odd r from
   round to round (the deterministic even–odd scheme of Okabe et al. 2001; Syed et al. 2019 show that it
   makes the replicas travel the ladder non-reversibly).

Every move leaves the product ∏_r π_r invariant, so the β = 1 rung samples exp(−E) exactly in the limit,
and chains can jump between modes that a local kernel alone never leaves. The cached E and ∇E of the
kernel state are reused: D and ∇D at rung r ≥ 1 are recovered as (E_β − Q)/β and (∇E_β − ∇Q)/β, so a
round costs ``steps_per_swap`` gradient evaluations of all rungs plus one of rung 0.

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
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, energy_and_grad
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.samplers.base import Sampler, SamplerState, finite_rows, positive_finite
from ebmlab.samplers.langevin import sq_norm

__all__ = [
    "GeometricPathEnergy",
    "ReplicaExchange",
    "ReplicaInfo",
    "ReplicaState",
    "TemperingResult",
    "default_base_scale",
    "geometric_ladder",
    "log_ratio_and_grad",
    "path_moves",
]


def geometric_ladder(n_rungs: int, beta_min: float = 0.01) -> Tensor:
    """Inverse temperatures ``[0, β_min, …, 1]``: 0, then n_rungs − 1 values geometrically spaced from β_min to 1."""
    if isinstance(n_rungs, bool) or not isinstance(n_rungs, int) or n_rungs < 2:
        raise ConfigError(f"n_rungs must be an int >= 2 (the base and the target), got {n_rungs!r}.")
    if not 0.0 < float(beta_min) < 1.0:
        raise ConfigError(f"beta_min must lie in (0, 1), got {beta_min!r}.")
    if n_rungs == 2:
        return torch.tensor([0.0, 1.0], dtype=torch.float64)
    hot = torch.logspace(math.log10(beta_min), 0.0, n_rungs - 1, dtype=torch.float64)
    return torch.cat([torch.zeros(1, dtype=torch.float64), hot])


def default_base_scale(target: object, fallback: float = 1.0) -> float:
    """Half the largest |coordinate bound| of a target with ``bounds`` (its box), else ``fallback``: a base
    N(0, s²I) wide enough that the hot end of the ladder covers the target's support."""
    bounds = getattr(target, "bounds", None)
    if not bounds:
        return float(fallback)
    return 0.5 * max(max(abs(float(lo)), abs(float(hi))) for lo, hi in bounds)


class GeometricPathEnergy:
    """E_β(x) = Q(x) + β (E(x) − Q(x)) with Q(x) = ½‖x‖²/s², one β per chain (``betas`` of shape (n,))."""

    def __init__(self, energy: EnergyFn, base_scale: float, betas: Tensor) -> None:
        self.energy = energy
        self.inv_var = 1.0 / float(base_scale) ** 2
        self.betas = betas

    def _beta(self, x: Tensor) -> Tensor:
        if self.betas.shape != (x.shape[0],):
            raise ShapeError(f"GeometricPathEnergy: {self.betas.shape[0]} betas for {x.shape[0]} chains.")
        return self.betas.to(x.dtype)

    def __call__(self, x: Tensor) -> Tensor:
        q = 0.5 * self.inv_var * sq_norm(x)
        return q + self._beta(x) * (self.energy(x) - q)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        e, g = energy_and_grad(self.energy, x)
        q, gq = 0.5 * self.inv_var * sq_norm(x), self.inv_var * x
        b = self._beta(x)
        return q + b * (e - q), gq + b.reshape(-1, *([1] * (x.dim() - 1))) * (g - gq)


def log_ratio_and_grad(energy: EnergyFn, x: Tensor, base_scale: float) -> tuple[Tensor, Tensor]:
    """D(x) = E(x) − ½‖x‖²/s² and ∇D(x) for a flat batch ``(m, *event)`` (one energy-and-gradient call)."""
    e, g = energy_and_grad(energy, x)
    inv_var = 1.0 / float(base_scale) ** 2
    return e - 0.5 * inv_var * sq_norm(x), g - inv_var * x


def path_moves(
    kernel: Sampler,
    energy: EnergyFn,
    base_scale: float,
    x: Tensor,
    log_ratio: Tensor,
    log_ratio_grad: Tensor,
    betas: Tensor,
    generator: torch.Generator | None,
    n_steps: int = 1,
    step_size: float | Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``n_steps`` kernel transitions of each chain targeting π_β ∝ q^{1−β} exp(−βE), one β > 0 per chain.

    Starts from the cached D = E − Q and ∇D at ``x`` (no energy evaluation to start: E_β = Q + βD), and returns
    the new positions, their D and ∇D recovered from the kernel's cached E_β and ∇E_β as (E_β − Q)/β, and the
    summed acceptance probability per chain. Shared by replica exchange and annealed importance sampling.
    ``step_size``: the kernel's own (None), or one per chain for kernels with ``per_chain_step_size``.
    """
    inv_var = 1.0 / float(base_scale) ** 2
    bx = betas.reshape(-1, *([1] * (x.dim() - 1)))
    state: SamplerState = kernel._start(
        x, 0.5 * inv_var * sq_norm(x) + betas * log_ratio, inv_var * x + bx * log_ratio_grad, step_size
    )
    path = GeometricPathEnergy(energy, base_scale, betas)
    accept = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    for _ in range(n_steps):
        state, info = kernel.step(path, state, generator)
        accept += info.accept_prob.to(torch.float64)
    assert state.grad is not None
    q, gq = 0.5 * inv_var * sq_norm(state.x), inv_var * state.x
    return state.x, (state.energy - q) / betas, (state.grad - gq) / bx, accept


@dataclass(frozen=True)
class ReplicaState:
    """Chains of every rung, rung-major.

    Attributes:
        x: positions ``(R, n, *event)``; ``x[-1]`` is the β = 1 rung (samples of exp(−E)).
        log_ratio: D(x) = E(x) − Q(x) at every chain, ``(R, n)``.
        log_ratio_grad: ∇D(x), ``(R, n, *event)``.
        round: number of rounds taken (its parity chooses the swap pairs).
    """

    x: Tensor
    log_ratio: Tensor
    log_ratio_grad: Tensor
    round: int = 0


@dataclass(frozen=True)
class TemperingResult:
    """Output of :meth:`ReplicaExchange.sample`.

    Attributes:
        samples: the β = 1 rung every ``thin`` rounds after ``burn_in``, ``(n_kept, n, *event)``; the columns
            (second dimension) are independent chains.
        swap_accept: mean swap acceptance per neighbouring pair over the kept rounds, ``(R − 1,)``.
        accept: mean kernel acceptance per rung over the kept rounds, ``(R,)`` (NaN at the exact β = 0 rung).
        final_state: the state after the last round (to continue sampling).
    """

    samples: Tensor
    swap_accept: Tensor
    accept: Tensor
    final_state: ReplicaState


@dataclass(frozen=True)
class ReplicaInfo:
    """One round: the kernel's mean acceptance per rung ``(R,)`` (NaN at rung 0, which is drawn exactly) and
    the swap acceptance probability per neighbouring pair ``(R − 1,)`` (NaN for pairs not proposed this round)."""

    accept: Tensor
    swap_accept: Tensor


class ReplicaExchange:
    """Parallel tempering between N(0, s²I) and exp(−E) (module doc).

    Args:
        kernel: the MCMC kernel run at every rung (MALA or HMC keep each rung exact; ULA is biased).
        n_rungs: R, number of rungs including the base (β = 0) and the target (β = 1); ignored if ``betas``.
        base_scale: s, standard deviation of the Gaussian base.
        beta_min: smallest positive β of the default geometric ladder.
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
    ) -> None:
        if not isinstance(kernel, Sampler):
            raise ConfigError(f"kernel must be an ebmlab.samplers kernel (MALA, HMC, ...), got {kernel!r}.")
        self.kernel = kernel
        self.base_scale = positive_finite("base_scale", base_scale, "ReplicaExchange")
        ladder = geometric_ladder(n_rungs, beta_min) if betas is None else torch.as_tensor(betas, dtype=torch.float64)
        if ladder.dim() != 1 or ladder.numel() < 2 or ladder[0] != 0 or ladder[-1] != 1 or (ladder.diff() <= 0).any():
            raise ConfigError(
                f"betas must increase strictly from 0 (the base) to 1 (the target), got {ladder.tolist()}."
            )
        self.betas = ladder
        if isinstance(steps_per_swap, bool) or not isinstance(steps_per_swap, int) or steps_per_swap < 1:
            raise ConfigError(f"steps_per_swap must be an int >= 1, got {steps_per_swap!r}.")
        self.steps_per_swap = steps_per_swap
        self.step_sizes: Tensor | None = None
        if step_sizes is not None:
            self.set_step_sizes(step_sizes)

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
        return (
            f"ReplicaExchange(kernel={self.kernel!r}, n_rungs={self.n_rungs}, base_scale={self.base_scale}, "
            f"steps_per_swap={self.steps_per_swap})"
        )

    # ------------------------------------------------------------------ pieces

    def _base_draw(self, n: int, event: Sequence[int], generator: torch.Generator, dtype: torch.dtype) -> Tensor:
        x = torch.randn((n, *event), generator=generator, dtype=dtype, device=generator.device)
        return x.mul_(self.base_scale)

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
        if x0 is None:
            x0 = self._base_draw(self.n_rungs * n, event, generator, torch.get_default_dtype())
        elif x0.shape[:2] != (self.n_rungs, n) or tuple(x0.shape[2:]) != event:
            raise ShapeError(
                f"ReplicaExchange.init: x0 must have shape ({self.n_rungs}, {n}, *{event}), got {tuple(x0.shape)}."
            )
        x0 = x0.detach().reshape(self.n_rungs * n, *event)
        d, gd = log_ratio_and_grad(energy, x0, self.base_scale)
        shape = (self.n_rungs, n)
        bad = ~finite_rows(d, gd).reshape(shape)[1:]  # rung 0 is redrawn every round and never moved
        if bool(bad.any()):
            raise NonFiniteError(
                f"ReplicaExchange.init: {int(bad.sum())} of {bad.numel()} starting points of the rungs β > 0 have a "
                "non-finite energy or gradient (an energy that is infinite outside its support, or overflows far "
                "from the origin). Pass x0 inside the support, or a smaller base_scale."
            )
        return ReplicaState(x0.reshape(*shape, *event), d.reshape(shape), gd.reshape(*shape, *event))

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
        every ``thin`` rounds after the burn-in, with the mean acceptance and swap rates of those rounds."""
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
        for t in rounds:
            state, info = self.step(energy, state, generator)
            if t >= burn_in:
                swaps.append(info.swap_accept)
                accepts.append(info.accept)
                if (t - burn_in + 1) % thin == 0:
                    kept.append(self.target_samples(state))
        return TemperingResult(
            torch.stack(kept) if kept else state.x[:0],
            torch.stack(swaps).nanmean(0),
            torch.stack(accepts).nanmean(0),
            state,
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
            self.set_step_sizes(torch.full((self.n_rungs - 1,), self.kernel.step_size, dtype=torch.float64))
        assert self.step_sizes is not None
        log_steps = self.step_sizes.log()
        for t in range(n_rounds):
            state, info = self.step(energy, state, generator)
            log_steps = log_steps + (info.accept[1:].to(torch.float64) - target) / math.sqrt(t + 1)
            self.step_sizes = log_steps.exp()
        return state

    # ------------------------------------------------------------------ one round

    def step(
        self, energy: EnergyFn, state: ReplicaState, generator: torch.Generator
    ) -> tuple[ReplicaState, ReplicaInfo]:
        """Kernel moves at rungs ≥ 1, an exact draw at rung 0, then one even or odd round of swaps."""
        n_rungs, n = state.log_ratio.shape
        event = tuple(state.x.shape[2:])
        betas = self.betas.to(dtype=state.x.dtype, device=state.x.device)
        x, d, gd, accept = self._move_hot_rungs(energy, state, betas, generator)
        x0 = self._base_draw(n, event, generator, state.x.dtype)
        d0, gd0 = log_ratio_and_grad(energy, x0, self.base_scale)
        xs = torch.cat([x0, x]).reshape(n_rungs, n, *event)
        ds = torch.cat([d0, d]).reshape(n_rungs, n)
        gds = torch.cat([gd0, gd]).reshape(n_rungs, n, *event)
        xs, ds, gds, swap = self._swap(xs, ds, gds, betas, state.round % 2, generator)
        rung_accept = torch.cat([torch.full((1,), float("nan"), dtype=torch.float64), accept])
        return ReplicaState(xs, ds, gds, state.round + 1), ReplicaInfo(rung_accept, swap)

    def _move_hot_rungs(
        self, energy: EnergyFn, state: ReplicaState, betas: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``steps_per_swap`` kernel transitions of rungs 1..R−1 in one batch (:func:`path_moves`): flat positions
        ``((R−1)·n, *event)``, their D and ∇D, and the mean acceptance per rung ``(R − 1,)``."""
        n_rungs, n = state.log_ratio.shape
        event = tuple(state.x.shape[2:])
        hot = (n_rungs - 1) * n
        x, d, gd, accept = path_moves(
            self.kernel,
            energy,
            self.base_scale,
            state.x[1:].reshape(hot, *event),
            state.log_ratio[1:].reshape(hot),
            state.log_ratio_grad[1:].reshape(hot, *event),
            betas[1:].repeat_interleave(n),
            generator,
            self.steps_per_swap,
            None if self.step_sizes is None else self.step_sizes.to(state.x.dtype).repeat_interleave(n),
        )
        rung_accept = (accept / self.steps_per_swap).reshape(n_rungs - 1, n).mean(1).cpu()
        return x, d, gd, rung_accept

    @staticmethod
    def _swap(
        x: Tensor, d: Tensor, gd: Tensor, betas: Tensor, parity: int, generator: torch.Generator
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Propose x_r ↔ x_{r+1} for r = parity, parity + 2, …; accept per chain (module doc)."""
        n_rungs = d.shape[0]
        lower = torch.arange(parity, n_rungs - 1, 2, device=d.device)
        swap_accept = torch.full((n_rungs - 1,), float("nan"), dtype=torch.float64)
        if lower.numel() == 0:
            return x, d, gd, swap_accept
        upper = lower + 1
        dbeta = (betas[upper] - betas[lower]).unsqueeze(1)
        log_alpha = (dbeta * (d[upper] - d[lower])).clamp(max=0.0)
        log_alpha = torch.nan_to_num(log_alpha, nan=-float("inf"))
        u = torch.rand(log_alpha.shape, generator=generator, dtype=log_alpha.dtype, device=log_alpha.device)
        accepted = torch.log(u) < log_alpha  # (pairs, n)
        perm = torch.arange(n_rungs, device=d.device).reshape(n_rungs, 1).repeat(1, d.shape[1])
        perm[lower] = torch.where(accepted, upper.unsqueeze(1), lower.unsqueeze(1))
        perm[upper] = torch.where(accepted, lower.unsqueeze(1), upper.unsqueeze(1))
        cols = torch.arange(d.shape[1], device=d.device)
        swap_accept[lower.cpu()] = log_alpha.exp().mean(1).to(torch.float64).cpu()
        return x[perm, cols], d[perm, cols], gd[perm, cols], swap_accept
