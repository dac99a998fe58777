"""Maximum-likelihood learning of an energy-based model with MCMC negatives (contrastive divergence).

For p_θ(x) = exp(−E_θ(x)) / Z(θ), the gradient of the negative log-likelihood is (seed 003 §2.1.2)

    ∇_θ NLL(θ) = E_data[∇_θ E_θ(x)] − E_{p_θ}[∇_θ E_θ(x̃)],

and the intractable model expectation is replaced by an average over MCMC samples x̃ ("analysis by
synthesis", seed 001). The surrogate loss whose gradient is that estimate is

    L(θ) = mean_i E_θ(xᵢ) − mean_j E_θ(x̃ⱼ) + α · (mean_i E_θ(xᵢ)² + mean_j E_θ(x̃ⱼ)²),

with the negatives x̃ treated as constants (detached) and α ≥ 0 an optional energy-magnitude penalty
(Du & Mordatch 2019) that keeps E near 0 and has no effect on the fixed point when α = 0.

Negatives (``negatives=``):

* ``"short_run"``: K sampler steps from fresh noise (uniform on [−s, s]ᵈ or N(0, s²I)), as in seed 001;
* ``"persistent"``: K steps from a :class:`~ebmlab.samplers.buffer.ReplayBuffer` of past negatives, a
  fraction ``reinit_prob`` restarted from noise (PCD, Tieleman 2008; Du & Mordatch 2019); with
  ``reinit_prob=0`` and ``buffer_size`` = batch size this is classic PCD with one chain per negative;
* ``"cd_k"``: K steps started at the data batch (Hinton 2002);
* ``"annealed"``: annealed importance sampling (Neal 2001) from the Gaussian base q = N(0, s²I) to p_θ
  along π_β ∝ q^{1−β} exp(−βE_θ), β_t = t/K, one sampler step per temperature, with importance weights
  log w = Σ_t −(β_t − β_{t−1}) (E_θ(x_{t−1}) − ½‖x_{t−1}‖²/s²); the negative term becomes the
  self-normalised Σ_j w̃_j E_θ(x̃_j). AIS weights are valid whether or not the chains mix between modes
  (they only need each step to leave π_t invariant: use MALA or HMC, not ULA), so the relative weights of
  separated modes are learned — which short-run and persistent Langevin chains cannot do. Costs one
  energy-and-gradient evaluation per temperature; logs the relative effective sample size ``ess`` = 1/(n Σ w̃²);
* ``"tempered"``: persistent replica exchange (:class:`~ebmlab.samplers.ReplicaExchange`) on the same path,
  R rungs of ``n_negatives`` chains kept between training steps, K rounds (one kernel step at every rung, an
  exact redraw of the β = 0 rung from q, one round of neighbour swaps) per training step; the negatives are
  the β = 1 rung, unweighted. Swaps carry chains between modes, so — unlike persistent Langevin chains —
  the chains' split between modes follows the model's mode masses, and unlike AIS no self-normalised
  weights bias the estimate towards the base. Logs ``swap_accept`` (mean over proposed pairs) and
  ``swap_accept_min`` (the worst pair: a rung gap that chains cannot cross). Costs R times the gradient
  evaluations of ``persistent`` at the same K, plus one evaluation of all R·n chains per training step (the
  energy changed since the last one).

The sampler is any :mod:`ebmlab.samplers` kernel. Seed 001's update x − (δ²/2)∇U + δ·N(0, I) and seed
000's x − λ∇E + √(2λ)·N(0, I) are both ``ULA(step_size=λ)`` with λ = δ²/2. Sampling differentiates E
with respect to x only (:func:`ebmlab.energies.energy_and_grad` uses ``torch.autograd.grad`` with
``inputs=x``), so no gradient reaches the parameters until the loop calls ``loss.backward()``.

The method owns no loop: :func:`~ebmlab.training.fit` calls ``losses(batch, ctx)`` and steps an optimiser
on ``Losses.minimize["model"]``. The gradient norm of θ is not computed here (it would need a second backward pass); the
loop logs it after its own ``backward``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from ebmlab.energies.base import evaluate_energy
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.samplers.base import Sampler
from ebmlab.samplers.buffer import ReplayBuffer
from ebmlab.samplers.langevin import ULA
from ebmlab.samplers.path import GeometricPath, PathPoint, linear_betas
from ebmlab.samplers.tempering import ReplicaExchange, ReplicaState
from ebmlab.training.method import DEFAULT_GROUP, Losses, Method, StepContext

__all__ = ["NEGATIVES", "ContrastiveDivergence", "cd_method", "noise_init"]

NEGATIVES = ("short_run", "persistent", "cd_k", "annealed", "tempered")
INITS = ("uniform", "gaussian")
InitFn = Callable[[int, torch.Generator], Tensor]
_BUFFER_PREFIX = "replay_buffer."
_REPLICA_PREFIX = "replicas."
_BASE_NEGATIVES = ("annealed", "tempered")  # need the Gaussian base q = N(0, s²I)


def noise_init(kind: str, event_shape: Sequence[int], scale: float = 1.0) -> InitFn:
    """``init(n, generator)``: n points uniform on [−scale, scale]^event (``uniform``) or N(0, scale²I)."""
    if kind not in INITS:
        raise ConfigError(f"init must be one of {INITS} or a callable init(n, generator), got {kind!r}.")
    if not (scale > 0 and math.isfinite(scale)):
        raise ConfigError(f"init_scale must be a positive finite number, got {scale!r}.")
    shape = tuple(int(s) for s in event_shape)

    def init(n: int, generator: torch.Generator) -> Tensor:
        if kind == "uniform":
            u = torch.rand((n, *shape), generator=generator, device=generator.device)
            return u.mul_(2.0 * scale).sub_(scale)
        return torch.randn((n, *shape), generator=generator, device=generator.device).mul_(scale)

    return init


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return value


class ContrastiveDivergence(Method):
    """Contrastive divergence / persistent CD / short-run MCMC maximum likelihood for an energy (module doc).

    Args:
        energy: the energy E_θ, an ``nn.Module`` mapping ``(n, *event) -> (n,)``.
        sampler: MCMC kernel for the negatives; default ``ULA(step_size=0.01)`` (σ = √(2λ) = 0.141).
            A Metropolis-adjusted kernel (MALA, HMC) also reports its acceptance rate as ``"accept"``.
        negatives: ``"short_run"``, ``"persistent"``, ``"cd_k"``, ``"annealed"`` or ``"tempered"`` (the last two
            need ``init="gaussian"``: the base of the path).
        n_steps: K, sampler steps per training step.
        n_negatives: negatives per step (default: the batch size).
        init: ``"uniform"`` on [−init_scale, init_scale]ᵈ, ``"gaussian"`` N(0, init_scale²I), or a callable
            ``init(n, generator) -> (n, *event)``: starting points of short-run chains, of the replay
            buffer and of its re-initialisations.
        init_scale: s above.
        event_shape: shape of one sample; default ``(energy.dim,)`` when the energy has ``dim``, else taken
            from the first batch.
        energy_reg: α ≥ 0, weight of the energy-magnitude penalty.
        data_noise: standard deviation of Gaussian noise added to each data batch (0: none); smooths
            quantised data such as digits.
        buffer: a ReplayBuffer for ``"persistent"`` (default: one of ``buffer_size`` slots with
            ``reinit_prob``, filled from ``init``).
        buffer_size, reinit_prob: settings of the default buffer.
        clamp: ``(low, high)``: clip negatives to this range after sampling (e.g. the pixel range); None.
        n_rungs, beta_min: ladder of ``"tempered"``: R rungs, 0 then geometric from β_min to 1
            (:func:`~ebmlab.samplers.geometric_ladder`).
    """

    def __init__(
        self,
        energy: nn.Module,
        sampler: Sampler | None = None,
        negatives: str = "short_run",
        n_steps: int = 20,
        n_negatives: int | None = None,
        init: str | InitFn = "uniform",
        init_scale: float = 1.0,
        event_shape: Sequence[int] | None = None,
        energy_reg: float = 0.0,
        data_noise: float = 0.0,
        buffer: ReplayBuffer | None = None,
        buffer_size: int = 10_000,
        reinit_prob: float = 0.05,
        clamp: tuple[float, float] | None = None,
        n_rungs: int = 8,
        beta_min: float = 0.01,
    ) -> None:
        super().__init__()
        if not callable(energy):
            raise ConfigError(f"energy must be a callable (n, *event) -> (n,), got {type(energy).__name__}.")
        if negatives not in NEGATIVES:
            raise ConfigError(f"negatives must be one of {NEGATIVES}, got {negatives!r}.")
        if sampler is not None and not isinstance(sampler, Sampler):
            raise ConfigError(f"sampler must be an ebmlab.samplers kernel (ULA, MALA, ...), got {sampler!r}.")
        for name, value in (("energy_reg", energy_reg), ("data_noise", data_noise)):
            if not (float(value) >= 0 and math.isfinite(float(value))):
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}.")
        if not (float(init_scale) > 0 and math.isfinite(float(init_scale))):
            raise ConfigError(f"init_scale must be a positive finite number, got {init_scale!r}.")
        if not 0.0 <= float(reinit_prob) <= 1.0:
            raise ConfigError(f"reinit_prob must be a probability in [0, 1], got {reinit_prob!r}.")
        if clamp is not None and not (len(clamp) == 2 and float(clamp[0]) < float(clamp[1])):
            raise ConfigError(f"clamp must be a pair (low, high) with low < high, got {clamp!r}.")
        self.energy = energy
        self.sampler = sampler if sampler is not None else ULA(step_size=0.01)
        self.negatives = negatives
        self.n_steps = _positive_int("n_steps", n_steps)
        self.n_negatives = None if n_negatives is None else _positive_int("n_negatives", n_negatives)
        if not (callable(init) or init in INITS):
            raise ConfigError(f"init must be one of {INITS} or a callable init(n, generator), got {init!r}.")
        self.init = init
        self.init_scale = float(init_scale)
        self.energy_reg = float(energy_reg)
        self.data_noise = float(data_noise)
        self.clamp = None if clamp is None else (float(clamp[0]), float(clamp[1]))
        self.buffer_size = _positive_int("buffer_size", buffer_size)
        self.reinit_prob = float(reinit_prob)
        self.buffer = buffer
        if negatives in _BASE_NEGATIVES and init != "gaussian":
            raise ConfigError(
                f"negatives={negatives!r} anneals from the Gaussian base: set init='gaussian', got {init!r}."
            )
        self.tempering = ReplicaExchange(self.sampler, n_rungs, self.init_scale, beta_min)
        self.replicas: ReplicaState | None = None
        self._last_swap = torch.full((self.tempering.n_rungs - 1,), float("nan"))
        if buffer is not None and negatives != "persistent":
            raise ConfigError(f"a replay buffer is only used with negatives='persistent', got {negatives!r}.")
        dim = getattr(energy, "dim", None)
        shape = event_shape if event_shape is not None else ((dim,) if isinstance(dim, int) else None)
        self.event_shape: tuple[int, ...] | None = None if shape is None else tuple(int(s) for s in shape)
        if buffer is not None:
            self._set_event_shape(tuple(buffer.event_shape))

    # ------------------------------------------------------------------ set-up helpers

    def _set_event_shape(self, shape: tuple[int, ...]) -> None:
        if self.event_shape is not None and tuple(self.event_shape) != tuple(shape):
            raise ShapeError(
                f"ContrastiveDivergence: samples have event shape {tuple(shape)} but the method was set up "
                f"for {self.event_shape}; pass event_shape= matching the data."
            )
        self.event_shape = tuple(shape)

    def init_fn(self) -> InitFn:
        """The noise initialiser ``init(n, generator)`` for this method's event shape."""
        if callable(self.init):
            return self.init
        if self.event_shape is None:
            raise ConfigError(
                "ContrastiveDivergence: the event shape is unknown; pass event_shape= or call losses() "
                "with a data batch first."
            )
        return noise_init(self.init, self.event_shape, self.init_scale)

    def _buffer(self) -> ReplayBuffer:
        if self.buffer is None:
            assert self.event_shape is not None
            self.buffer = ReplayBuffer(
                self.buffer_size, self.event_shape, reinit_prob=self.reinit_prob, init_fn=self.init_fn()
            )
        return self.buffer

    # ------------------------------------------------------------------ sampling

    def run_chains(
        self, x0: Tensor, n_steps: int, generator: torch.Generator, progress: bool = False
    ) -> tuple[Tensor, float]:
        """Run ``n_steps`` sampler steps from ``x0``; return the final points and the mean acceptance."""
        state = self.sampler.init(self.energy, x0.detach())
        accept = torch.zeros((), dtype=torch.float64)
        steps = range(n_steps)
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc=f"sampling ({self.sampler.name})", unit="step", leave=False)
        for _ in steps:
            state, info = self.sampler.step(self.energy, state, generator)
            accept += info.accept_prob.mean().to(torch.float64)
        x = state.x
        if self.clamp is not None:
            x = x.clamp(*self.clamp)
        return x.detach(), float(accept) / max(n_steps, 1)

    def run_annealed(
        self, n: int, n_steps: int, generator: torch.Generator, progress: bool = False
    ) -> tuple[Tensor, Tensor, float]:
        """AIS from N(0, s²I) to exp(−E) in ``n_steps`` temperatures: final points, log-weights, acceptance.

        With D = E − ½‖x‖²/s², the weight increment at temperature t is −(β_t − β_{t−1}) D(x_{t−1}); the move is
        one sampler step targeting π_{β_t} (:func:`ebmlab.samplers.tempering.path_moves`, which reuses the cached
        D and ∇D: one energy-and-gradient evaluation per temperature).
        """
        from ebmlab.densities import DiagonalNormal
        from ebmlab.estimators.ais import ais

        assert self.event_shape is not None
        base = DiagonalNormal(torch.zeros(self.event_shape), self.init_scale)
        res = ais(GeometricPath(base, self.energy), self.sampler, n, linear_betas(n_steps + 1), generator, adapt=False)
        x = res.x
        if self.clamp is not None:
            x = x.clamp(*self.clamp)
        return x.detach(), res.log_w, float(res.accept_rate.mean()) if res.accept_rate.numel() else float("nan")

    def run_tempered(
        self, state: ReplicaState, n_rounds: int, generator: torch.Generator, progress: bool = False
    ) -> tuple[ReplicaState, float, Tensor]:
        """``n_rounds`` replica-exchange rounds from ``state``: new state, mean acceptance at β = 1, and the mean
        swap acceptance per neighbouring pair ``(R − 1,)`` (NaN when no round is run)."""
        if n_rounds == 0:
            return state, float("nan"), torch.full((self.tempering.n_rungs - 1,), float("nan"))
        assert self.event_shape is not None
        n = state.x.shape[1]
        result = self.tempering.sample(
            self.energy, n, self.event_shape, n_rounds, generator, thin=n_rounds, state=state, progress=progress
        )
        return result.final_state, float(result.accept[-1]), result.swap_accept

    def _tempered_negatives(
        self, n: int, dtype: torch.dtype, generator: torch.Generator
    ) -> tuple[Tensor, float, Tensor]:
        assert self.event_shape is not None
        x0 = None if self.replicas is None else self.replicas.x.to(dtype)
        if x0 is not None and x0.shape[1] != n:
            raise ConfigError(
                f"the persistent replicas hold {x0.shape[1]} chains per rung but {n} negatives are asked for; "
                "keep n_negatives (or the batch size) fixed during a run."
            )
        state = self.tempering.init(self.energy, n, self.event_shape, generator, x0)  # E changed since the last step
        if self.replicas is not None:
            state = replace(state, round=self.replicas.round)
        state, accept, swap = self.run_tempered(state, self.n_steps, generator)
        self.replicas = state
        x = self.tempering.target_samples(state)
        if self.clamp is not None:
            x = x.clamp(*self.clamp)
        return x.detach(), accept, swap

    def _negatives(self, data: Tensor, generator: torch.Generator) -> tuple[Tensor, float, Tensor | None]:
        """Negatives, mean acceptance, and self-normalised importance weights (``annealed`` only)."""
        if self.negatives == "annealed":
            x, log_w, accept = self.run_annealed(self.n_negatives or data.shape[0], self.n_steps, generator)
            return x, accept, torch.softmax(log_w, 0).to(x.dtype)
        if self.negatives == "tempered":
            x, accept, self._last_swap = self._tempered_negatives(
                self.n_negatives or data.shape[0], data.dtype, generator
            )
            return x, accept, None
        x, accept = self._unweighted_negatives(data, generator)
        return x, accept, None

    def _unweighted_negatives(self, data: Tensor, generator: torch.Generator) -> tuple[Tensor, float]:
        n = self.n_negatives or data.shape[0]
        if self.negatives == "cd_k":
            if n > data.shape[0]:
                raise ConfigError(
                    f"cd_k starts one chain per data point: n_negatives={n} > batch size {data.shape[0]}."
                )
            return self.run_chains(data[:n], self.n_steps, generator)
        if self.negatives == "short_run":
            return self.run_chains(self.init_fn()(n, generator), self.n_steps, generator)
        buffer = self._buffer()
        x0, idx = buffer.sample(n, generator)
        x, accept = self.run_chains(x0.to(data.dtype), self.n_steps, generator)
        buffer.push(x, idx)
        return x, accept

    @torch.no_grad()
    def _noisy(self, batch: Tensor, generator: torch.Generator) -> Tensor:
        if self.data_noise == 0.0:
            return batch
        noise = torch.randn(batch.shape, generator=generator, dtype=batch.dtype, device=batch.device)
        return batch + self.data_noise * noise

    # ------------------------------------------------------------------ the method contract

    def losses(self, batch: Tensor | None, ctx: StepContext) -> Losses:
        """CD loss (``minimize["model"]``) and logged signals for one data batch ``(n, *event)``.

        Logged: ``energy_data`` = mean E(x), ``energy_neg`` = mean E(x̃) (AIS-weighted for
        ``annealed``), ``gap`` = energy_neg − energy_data (≈ 0 at the fixed point), ``accept`` (Metropolis-adjusted
        samplers only), ``neg_norm`` = mean ‖x̃‖ (a divergence signal), ``ess`` (``annealed`` only).
        """
        if not isinstance(batch, Tensor) or batch.dim() < 2 or batch.shape[0] < 1:
            raise ShapeError(
                f"ContrastiveDivergence.losses needs a data batch of shape (n, *event), got "
                f"{getattr(batch, 'shape', type(batch).__name__)}."
            )
        generator = getattr(ctx, "generator", None)
        if not isinstance(generator, torch.Generator):
            raise ConfigError(f"losses needs a StepContext with a torch.Generator, got {type(ctx).__name__}.")
        self._set_event_shape(tuple(batch.shape[1:]))
        data = self._noisy(batch.detach(), generator)
        neg, accept, w = self._negatives(data, generator)
        e_data = evaluate_energy(self.energy, data)
        e_neg = evaluate_energy(self.energy, neg)
        if not bool(torch.isfinite(e_data).all() and torch.isfinite(e_neg).all()):
            raise NonFiniteError(
                "ContrastiveDivergence: non-finite energy on the data or the negatives; lower the sampler's "
                "step size, raise energy_reg, or clip the negatives with clamp=(low, high)."
            )
        if w is None:
            w = torch.full_like(e_neg, 1.0 / e_neg.shape[0])
        mean_neg = (w * e_neg).sum()
        loss = e_data.mean() - mean_neg
        if self.energy_reg > 0:
            loss = loss + self.energy_reg * (e_data.square().mean() + (w * e_neg.square()).sum())
        out: dict[str, Tensor | float] = {
            "energy_data": e_data.mean().detach(),
            "energy_neg": mean_neg.detach(),
            "gap": (mean_neg - e_data.mean()).detach(),
            "neg_norm": (w * neg.reshape(neg.shape[0], -1).norm(dim=1)).sum().detach(),
        }
        if self.negatives == "annealed":
            out["ess"] = (1.0 / (w.square().sum() * w.shape[0])).detach()
        if self.negatives == "tempered":
            out["swap_accept"] = self._last_swap.nanmean().to(e_neg.dtype)
            out["swap_accept_min"] = self._last_swap.nan_to_num(nan=1.0).min().to(e_neg.dtype)
        if self.sampler.metropolis_adjusted:
            out["accept"] = torch.tensor(accept)
        return Losses({DEFAULT_GROUP: loss}, out)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator,
        n_steps: int | None = None,
        start: str = "noise",
        x0: Tensor | None = None,
        progress: bool = False,
    ) -> Tensor:
        """``n`` model samples: ``n_steps`` (default: the training K) sampler steps from ``start``.

        ``start``: ``"noise"`` (the ``init`` distribution), ``"buffer"`` (random replay-buffer entries,
        persistent mode only), ``"annealed"`` (AIS over ``n_steps`` temperatures from the Gaussian base, then
        multinomial resampling by the importance weights) or ``"tempered"`` (``n_steps`` replica-exchange rounds
        from the Gaussian base, fresh replicas of ``n`` chains per rung; the β = 1 rung is returned); an explicit
        ``x0`` overrides ``start``.
        """
        n = _positive_int("n", n)
        steps = self.n_steps if n_steps is None else _positive_int("n_steps", n_steps, 0)
        if x0 is None and start == "tempered":
            if self.event_shape is None:
                raise ConfigError("sample(start='tempered') needs the event shape; pass event_shape= to the method.")
            state = self.tempering.init(self.energy, n, self.event_shape, generator)
            state = self.run_tempered(state, steps, generator, progress)[0]
            return self.tempering.target_samples(state).detach().clone()
        if x0 is None and start == "annealed":
            x, log_w, _ = self.run_annealed(n, max(steps, 1), generator, progress)
            idx = torch.multinomial(torch.softmax(log_w, 0), n, replacement=True, generator=generator)
            return x[idx]
        if x0 is None:
            if start == "noise":
                x0 = self.init_fn()(n, generator)
            elif start == "buffer":
                if self.buffer is None or not self.buffer.initialized:
                    raise ConfigError("sample(start='buffer') needs a filled replay buffer (negatives='persistent').")
                x0 = self.buffer.buffer[torch.randint(self.buffer.capacity, (n,), generator=generator)]  # type: ignore[index]
            else:
                raise ConfigError(
                    f"start must be 'noise', 'buffer', 'annealed' or 'tempered' (or pass x0), got {start!r}."
                )
        if steps == 0:
            return x0.detach().clone()
        return self.run_chains(x0, steps, generator, progress)[0]

    # ------------------------------------------------------------------ persistent state

    def extra_state(self) -> dict[str, Tensor]:
        """Persistent chains: the replay buffer (``replay_buffer.{buffer, ptr, count}``) or the replicas
        (``replicas.{x, round}``); empty for the other negatives."""
        if self.negatives == "tempered" and self.replicas is not None:
            return {
                _REPLICA_PREFIX + "x": self.replicas.x,
                _REPLICA_PREFIX + "round": torch.tensor(self.replicas.round),
            }
        if self.negatives != "persistent" or self.buffer is None:
            return {}
        return {_BUFFER_PREFIX + k: v for k, v in self.buffer.state_dict().items()}

    def load_extra_state(self, state: Mapping[str, Tensor]) -> None:
        """Restore :meth:`extra_state` (the persistent chains survive a resume)."""
        if _REPLICA_PREFIX + "x" in state:
            if self.negatives != "tempered":
                raise ConfigError(f"checkpoint holds replica-exchange chains but negatives={self.negatives!r}.")
            x = state[_REPLICA_PREFIX + "x"]
            if x.dim() < 3 or x.shape[0] != self.tempering.n_rungs:
                raise ConfigError(
                    f"checkpoint replicas have shape {tuple(x.shape)}, expected ({self.tempering.n_rungs}, n, *event): "
                    "n_rungs must match the run that wrote the checkpoint."
                )
            self._set_event_shape(tuple(x.shape[2:]))
            # D and ∇D are recomputed at the start of every training step, so zeros are placeholders here.
            flat = x.clone().reshape(-1, *x.shape[2:])
            zeros = torch.zeros(flat.shape[0], dtype=x.dtype)
            point = PathPoint(flat, zeros, zeros)
            self.replicas = ReplicaState(point, x.shape[0], int(state[_REPLICA_PREFIX + "round"]))
            return
        sub = {k[len(_BUFFER_PREFIX) :]: v for k, v in state.items() if k.startswith(_BUFFER_PREFIX)}
        if not sub:
            return
        if self.negatives != "persistent":
            raise ConfigError(f"checkpoint holds a replay buffer but negatives={self.negatives!r}.")
        buf = sub.get("buffer")
        if buf is not None and buf.shape[0] > 0:
            self._set_event_shape(tuple(buf.shape[1:]))
        self._buffer().load_state_dict(sub)


