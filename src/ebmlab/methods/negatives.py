"""Negatives as objects: where the model samples x̃ of a maximum-likelihood gradient come from.

``neg = negatives.draw(energy, n, ctx, data=None)`` returns a :class:`NegativeBatch` (positions ``x``, starting
points ``x0``, optional ``log_weights`` and logged ``stats``). Every kind runs its chains with
:func:`~ebmlab.samplers.run_chains` (or the AIS / replica-exchange loops built on it), so any method — CD, a
cooperative VAE (``ShortRun(kernel, K, init=vae)``), EBA on a tilted energy, an RBM (``ShortRun(BlockGibbs(),
K, init=Bernoulli(...))``) — reuses them:

* :class:`ShortRun`: K kernel steps from fresh draws of any start density (seed 001);
* :class:`Persistent`: K steps from a :class:`~ebmlab.samplers.buffer.ReplayBuffer` of past negatives, a fraction
  ``reinit_prob`` restarted from the start density (PCD, Tieleman 2008; Du & Mordatch 2019);
* :class:`FromData`: K steps from the data batch (CD-k, Hinton 2002);
* :class:`Annealed`: AIS (:func:`~ebmlab.estimators.ais`) from a base density along the geometric path, β_t = t/K,
  with log-weights (the relative weights of separated modes are learned; logs the relative ESS ``ess``);
* :class:`Tempered`: persistent replica exchange (:class:`~ebmlab.samplers.ReplicaExchange`) from a base density;
  the β = 1 rung, unweighted (logs ``swap_accept`` and the worst pair ``swap_accept_min``).

Persistent kinds keep their chains in ``extra_state()`` / ``load_extra_state()`` (exact resume).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from ebmlab.densities import Density
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError
from ebmlab.estimators.ais import ais
from ebmlab.samplers import GeometricPath, ReplicaExchange, ReplicaState, Sampler, linear_betas, run_chains
from ebmlab.samplers.buffer import ReplayBuffer
from ebmlab.samplers.path import PathPoint

__all__ = ["Annealed", "FromData", "NegativeBatch", "Negatives", "Persistent", "ShortRun", "Tempered"]

_BUFFER = "replay_buffer."
_REPLICAS = "replicas."


@dataclass
class NegativeBatch:
    """Negatives ``x`` (detached), their starting points ``x0``, self-normalisable ``log_weights`` (None: equal
    weights), logged ``stats`` (scalars) and ``origin``, how they were drawn (named by errors, e.g. "after 20 ula
    steps")."""

    x: Tensor
    x0: Tensor
    log_weights: Tensor | None = None
    stats: dict[str, Tensor] = field(default_factory=dict)
    origin: str = ""

    def weights(self) -> Tensor:
        """w̃ (n,), summing to 1: softmax of the log-weights, or 1/n."""
        if self.log_weights is None:
            return torch.full((self.x.shape[0],), 1.0 / self.x.shape[0], dtype=self.x.dtype, device=self.x.device)
        return torch.softmax(self.log_weights, 0).to(self.x.dtype)


@runtime_checkable
class Negatives(Protocol):
    def draw(self, energy: EnergyFn, n: int, ctx: object, data: Tensor | None = None) -> NegativeBatch: ...


def generator_of(ctx: object) -> torch.Generator:
    """The generator of a StepContext (or the generator itself)."""
    gen = ctx if isinstance(ctx, torch.Generator) else getattr(ctx, "generator", None)
    if not isinstance(gen, torch.Generator):
        raise ConfigError(
            f"losses needs a StepContext with a torch.Generator (or a Generator), got {type(ctx).__name__}."
        )
    return gen


def mean_accept(accept: Tensor) -> Tensor:
    """The run's mean acceptance, on the chains' device with no host sync (the training loop's monitor stacks
    logged values on one device); NaN after zero steps."""
    return accept.mean() if accept.numel() else torch.tensor(float("nan"), device=accept.device)


class ChainNegatives:
    """Common part: a kernel, K steps, an optional clip of the result to ``clamp = (low, high)``."""

    persistent = False

    def __init__(self, kernel: Sampler, n_steps: int, clamp: tuple[float, float] | None = None) -> None:
        if not isinstance(kernel, Sampler):
            raise ConfigError(f"sampler must be an ebmlab.samplers kernel (ULA, MALA, ...), got {kernel!r}.")
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ConfigError(f"n_steps must be an int >= 1, got {n_steps!r}.")
        if clamp is not None and not (len(clamp) == 2 and float(clamp[0]) < float(clamp[1])):
            raise ConfigError(f"clamp must be a pair (low, high) with low < high, got {clamp!r}.")
        self.kernel, self.n_steps = kernel, n_steps
        self.clamp = None if clamp is None else (float(clamp[0]), float(clamp[1]))

    def finish(self, x: Tensor) -> Tensor:
        return (x if self.clamp is None else x.clamp(*self.clamp)).detach()

    def chains(self, energy: EnergyFn, x0: Tensor, gen: torch.Generator, n_steps: int | None = None) -> NegativeBatch:
        """``n_steps`` (default K) kernel steps from ``x0``; ``accept`` logged for Metropolis kernels. Only the final
        positions are used (the loss evaluates E there itself): ``final_energy=False``, so ULA and kinetic Langevin do
        not evaluate E and ∇E after the last step (x_K is tested for finiteness; E(x_K) is tested by the loss)."""
        k = self.n_steps if n_steps is None else n_steps
        run = run_chains(self.kernel, energy, x0.detach(), k, gen, final_energy=False)
        stats = {"accept": mean_accept(run.accept)} if self.kernel.metropolis_adjusted else {}
        return NegativeBatch(self.finish(run.x), x0, None, stats, f"after {k} {self.kernel.name} steps")

    def extra_state(self) -> dict[str, Tensor]:
        return {}

    def load_extra_state(self, state: Mapping[str, Tensor]) -> None:
        if any(k.startswith((_BUFFER, _REPLICAS)) for k in state):
            raise ConfigError(f"checkpoint holds persistent chains, but the negatives are {type(self).__name__}.")


class ShortRun(ChainNegatives):
    """K kernel steps from n fresh draws of ``init``: any Density, or anything with ``event_shape`` and
    ``sample(n, generator)`` (a VAE or generator whose log-density is intractable), e.g. a Bernoulli for an RBM."""

    def __init__(self, kernel: Sampler, n_steps: int, init: Density, clamp: tuple[float, float] | None = None) -> None:
        super().__init__(kernel, n_steps, clamp)
        if not callable(getattr(init, "sample", None)) or getattr(init, "event_shape", None) is None:
            raise ConfigError(f"init must have event_shape and sample(n, generator), got {type(init).__name__}.")
        self.init = init

    def draw(self, energy: EnergyFn, n: int, ctx: object, data: Tensor | None = None) -> NegativeBatch:
        gen = generator_of(ctx)
        dtype = data.dtype if data is not None else None
        x0 = self.init.sample(n, gen)
        return self.chains(energy, x0 if dtype is None else x0.to(dtype), gen)


class FromData(ChainNegatives):
    """CD-k: K kernel steps started at the first n points of the data batch."""

    def draw(self, energy: EnergyFn, n: int, ctx: object, data: Tensor | None = None) -> NegativeBatch:
        if data is None or n > data.shape[0]:
            got = "no data" if data is None else f"batch size {data.shape[0]}"
            raise ConfigError(f"cd_k starts one chain per data point: n_negatives={n} > {got}.")
        return self.chains(energy, data[:n], generator_of(ctx))


class Persistent(ShortRun):
    """PCD: K steps from a replay buffer of ``buffer_size`` past negatives, each restarted from ``init`` with
    probability ``reinit_prob``; the final points are written back."""

    persistent = True

    def __init__(
        self,
        kernel: Sampler,
        n_steps: int,
        init: Density,
        buffer_size: int = 10_000,
        reinit_prob: float = 0.05,
        clamp: tuple[float, float] | None = None,
        buffer: ReplayBuffer | None = None,
    ) -> None:
        super().__init__(kernel, n_steps, init, clamp)
        if not 0.0 <= float(reinit_prob) <= 1.0:
            raise ConfigError(f"reinit_prob must be a probability in [0, 1], got {reinit_prob!r}.")
        self.buffer = buffer or ReplayBuffer(
            buffer_size, init.event_shape, reinit_prob=reinit_prob, init_fn=init.sample
        )

    def draw(self, energy: EnergyFn, n: int, ctx: object, data: Tensor | None = None) -> NegativeBatch:
        gen = generator_of(ctx)
        x0, idx = self.buffer.sample(n, gen)
        neg = self.chains(energy, x0 if data is None else x0.to(data.dtype), gen)
        self.buffer.push(neg.x, idx)
        return neg

    def extra_state(self) -> dict[str, Tensor]:
        return {_BUFFER + k: v for k, v in self.buffer.state_dict().items()} if self.buffer.initialized else {}

    def load_extra_state(self, state: Mapping[str, Tensor]) -> None:
        sub = {k[len(_BUFFER) :]: v for k, v in state.items() if k.startswith(_BUFFER)}
        if any(k.startswith(_REPLICAS) for k in state):
            raise ConfigError("checkpoint holds replica-exchange chains, but the negatives are Persistent.")
        if sub:
            self.buffer.load_state_dict(sub)


class Annealed(ChainNegatives):
    """AIS from ``base`` to exp(−E) over K + 1 temperatures β_t = t/K, one kernel step per intermediate
    temperature (kernel fixed, no adaptation); negatives weighted by their AIS log-weights. Needs an exact kernel."""

    def __init__(self, kernel: Sampler, n_steps: int, base: Density, clamp: tuple[float, float] | None = None) -> None:
        super().__init__(kernel, n_steps, clamp)
        if not kernel.exact:
            raise ConfigError(
                f"annealed negatives need a kernel that leaves π_β invariant (mala, hmc), got {kernel.name}."
            )
        self.base = base

    def anneal(
        self, energy: EnergyFn, n: int, gen: torch.Generator, n_steps: int | None = None, progress: bool = False
    ):
        k = self.n_steps if n_steps is None else n_steps
        return ais(
            GeometricPath(self.base, energy), self.kernel, n, linear_betas(k + 1), gen, adapt=False, progress=progress
        )

    def draw(self, energy: EnergyFn, n: int, ctx: object, data: Tensor | None = None) -> NegativeBatch:
        res = self.anneal(energy, n, generator_of(ctx))
        w = torch.softmax(res.log_w, 0)
        stats = {"ess": 1.0 / (w.square().sum() * n)}
        if self.kernel.metropolis_adjusted:
            stats["accept"] = (
                res.accept_rate.mean() if res.accept_rate.numel() else res.accept_rate.new_tensor(float("nan"))
            )
        origin = f"after {self.n_steps} annealing steps ({self.kernel.name})"
        return NegativeBatch(self.finish(res.x), res.x, res.log_w, {k: v.float() for k, v in stats.items()}, origin)


class Tempered(ChainNegatives):
    """Persistent replica exchange from ``base``: R rungs of n chains kept between draws, K rounds per draw."""

    persistent = True

    def __init__(
        self,
        kernel: Sampler,
        n_steps: int,
        base: Density,
        n_rungs: int = 8,
        beta_min: float = 0.01,
        clamp: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(kernel, n_steps, clamp)
        self.tempering = ReplicaExchange(kernel, n_rungs, beta_min=beta_min, base=base)
        self.replicas: ReplicaState | None = None

    def draw(self, energy: EnergyFn, n: int, ctx: object, data: Tensor | None = None) -> NegativeBatch:
        gen = generator_of(ctx)
        event = tuple(self.tempering.base.event_shape)  # type: ignore[union-attr]
        x0 = None if self.replicas is None else self.replicas.x
        if data is not None and x0 is not None:
            x0 = x0.to(data.dtype)
        if x0 is not None and x0.shape[1] != n:
            raise ConfigError(
                f"the persistent replicas hold {x0.shape[1]} chains per rung but {n} negatives are asked for; "
                "keep n_negatives (or the batch size) fixed during a run."
            )
        state = self.tempering.init(energy, n, event, gen, x0)  # E changed since the last draw: fresh parts
        if self.replicas is not None:
            state = ReplicaState(state.point, state.n_rungs, self.replicas.round)
        result = self.tempering.sample(energy, n, event, self.n_steps, gen, thin=self.n_steps, state=state)
        self.replicas = result.final_state
        swap = result.swap_accept
        stats = {"swap_accept": swap.nanmean().float(), "swap_accept_min": swap.nan_to_num(nan=1.0).min().float()}
        if self.kernel.metropolis_adjusted:
            stats["accept"] = result.accept[-1].float()
        x = self.finish(self.tempering.target_samples(self.replicas))
        return NegativeBatch(x, state.x[-1], None, stats, f"after {self.n_steps} replica-exchange rounds")

    def extra_state(self) -> dict[str, Tensor]:
        if self.replicas is None:
            return {}
        return {_REPLICAS + "x": self.replicas.x, _REPLICAS + "round": torch.tensor(self.replicas.round)}

    def load_extra_state(self, state: Mapping[str, Tensor]) -> None:
        if any(k.startswith(_BUFFER) for k in state):
            raise ConfigError("checkpoint holds a replay buffer, but the negatives are Tempered.")
        if _REPLICAS + "x" not in state:
            return
        x = state[_REPLICAS + "x"]
        if x.dim() < 3 or x.shape[0] != self.tempering.n_rungs:
            raise ConfigError(
                f"checkpoint replicas have shape {tuple(x.shape)}, expected ({self.tempering.n_rungs}, n, *event): "
                "n_rungs must match the run that wrote the checkpoint."
            )
        flat = x.clone().reshape(-1, *x.shape[2:])
        zeros = torch.zeros(flat.shape[0], dtype=x.dtype, device=x.device)  # E changed: re-evaluated at the next draw
        self.replicas = ReplicaState(PathPoint(flat, zeros, zeros), x.shape[0], int(state[_REPLICAS + "round"]))
