"""The ``Dataset`` container shared by every loader: a tensor of samples, optional labels, provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

__all__ = ["SPLITS", "Dataset"]

#: split names understood by the loaders (real data sets have only train and test)
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """A fixed, deterministic split of a data set.

    Attributes:
        name: registry name (``get_dataset(name)``).
        split: ``train``, ``val`` or ``test``.
        x: samples ``(n, *event_shape)``, float32.
        y: integer class labels ``(n,)`` where the data set has them, else ``None``.
        info: provenance and preprocessing (source, seed, scale, standardisation, bounds).
    """

    name: str
    split: str
    x: Tensor
    y: Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: int | slice | Tensor) -> Tensor:
        return self.x[index]

    @property
    def event_shape(self) -> tuple[int, ...]:
        """Shape of one sample."""
        return tuple(self.x.shape[1:])

    def __repr__(self) -> str:
        return f"Dataset(name={self.name!r}, split={self.split!r}, x={tuple(self.x.shape)})"
