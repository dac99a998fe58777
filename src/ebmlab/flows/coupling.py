"""Coupling layers: NICE additive coupling (volume preserving) and RealNVP affine coupling.

The coordinates are split into a conditioning part a = z[c] and a transformed part b = z[t]:

* additive (NICE, Dinh et al. 2014):  x[c] = a,  x[t] = b + m(a),                log|det| = 0;
* affine (RealNVP, Dinh et al. 2016): x[t] = b · exp(s(a)) + m(a),  log|det| = Σ_j s_j(a),

with m, s small MLPs. s = κ·tanh(ŝ/κ) is softly clamped to (-κ, κ) so one layer can never blow up.
The last layer of each MLP starts at zero, so every coupling starts as the identity.

:func:`alternating_partitions` gives the usual alternating masks: even/odd coordinates, swapped at every
layer, so every coordinate is transformed by every other layer.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from ebmlab.errors import ConfigError
from ebmlab.flows.base import Bijection, check_vectors

__all__ = ["AdditiveCoupling", "AffineCoupling", "alternating_partitions", "make_mlp"]


def make_mlp(n_in: int, n_out: int, hidden: int, depth: int, generator: torch.Generator | None = None) -> nn.Sequential:
    """MLP n_in → hidden (×depth, SiLU) → n_out; weights U(±1/√fan_in) from ``generator``, last layer 0."""
    if depth < 1 or hidden < 1:
        raise ConfigError(f"make_mlp: depth and hidden must be >= 1, got depth={depth}, hidden={hidden}.")
    widths = [n_in] + [hidden] * depth
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        lin = nn.Linear(a, b)
        bound = 1.0 / math.sqrt(a)
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=generator)
            lin.bias.uniform_(-bound, bound, generator=generator)
        layers += [lin, nn.SiLU()]
    last = nn.Linear(widths[-1], n_out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    layers.append(last)
    return nn.Sequential(*layers)


def alternating_partitions(dim: int, n_layers: int) -> list[tuple[Tensor, Tensor]]:
    """``n_layers`` (conditioning, transformed) index pairs: even/odd coordinates, swapped each layer."""
    if dim < 2:
        raise ConfigError(
            f"coupling layers need dim >= 2 to split the coordinates, got dim={dim}; "
            "for D = 1 use flows.Shift (the only volume-preserving map of ℝ up to sign)."
        )
    idx = torch.arange(dim, device="cpu")  # index buffers: built here, moved with the module
    even, odd = idx[idx % 2 == 0], idx[idx % 2 == 1]
    return [(even, odd) if k % 2 == 0 else (odd, even) for k in range(n_layers)]


class _Coupling(Bijection):
    cond: Tensor
    trans: Tensor

    def __init__(
        self,
        dim: int,
        cond: Tensor,
        trans: Tensor,
        n_params: int,
        hidden: int,
        depth: int,
        generator: torch.Generator | None,
    ) -> None:
        super().__init__()
        cond, trans = torch.as_tensor(cond, dtype=torch.long), torch.as_tensor(trans, dtype=torch.long)
        both = torch.cat([cond, trans]).sort().values
        if cond.numel() == 0 or trans.numel() == 0 or not torch.equal(both, torch.arange(dim)):
            raise ConfigError(
                f"coupling: cond {cond.tolist()} and trans {trans.tolist()} must be a non-empty partition "
                f"of range({dim})."
            )
        self.dim = int(dim)
        self.register_buffer("cond", cond)
        self.register_buffer("trans", trans)
        self.net = make_mlp(cond.numel(), n_params * trans.numel(), hidden, depth, generator)

    def _params(self, z: Tensor) -> Tensor:
        return self.net(z.index_select(1, self.cond))

    def _put(self, z: Tensor, b: Tensor) -> Tensor:
        return z.index_copy(1, self.trans, b)


class AdditiveCoupling(_Coupling):
    """NICE: x[t] = z[t] + m(z[c]), x[c] = z[c]; volume preserving (log|det| ≡ 0)."""

    def __init__(
        self,
        dim: int,
        cond: Tensor,
        trans: Tensor,
        hidden: int = 64,
        depth: int = 2,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(dim, cond, trans, 1, hidden, depth, generator)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        check_vectors(z, self.dim, "AdditiveCoupling.forward")
        b = z.index_select(1, self.trans) + self._params(z)
        return self._put(z, b), z.new_zeros(z.shape[0])

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        check_vectors(x, self.dim, "AdditiveCoupling.inverse")
        b = x.index_select(1, self.trans) - self._params(x)
        return self._put(x, b), x.new_zeros(x.shape[0])


class AffineCoupling(_Coupling):
    """RealNVP: x[t] = z[t]·exp(s) + m, s = κ tanh(ŝ/κ), (ŝ, m) = MLP(z[c]); log|det| = Σ s."""

    def __init__(
        self,
        dim: int,
        cond: Tensor,
        trans: Tensor,
        hidden: int = 64,
        depth: int = 2,
        scale_clamp: float = 3.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(dim, cond, trans, 2, hidden, depth, generator)
        if scale_clamp <= 0:
            raise ConfigError(f"AffineCoupling: scale_clamp must be > 0, got {scale_clamp}.")
        self.scale_clamp = float(scale_clamp)

    def _scale_shift(self, a_src: Tensor) -> tuple[Tensor, Tensor]:
        raw_s, m = self._params(a_src).chunk(2, dim=1)
        k = self.scale_clamp
        return k * torch.tanh(raw_s / k), m

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        check_vectors(z, self.dim, "AffineCoupling.forward")
        s, m = self._scale_shift(z)
        b = z.index_select(1, self.trans) * s.exp() + m
        return self._put(z, b), s.sum(dim=1)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        check_vectors(x, self.dim, "AffineCoupling.inverse")
        s, m = self._scale_shift(x)
        b = (x.index_select(1, self.trans) - m) * (-s).exp()
        return self._put(x, b), -s.sum(dim=1)