def cd_method(
    energy: nn.Module | None,
    sampler: Sampler | None,
    event_shape: tuple[int, ...] | None,
    negatives: str = "short_run",
    n_steps: int = 20,
    n_negatives: int | None = None,
    init: str = "uniform",
    init_scale: float = 1.0,
    energy_reg: float = 0.0,
    data_noise: float = 0.0,
    buffer_size: int = 10_000,
    reinit_prob: float = 0.05,
    clamp: tuple[float, float] | None = None,
    n_rungs: int = 8,
    beta_min: float = 0.01,
) -> ContrastiveDivergence:
    """Config factory of ``method: {name: cd, ...}``; ``energy`` and ``sampler`` come from their sections."""
    if energy is None:
        raise ConfigError("method: cd needs an energy section, e.g. `energy: {name: mlp, hidden: [128, 128]}`.")
    return ContrastiveDivergence(
        energy,
        sampler,
        negatives=negatives,
        n_steps=n_steps,
        n_negatives=n_negatives,
        init=init,
        init_scale=init_scale,
        event_shape=event_shape,
        energy_reg=energy_reg,
        data_noise=data_noise,
        buffer_size=buffer_size,
        reinit_prob=reinit_prob,
        clamp=clamp,
        n_rungs=n_rungs,
        beta_min=beta_min,
    )


def _register() -> None:
    try:
        from ebmlab.experiments.registry import register_method
    except ImportError:  # the experiments layer is optional for library use
        return
    register_method("cd", cd_method)


_register()
