"""Endless, seeded, resumable mini-batch iteration.

Over a data tensor, epoch ``e`` visits the rows in the order ``randperm(n)`` drawn from a
generator seeded with ``derive_seed(seed, "data", e)``: reshuffles differ between epochs, are
identical between runs with one seed, and the position ``(epoch, batch index)`` alone restores
the iterator exactly. A DataLoader-like iterable is iterated as given; on resume it is
re-iterated and the batches already consumed in the current epoch are skipped, which is exact
when the loader's order is itself deterministic per epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, NonFiniteError, ShapeError

__all__ = ["BatchIterator", "derive_seed"]


def derive_seed(seed: int, *tags: object) -> int:
    """A 63-bit seed derived from ``seed`` and ``tags`` by SHA-256 (stable across processes and
    platforms, unlike ``hash``), so independent streams never share a seed by accident."""
    text = "/".join([str(int(seed)), *map(str, tags)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)


class BatchIterator:
    """Mini-batches forever: ``next()`` returns a batch (or ``None`` when there is no data).

    Args:
        data: a tensor ``(n, *event)``, a DataLoader-like iterable, or ``None``.
        batch_size: rows per batch (tensor data only).
        seed: seed of the epoch permutations.
        shuffle: reshuffle every epoch (tensor data only).
        drop_last: drop the last incomplete batch of an epoch (tensor data only).
        device: where batches are moved to.
    """

    def __init__(
        self,
        data: Tensor | Iterable[Any] | None,
        batch_size: int,
        seed: int,
        *,
        shuffle: bool = True,
        drop_last: bool = True,
        device: torch.device | str | None = None,
    ) -> None:
        self.data = data
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.device = None if device is None else torch.device(device)
        self.epoch = 0
        self.position = 0
        self._perm: Tensor | None = None
        self._iter: Iterator[Any] | None = None
        if isinstance(data, Tensor):
            self._check_tensor(data)
        elif data is not None and not isinstance(data, Iterable):
            raise ConfigError(
                f"data must be a tensor (n, *event), an iterable of batches (e.g. a DataLoader) or None, "
                f"got {type(data).__name__}."
            )

    def _check_tensor(self, data: Tensor) -> None:
        if data.dim() < 1 or data.shape[0] == 0:
            raise ShapeError(f"data must be a tensor of shape (n, *event) with n >= 1, got {tuple(data.shape)}.")
        if data.is_floating_point() and not bool(torch.isfinite(data).all()):
            from ebmlab.data.files import check_data

            check_data(data, "the training data")  # raises, naming the first bad row: never blamed on the lr
        if self.drop_last and data.shape[0] < self.batch_size:
            raise ConfigError(
                f"train.batch_size: {self.batch_size} is larger than the {data.shape[0]} data points, so every "
                "batch would be dropped; lower train.batch_size or set train.drop_last: false."
            )

    @property
    def batches_per_epoch(self) -> int | None:
        """Batches in one epoch of a tensor (None for iterables of unknown length)."""
        if not isinstance(self.data, Tensor):
            return None
        n = self.data.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def state(self) -> dict[str, int]:
        """Position to resume from: ``{"epoch": e, "position": batches consumed in epoch e}``."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state(self, state: dict[str, int]) -> None:
        """Continue from a position saved by :meth:`state`."""
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._perm, self._iter = None, None
        if self.data is not None and not isinstance(self.data, Tensor):
            self._iter = iter(self.data)
            for _ in range(self.position):
                next(self._iter)

    def _permutation(self) -> Tensor:
        assert isinstance(self.data, Tensor)
        n = self.data.shape[0]
        if not self.shuffle:
            return torch.arange(n, device="cpu")
        gen = torch.Generator(device="cpu").manual_seed(derive_seed(self.seed, "data", self.epoch))
        return torch.randperm(n, generator=gen, device="cpu")  # on the CPU: the same order on every device

    def next(self) -> Any:
        """The next batch (moved to ``device``); a new epoch starts after the last batch."""
        if self.data is None:
            return None
        if isinstance(self.data, Tensor):
            batch = self._next_tensor()
        else:
            batch = self._next_item()
        return self._to_device(batch)

    def _next_tensor(self) -> Tensor:
        assert isinstance(self.data, Tensor)
        per_epoch = self.batches_per_epoch or 0
        if self.position >= per_epoch:
            self.epoch, self.position, self._perm = self.epoch + 1, 0, None
        if self._perm is None:
            self._perm = self._permutation()
        lo = self.position * self.batch_size
        idx = self._perm[lo : lo + self.batch_size].to(self.data.device)
        self.position += 1
        return self.data[idx]

    def _next_item(self) -> Any:
        if self._iter is None:
            self._iter = iter(self.data)  # type: ignore[arg-type]
        try:
            item = next(self._iter)
        except StopIteration:
            self.epoch, self.position = self.epoch + 1, 0
            self._iter = iter(self.data)  # type: ignore[arg-type]
            try:
                item = next(self._iter)
            except StopIteration:
                raise ConfigError("the data loader yielded no batches in a whole epoch; check the dataset.") from None
        self.position += 1
        if isinstance(item, (list, tuple)) and len(item) == 1:  # TensorDataset yields (x,)
            item = item[0]
        if isinstance(item, Tensor) and item.is_floating_point() and not bool(torch.isfinite(item).all()):
            row = int((~torch.isfinite(item.reshape(len(item), -1))).any(1).nonzero()[0])
            raise NonFiniteError(
                f"the data loader's batch {self.position - 1} of epoch {self.epoch} holds non-finite values "
                f"(first at row {row} of the batch); clean the data set — training on it would diverge."
            )
        return item

    def _to_device(self, batch: Any) -> Any:
        if self.device is not None and isinstance(batch, Tensor) and batch.device != self.device:
            return batch.to(self.device)
        return batch
