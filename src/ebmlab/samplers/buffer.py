"""Replay buffer of past samples for persistent (short-run) MCMC chains.

The persistent-chain trick of EBM training (persistent contrastive divergence, Tieleman 2008;
the replay buffer of Du & Mordatch 2019, "Implicit Generation and Generalization in
Energy-Based Models"): each training step starts its short MCMC runs from samples stored by
earlier steps instead of from noise, and writes the results back. A small fraction of the
starting points, ``reinit_prob`` (5 % by default, the value used by Du & Mordatch), is
replaced by fresh noise so that the buffer keeps exploring and does not collapse onto a few
modes. Typical use::

    x, idx = buffer.sample(batch_size, gen)
    x = run_mcmc(energy, x, gen)
    buffer.push(x, idx)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from ebmlab.errors import CheckpointError, ConfigError, ShapeError
from ebmlab.samplers.finite_watch import deferred

__all__ = ["InitFn", "ReplayBuffer", "uniform_init"]

#: ``init_fn(n, generator) -> (n, *event_shape)`` fresh starting points.
InitFn = Callable[[int, torch.Generator], Tensor]

_STATE_KEYS = ("buffer", "ptr", "count")


def uniform_init(event_shape: Sequence[int]) -> InitFn:
    """Starting points drawn uniformly from ``[-1, 1]^event`` (float32, on the generator's device)."""
    shape = tuple(event_shape)

    def init(n: int, generator: torch.Generator) -> Tensor:
        u = torch.rand((n, *shape), generator=generator, device=generator.device)
        return u.mul_(2).sub_(1)

    return init


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ConfigError(
            f"ReplayBuffer needs an explicit torch.Generator for its randomness, got "
            f"{type(generator).__name__}. Pass e.g. `torch.Generator().manual_seed(0)` (on the device "
            "where the samples live)."
        )
    return generator


class ReplayBuffer:
    """A fixed-size store of ``capacity`` past samples of shape ``event_shape``.

    Args:
        capacity: number of stored samples (>= 1).
        event_shape: shape of one sample, e.g. ``(2,)`` or ``(1, 28, 28)``.
        reinit_prob: probability, independently for each point returned by :meth:`sample`, that
            it is replaced by a fresh ``init_fn`` point instead of a stored one (0 ≤ p ≤ 1;
            default 0.05). ``0`` gives purely persistent chains, ``1`` plain short-run MCMC from
            noise.
        init_fn: ``init_fn(n, generator) -> (n, *event_shape)`` fresh starting points; default
            :func:`uniform_init` (uniform in ``[-1, 1]``). Its dtype and device become the buffer's.

    The buffer is filled with ``init_fn`` points lazily, on the first :meth:`sample` (or an
    explicit :meth:`initialize`), so that the caller's generator determines them. All
    randomness comes from the generator passed in; the buffer holds no RNG of its own.
    """

    def __init__(
        self,
        capacity: int,
        event_shape: Sequence[int] | int,
        *,
        reinit_prob: float = 0.05,
        init_fn: InitFn | None = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ConfigError(
                f"ReplayBuffer: capacity must be an int >= 1, got {capacity!r}. "
                "Use the number of past samples to keep (e.g. 10000)."
            )
        if isinstance(event_shape, int):
            event_shape = (event_shape,)
        try:
            shape = tuple(int(d) for d in event_shape)
        except (TypeError, ValueError):
            shape = None
        if shape is None or any(d < 0 for d in shape):
            raise ConfigError(
                f"ReplayBuffer: event_shape must be a sequence of non-negative ints (the shape of one "
                f"sample, e.g. (2,) or (1, 28, 28)), got {event_shape!r}."
            )
        try:
            p = float(reinit_prob)
        except (TypeError, ValueError):
            p = float("nan")
        if not 0.0 <= p <= 1.0:
            raise ConfigError(
                f"ReplayBuffer: reinit_prob must be a probability in [0, 1], got {reinit_prob!r}. "
                "0.05 is the usual choice; 0 disables re-initialisation."
            )
        if init_fn is not None and not callable(init_fn):
            raise ConfigError(
                f"ReplayBuffer: init_fn must be callable as init_fn(n, generator) -> (n, *event_shape), "
                f"got {type(init_fn).__name__}."
            )
        self.capacity = capacity
        self.event_shape = torch.Size(shape)
        self.reinit_prob = p
        self.init_fn: InitFn = init_fn if init_fn is not None else uniform_init(shape)
        self._buffer: Tensor | None = None
        self._ptr = 0
        self._count = 0
        self._issued: tuple[Tensor, int] | None = None  # the idx sample() returned, and its version

    def __repr__(self) -> str:
        return (
            f"ReplayBuffer(capacity={self.capacity}, event_shape={tuple(self.event_shape)}, "
            f"reinit_prob={self.reinit_prob}, initialized={self.initialized}, count={self._count})"
        )

    def __len__(self) -> int:
        return self.capacity

    # ------------------------------------------------------------------ properties

    @property
    def initialized(self) -> bool:
        """Whether the buffer has been filled (by :meth:`initialize`, :meth:`sample` or a load)."""
        return self._buffer is not None

    @property
    def buffer(self) -> Tensor | None:
        """The stored samples ``(capacity, *event_shape)`` (``None`` before initialisation)."""
        return self._buffer

    @property
    def ptr(self) -> int:
        """Next slot written by :meth:`push` without indices (ring-buffer order)."""
        return self._ptr

    @property
    def count(self) -> int:
        """Total number of samples written by :meth:`push` since creation."""
        return self._count

    # ------------------------------------------------------------------ sampling

    def _fresh(self, n: int, generator: torch.Generator) -> Tensor:
        x = self.init_fn(n, generator)
        expected = (n, *self.event_shape)
        if not isinstance(x, Tensor) or tuple(x.shape) != expected:
            raise ShapeError(
                f"ReplayBuffer: init_fn({n}, generator) returned "
                f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}; expected a tensor of "
                f"shape {expected} = (n, *event_shape). Make init_fn draw n points of the event shape."
            )
        return x.detach()

    def initialize(self, generator: torch.Generator) -> None:
        """Fill all ``capacity`` slots with fresh ``init_fn`` points (overwriting any content)."""
        self._buffer = self._fresh(self.capacity, _check_generator(generator)).clone()

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Draw ``n`` starting points for persistent chains.

        Picks ``n`` slots uniformly at random with replacement; then each point independently,
        with probability ``reinit_prob``, is replaced by a fresh ``init_fn`` point (its slot is
        still returned, so that pushing the chains back restarts that slot). On a GPU
        (:func:`~ebmlab.samplers.finite_watch.deferred`) ``init_fn`` draws ``n`` points and the chosen
        ones are kept, so the host need not read how many were chosen (the same slots and the same
        choices; other fresh points than on a CPU, which draws only as many as chosen).

        Returns:
            ``(x, idx)``: ``x`` of shape ``(n, *event_shape)`` (a copy, safe to modify) and the slot
            indices ``idx`` of shape ``(n,)`` (int64, on the buffer's device) for :meth:`push`.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"ReplayBuffer.sample: n must be an int >= 0, got {n!r}.")
        generator = _check_generator(generator)
        if self._buffer is None:
            self.initialize(generator)
        buf = self._buffer
        assert buf is not None
        idx = torch.randint(self.capacity, (n,), generator=generator, device=generator.device)
        reinit = torch.rand(n, generator=generator, device=generator.device) < self.reinit_prob
        idx = idx.to(buf.device)
        x = buf[idx]  # advanced indexing copies
        self._issued = (idx, idx._version)
        if self.reinit_prob == 0:  # nothing is chosen: nothing to read
            return x, idx
        reinit = reinit.to(buf.device)
        if deferred(reinit.device):  # no host read: n fresh points, the chosen kept
            fresh = self._fresh(n, generator).to(dtype=buf.dtype, device=buf.device)
            return torch.where(reinit.reshape(-1, *(1,) * len(self.event_shape)), fresh, x), idx
        k = int(reinit.sum())
        if k:
            x[reinit] = self._fresh(k, generator).to(dtype=buf.dtype, device=buf.device)
        return x, idx

    def push(self, x: Tensor, idx: Tensor | None = None) -> None:
        """Write samples back into the buffer.

        Args:
            x: ``(k, *event_shape)`` samples (detached and cast to the buffer's dtype/device).
            idx: slots to overwrite, ``(k,)`` integers in ``[0, capacity)``, e.g. those returned by
                :meth:`sample`; where a slot repeats, the last sample for it wins. ``None``
                writes ring-buffer style at :attr:`ptr` onwards, wrapping around.
        """
        buf = self._buffer
        if buf is None:
            raise ConfigError(
                "ReplayBuffer.push: the buffer is not filled yet; it is filled with init_fn points on the "
                "first sample(n, generator) call. Call sample() or initialize(generator) before push()."
            )
        if not isinstance(x, Tensor) or x.dim() != 1 + len(self.event_shape) or x.shape[1:] != self.event_shape:
            raise ShapeError(
                f"ReplayBuffer.push: x must have shape (k, *event_shape) = (k, "
                f"{', '.join(map(str, self.event_shape))}), got "
                f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}. "
                "Push a batch of samples with the event shape the buffer was created with."
            )
        k = x.shape[0]
        if idx is None:
            slots = (self._ptr + torch.arange(k, device=buf.device)) % self.capacity
            self._ptr = (self._ptr + k) % self.capacity
        else:
            if not isinstance(idx, Tensor) or idx.shape != (k,) or idx.is_floating_point() or idx.is_complex():
                raise ShapeError(
                    f"ReplayBuffer.push: idx must be an integer tensor of shape ({k},), one slot per sample "
                    f"in x, got {tuple(idx.shape) if isinstance(idx, Tensor) else type(idx).__name__}"
                    f"{' of dtype ' + str(idx.dtype) if isinstance(idx, Tensor) else ''}. "
                    "Pass the idx returned by sample(), or None for ring-buffer order."
                )
            slots = idx.to(device=buf.device, dtype=torch.int64)
            if k and not self._from_sample(idx) and (int(slots.min()) < 0 or int(slots.max()) >= self.capacity):
                raise ConfigError(
                    f"ReplayBuffer.push: idx must lie in [0, {self.capacity}), got values in "
                    f"[{int(slots.min())}, {int(slots.max())}]. Pass the idx returned by sample()."
                )
        if k:
            # Keep only the last occurrence of each slot: index_put_ with duplicates is unordered.
            order = torch.arange(k, device=buf.device)
            last = torch.full((self.capacity,), -1, dtype=torch.int64, device=buf.device)
            last.scatter_reduce_(0, slots, order, reduce="amax")
            keep = last[slots] == order
            buf[slots[keep]] = x.detach()[keep].to(dtype=buf.dtype, device=buf.device)
        self._count += k

    def _from_sample(self, idx: Tensor) -> bool:
        """Whether ``idx`` is the slot tensor the last :meth:`sample` returned, unchanged (no range check needed)."""
        return self._issued is not None and idx is self._issued[0] and idx._version == self._issued[1]

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Tensor]:
        """Plain-tensor state, loadable with ``torch.load(weights_only=True)`` and savable with
        ``safetensors.torch.save_file``.

        Keys: ``buffer`` ``(capacity, *event_shape)`` (``(0, *event_shape)`` before
        initialisation), ``ptr`` and ``count`` (0-d int64). The tensors are copies.
        """
        if self._buffer is None:
            buffer = torch.empty((0, *self.event_shape))
        else:
            buffer = self._buffer.detach().clone().contiguous()
        return {
            "buffer": buffer,
            "ptr": torch.tensor(self._ptr, dtype=torch.int64),
            "count": torch.tensor(self._count, dtype=torch.int64),
        }

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        """Restore a :meth:`state_dict`; raises :class:`CheckpointError` if it does not fit this buffer."""
        hint = "Load a ReplayBuffer.state_dict() saved with the same capacity and event_shape."
        if not isinstance(state, Mapping):
            raise CheckpointError(
                f"ReplayBuffer state must be a mapping with keys {list(_STATE_KEYS)}, got "
                f"{type(state).__name__}. {hint}"
            )
        missing = [key for key in _STATE_KEYS if key not in state]
        unexpected = sorted(str(key) for key in state if key not in _STATE_KEYS)
        if missing or unexpected:
            raise CheckpointError(
                f"ReplayBuffer state has missing keys {missing} and unexpected keys {unexpected}; expected "
                f"exactly {list(_STATE_KEYS)}. {hint}"
            )
        buffer, ptr, count = (state[key] for key in _STATE_KEYS)
        full = (self.capacity, *self.event_shape)
        if not isinstance(buffer, Tensor) or not buffer.is_floating_point():
            raise CheckpointError(
                f"ReplayBuffer state 'buffer' must be a floating-point tensor of shape {full}, got "
                f"{getattr(buffer, 'dtype', type(buffer).__name__)}. {hint}"
            )
        if tuple(buffer.shape) not in (full, (0, *self.event_shape)):
            raise CheckpointError(
                f"ReplayBuffer state 'buffer' has shape {tuple(buffer.shape)}; this buffer expects {full} "
                f"(capacity={self.capacity}, event_shape={tuple(self.event_shape)}). {hint}"
            )
        values = {}
        for key, value, upper in (("ptr", ptr, self.capacity - 1), ("count", count, None)):
            if (
                not isinstance(value, Tensor)
                or value.numel() != 1
                or value.is_floating_point()
                or value.is_complex()
                or value.dtype == torch.bool
            ):
                raise CheckpointError(
                    f"ReplayBuffer state {key!r} must be a one-element integer tensor, got "
                    f"{tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__}"
                    f"{' of dtype ' + str(value.dtype) if isinstance(value, Tensor) else ''}. {hint}"
                )
            v = int(value.reshape(()))
            if v < 0 or (upper is not None and v > upper):
                bound = f"[0, {upper}]" if upper is not None else ">= 0"
                raise CheckpointError(f"ReplayBuffer state {key!r} = {v} is out of range {bound}. {hint}")
            values[key] = v
        if buffer.shape[0] == 0:
            self._buffer = None
        else:
            device = self._buffer.device if self._buffer is not None else buffer.device
            self._buffer = buffer.detach().to(device=device, copy=True)
        self._ptr = values["ptr"]
        self._count = values["count"]
