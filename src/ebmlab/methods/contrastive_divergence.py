"""Contrastive divergence: :class:`~ebmlab.methods.maximum_likelihood.MaximumLikelihood` configured by flat keys.

``ContrastiveDivergence(energy, sampler, negatives="persistent", n_steps=20, init="uniform", ...)`` builds the
negatives object (:mod:`ebmlab.methods.negatives`) from the keys of ``configs/cd_*.yaml``:

* ``"short_run"`` → ``ShortRun(sampler, K, init)``; ``"persistent"`` → ``Persistent(sampler, K, init, buffer_size,
  reinit_prob)``; ``"cd_k"`` → ``FromData(sampler, K)``;
* ``"annealed"`` → ``Annealed(sampler, K, base)``; ``"tempered"`` → ``Tempered(sampler, K, base, n_rungs, beta_min)``,

with ``init`` the uniform density on [−s, s]ᵈ or N(0, s²I) (``init_scale`` = s; the last two need the Gaussian:
it is the base of the path). The event shape comes from ``event_shape=``, ``energy.dim`` or the first batch, so
the negatives are built on first use. Seed 001's update x − (δ²/2)∇U + δ·N(0, I) and seed 000's
x − λ∇E + √(2λ)·N(0, I) are both ``ULA(step_size=λ)`` with λ = δ²/2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from ebmlab.densities import Density, DiagonalNormal, Uniform
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.methods.maximum_likelihood import MaximumLikelihood
from ebmlab.methods.negatives import Annealed, FromData, Negatives, Persistent, ShortRun, Tempered
from ebmlab.samplers import ReplicaState, Sampler, run_chains
from ebmlab.samplers.buffer import ReplayBuffer
from ebmlab.samplers.langevin import ULA
from ebmlab.training.method import Losses, StepContext

__all__ = ["INITS", "NEGATIVES", "ContrastiveDivergence", "cd_method", "init_density"]

NEGATIVES = ("short_run", "persistent", "cd_k", "annealed", "tempered")
INITS = ("uniform", "gaussian")


def init_density(kind: str, event_shape: Sequence[int], scale: float = 1.0) -> Density:
    """Uniform on [−scale, scale]^event (``uniform``) or N(0, scale²I) (``gaussian``)."""
    if kind not in INITS:
        raise ConfigError(f"init must be one of {INITS}, got {kind!r}.")
    if not (scale > 0 and math.isfinite(scale)):
        raise ConfigError(f"init_scale must be a positive finite number, got {scale!r}.")
    if kind == "uniform":
        return Uniform.symmetric(scale, event_shape)
    return DiagonalNormal(torch.zeros(tuple(event_shape), device="cpu"), scale)  # copied once per device when drawn


class ContrastiveDivergence(MaximumLikelihood):
    """CD / PCD / short-run / annealed / tempered maximum likelihood from flat settings (module doc).

    Args:
        energy: E_θ; sampler: the kernel (default ``ULA(0.01)``); negatives: one of :data:`NEGATIVES`;
        n_steps: K; n_negatives: per step (default: batch size); init, init_scale: start / base density;
        event_shape: one sample's shape; energy_reg, data_noise: see :class:`MaximumLikelihood`;
        buffer, buffer_size, reinit_prob: the replay buffer of ``persistent``; clamp: clip negatives to
        ``(low, high)``; n_rungs, beta_min: the ladder of ``tempered``.
    """

    def __init__(
        self,
        energy: nn.Module,
        sampler: Sampler | None = None,
        negatives: str = "short_run",
        n_steps: int = 20,
        n_negatives: int | None = None,
        init: str = "uniform",
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
        if negatives not in NEGATIVES:
            raise ConfigError(f"negatives must be one of {NEGATIVES}, got {negatives!r}.")
        if sampler is not None and not isinstance(sampler, Sampler):
            raise ConfigError(f"sampler must be an ebmlab.samplers kernel (ULA, MALA, ...), got {sampler!r}.")
        if init not in INITS:
            raise ConfigError(f"init must be one of {INITS}, got {init!r}.")
        if not (float(init_scale) > 0 and math.isfinite(float(init_scale))):
            raise ConfigError(f"init_scale must be a positive finite number, got {init_scale!r}.")
        if not 0.0 <= float(reinit_prob) <= 1.0:
            raise ConfigError(f"reinit_prob must be a probability in [0, 1], got {reinit_prob!r}.")
        if negatives in ("annealed", "tempered") and init != "gaussian":
            raise ConfigError(
                f"negatives={negatives!r} anneals from the Gaussian base: set init='gaussian', got {init!r}."
            )
        if buffer is not None and negatives != "persistent":
            raise ConfigError(f"a replay buffer is only used with negatives='persistent', got {negatives!r}.")
        super().__init__(energy, None, n_negatives, energy_reg, data_noise)  # type: ignore[arg-type]
        self.sampler = sampler if sampler is not None else ULA(step_size=0.01)
        self.kind, self.init, self.init_scale = negatives, init, float(init_scale)
        self.n_steps, self.buffer_size, self.reinit_prob = n_steps, buffer_size, float(reinit_prob)
        self.clamp = None if clamp is None else (float(clamp[0]), float(clamp[1]))
        self.n_rungs, self.beta_min = n_rungs, float(beta_min)
        self.buffer_arg = buffer
        dim = getattr(energy, "dim", None)
        shape = event_shape if event_shape is not None else ((dim,) if isinstance(dim, int) else None)
        if buffer is not None:
            shape = tuple(buffer.event_shape)
        self.event_shape: tuple[int, ...] | None = None if shape is None else tuple(int(s) for s in shape)
        self.build(check_only=True)

    # ------------------------------------------------------------------ the negatives object

    def build(self, check_only: bool = False) -> Negatives | None:
        """The negatives object for the known event shape (validating the settings when ``check_only``)."""
        k, steps, clamp = self.sampler, self.n_steps, self.clamp
        shape = self.event_shape if self.event_shape is not None else (1,)
        init = init_density(self.init, shape, self.init_scale)
        kind = self.kind
        neg: Negatives
        if kind == "short_run":
            neg = ShortRun(k, steps, init, clamp)
        elif kind == "persistent":
            buffer = self.buffer_arg if not check_only else None
            neg = Persistent(k, steps, init, self.buffer_size, self.reinit_prob, clamp, buffer)
        elif kind == "cd_k":
            neg = FromData(k, steps, clamp)
        elif kind == "annealed":
            neg = Annealed(k, steps, init, clamp)
        else:
            neg = Tempered(k, steps, init, self.n_rungs, self.beta_min, clamp)
        return None if check_only else neg

    def set_event_shape(self, shape: tuple[int, ...]) -> None:
        if self.event_shape is not None and tuple(self.event_shape) != tuple(shape):
            raise ShapeError(
                f"ContrastiveDivergence: samples have event shape {tuple(shape)} but the method was set up "
                f"for {self.event_shape}; pass event_shape= matching the data."
            )
        self.event_shape = tuple(shape)

    @property
    def negatives(self) -> Negatives:
        if self._negatives is None:
            if self.event_shape is None:
                raise ConfigError(
                    "ContrastiveDivergence: the event shape is unknown; pass event_shape= or call losses() first."
                )
            self._negatives = self.build()
        assert self._negatives is not None
        return self._negatives

    @property
    def buffer(self) -> ReplayBuffer | None:
        """The replay buffer of ``persistent`` negatives (None before the first step, or for other kinds)."""
        return getattr(self._negatives, "buffer", None)

    @property
    def replicas(self) -> ReplicaState | None:
        """The persistent replica-exchange chains of ``tempered`` negatives (None before the first step)."""
        return getattr(self._negatives, "replicas", None)

    # ------------------------------------------------------------------ the method contract

    def losses(self, batch: Tensor | None, ctx: StepContext) -> Losses:
        self.set_event_shape(tuple(self.check_batch(batch).shape[1:]))  # type: ignore[union-attr]
        return super().losses(batch, ctx)

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
        """``n`` model samples: ``n_steps`` (default K) kernel steps from ``start``: ``"noise"`` (the init density),
        ``"buffer"`` (replay-buffer entries), ``"annealed"`` (AIS from the Gaussian base, then multinomial resampling
        by the weights) or ``"tempered"`` (fresh replica exchange, the β = 1 rung); an explicit ``x0`` overrides."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be an int >= 1, got {n!r}.")
        steps = self.n_steps if n_steps is None else n_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ConfigError(f"n_steps must be an int >= 0, got {steps!r}.")
        if x0 is None and start in ("annealed", "tempered"):
            if self.event_shape is None:
                raise ConfigError(f"sample(start={start!r}) needs the event shape; pass event_shape= to the method.")
            base = init_density("gaussian", self.event_shape, self.init_scale)
            if start == "tempered":
                neg = Tempered(self.sampler, max(steps, 1), base, self.n_rungs, self.beta_min)
                return neg.draw(self.energy, n, generator).x.clone()
            res = Annealed(self.sampler, max(steps, 1), base).anneal(self.energy, n, generator, progress=progress)
            idx = torch.multinomial(torch.softmax(res.log_w, 0), n, replacement=True, generator=generator)
            return self.finish(res.x[idx])
        if x0 is None:
            x0 = self.start_points(n, generator, start)
        if steps == 0:
            return x0.detach().clone()
        bar = _bar(steps, self.sampler.name) if progress else None
        x = run_chains(self.sampler, self.energy, x0.detach(), steps, generator, bar=bar).x
        if bar is not None:
            bar.close()
        return self.finish(x)

    def start_points(self, n: int, generator: torch.Generator, start: str) -> Tensor:
        if start == "noise":
            if self.event_shape is None:
                raise ConfigError("sample(start='noise') needs the event shape; pass event_shape= to the method.")
            return init_density(self.init, self.event_shape, self.init_scale).sample(n, generator)
        if start == "buffer":
            buffer = self.buffer
            if buffer is None or not buffer.initialized:
                raise ConfigError("sample(start='buffer') needs a filled replay buffer (negatives='persistent').")
            stored = buffer.buffer
            assert stored is not None
            idx = torch.randint(buffer.capacity, (n,), generator=generator, device=generator.device)
            return stored[idx.to(stored.device)]
        raise ConfigError(f"start must be 'noise', 'buffer', 'annealed' or 'tempered' (or pass x0), got {start!r}.")

    def finish(self, x: Tensor) -> Tensor:
        return (x if self.clamp is None else x.clamp(*self.clamp)).detach()

    def load_extra_state(self, state: Mapping[str, Tensor]) -> None:
        """Restore the persistent chains (replay buffer or replicas); their shape fixes the event shape."""
        for key, offset in (("replay_buffer.buffer", 1), ("replicas.x", 2)):
            if key in state and state[key].shape[0] > 0:
                self.set_event_shape(tuple(state[key].shape[offset:]))
        if state and self.kind not in ("persistent", "tempered") and any("." in k for k in state):
            raise ConfigError(f"checkpoint holds persistent chains but negatives={self.kind!r}.")
        if self.event_shape is not None:
            super().load_extra_state(state)

    def extra_state(self) -> dict[str, Tensor]:
        return {} if self._negatives is None else super().extra_state()


def _bar(total: int, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sampling ({name})", unit="step", leave=False)


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
    """Config factory of ``method: {name: cd, ...}`` (the flat keys of :class:`ContrastiveDivergence`); ``energy``
    and ``sampler`` come from their sections."""
    if energy is None:
        raise ConfigError("method: cd needs an energy section, e.g. `energy: {name: mlp, hidden: [128, 128]}`.")
    keys = {k: v for k, v in locals().items() if k not in ("energy", "sampler")}
    return ContrastiveDivergence(energy, sampler, **keys)
