"""Binary state spaces that can be enumerated: all 2^d vectors of a Boltzmann machine, in chunks.

(Lives with the energies so that binary energies can enumerate themselves without importing the
estimators; :mod:`ebmlab.estimators.spaces` builds exact spectra on it.)
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from ebmlab.errors import ConfigError

__all__ = ["MAX_ENUMERATION_STATES", "BinarySpace"]

#: largest number of states enumerated (2^24 float64 energies = 128 MiB)
MAX_ENUMERATION_STATES = 2**24


class BinarySpace:
    """All 2^d binary vectors with entries in ``values`` (default {0, 1}; use (−1, 1) for spins).

    State i has coordinate j equal to bit (d−1−j) of i (lexicographic order). States are produced in
    chunks so that up to 2^24 states can be summed over without materialising them all.
    """

    def __init__(
        self,
        dim: int,
        values: tuple[float, float] = (0.0, 1.0),
        dtype: torch.dtype | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"BinarySpace: dim must be a positive int, got {dim!r}.")
        if 2**dim > MAX_ENUMERATION_STATES:
            raise ConfigError(
                f"BinarySpace: 2^{dim} states exceed the enumeration limit 2^{int(math.log2(MAX_ENUMERATION_STATES))}; "
                "estimate log Z by AIS or importance sampling instead."
            )
        self.dim = dim
        self.values = (float(values[0]), float(values[1]))
        self.dtype = dtype or torch.get_default_dtype()
        self.device = torch.device(device)  # where the states are made: the model's device

    @property
    def n_states(self) -> int:
        return 2**self.dim

    def states(self, start: int = 0, stop: int | None = None) -> Tensor:
        """States ``start..stop−1`` as a ``(k, dim)`` tensor."""
        stop = self.n_states if stop is None else min(stop, self.n_states)
        idx = torch.arange(start, stop, dtype=torch.int64, device=self.device)
        shifts = torch.arange(self.dim - 1, -1, -1, dtype=torch.int64, device=self.device)
        bits = ((idx[:, None] >> shifts) & 1).to(self.dtype)
        lo, hi = self.values
        return lo + (hi - lo) * bits

    def chunks(self, chunk_size: int) -> Iterator[Tensor]:
        for start in range(0, self.n_states, chunk_size):
            yield self.states(start, start + chunk_size)

    def __repr__(self) -> str:
        return f"BinarySpace(dim={self.dim}, values={self.values})"
