"""Ready-made flows x = S · F(z): F a stack of couplings (NICE additive or RealNVP affine), S an LU matrix.

For D = 1 there is nothing to couple: F is a shift (the only volume-preserving maps of ℝ are ±z + b), so
x = S(z + b′) is Gaussian. It is built as x = s·z + b — the same family (b = s·b′) — because with the
shift inside, the mean s·b′ moves only as fast as s times b′'s step, which makes Adam crawl when s is small. Parameters are initialised from ``seed`` alone (an explicit
``torch.Generator``), so two flows built with one seed are identical. ``init_scale`` starts S at
``init_scale · I`` (a wider initial P(x) for spread-out targets).
"""

from __future__ import annotations

import torch

from ebmlab.errors import ConfigError
from ebmlab.flows.base import Bijection, Compose, FlowDistribution
from ebmlab.flows.coupling import AdditiveCoupling, AffineCoupling, alternating_partitions
from ebmlab.flows.linear import LULinear, Shift

__all__ = ["FLOW_KINDS", "make_flow", "nice", "realnvp"]

#: names accepted by :func:`make_flow`
FLOW_KINDS = ("nice", "realnvp")


def _stack(kind: str, dim: int, n_couplings: int, hidden: int, depth: int, seed: int, init_scale: float) -> Compose:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ConfigError(f"{kind}: dim must be a positive int, got {dim!r}.")
    if n_couplings < 1:
        raise ConfigError(f"{kind}: n_couplings must be >= 1, got {n_couplings}.")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))  # initial weights: built on the CPU, moved with .to
    if dim == 1:
        return Compose([LULinear(1, init_scale=init_scale), Shift(1)])
    layers: list[Bijection] = []
    for cond, trans in alternating_partitions(dim, n_couplings):
        if kind == "nice":
            layers.append(AdditiveCoupling(dim, cond, trans, hidden, depth, generator=gen))
        else:
            layers.append(AffineCoupling(dim, cond, trans, hidden, depth, generator=gen))
    layers.append(LULinear(dim, init_scale=init_scale))
    return Compose(layers)


def nice(
    dim: int, n_couplings: int = 4, hidden: int = 64, depth: int = 2, seed: int = 0, init_scale: float = 1.0
) -> Compose:
    """x = S · F(z), F = ``n_couplings`` NICE additive couplings (|∂F/∂z| ≡ 1), S = :class:`LULinear`.

    log|det ∂x/∂z| = log|det S|. For ``dim == 1``: x = s·z + b (:class:`LULinear` then :class:`Shift`).
    """
    return _stack("nice", dim, n_couplings, hidden, depth, seed, init_scale)


def realnvp(
    dim: int, n_couplings: int = 4, hidden: int = 64, depth: int = 2, seed: int = 0, init_scale: float = 1.0
) -> Compose:
    """x = S · F(z), F = ``n_couplings`` RealNVP affine couplings, S = :class:`LULinear` (for comparison)."""
    return _stack("realnvp", dim, n_couplings, hidden, depth, seed, init_scale)


def make_flow(
    kind: str,
    dim: int,
    n_couplings: int = 4,
    hidden: int = 64,
    depth: int = 2,
    seed: int = 0,
    init_scale: float = 1.0,
) -> FlowDistribution:
    """A :class:`FlowDistribution` with base N(0, I_dim) and transform ``nice(...)`` or ``realnvp(...)``."""
    if kind not in FLOW_KINDS:
        raise ConfigError(f"make_flow: kind must be one of {FLOW_KINDS}, got {kind!r}.")
    builder = nice if kind == "nice" else realnvp
    return FlowDistribution(builder(dim, n_couplings, hidden, depth, seed, init_scale))
