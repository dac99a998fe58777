"""Normalising flows: NICE additive couplings, RealNVP affine couplings, an LU-parametrised invertible
matrix, composition, and the flow distribution P(x) of x = T(z), z ~ N(0, I).

Written here rather than wrapped from zuko 1.6 (installed): zuko has NICE/RealNVP couplings and an
``LULinearTransform``, but (i) its distributions sample through ``torch.distributions`` with the global
RNG, while ebmlab draws all randomness from an explicit ``torch.Generator``; (ii) its LU map has no
permutation and an unconstrained diagonal that can cross zero (S singular), where seed 004 needs S
invertible throughout training; (iii) its ``NICE`` flow is affine by default and volume preservation
(|∂F/∂z| ≡ 1, the point of seed 004) would be an option rather than the construction; and (iv) D = 1,
where no coupling can split the coordinates, needs explicit handling. The code here is about 550 lines,
docstrings included.

Conventions: ``forward(z) -> (x, log|det ∂x/∂z|)``, ``inverse(x) -> (z, log|det ∂z/∂x|)``, batched vectors.

>>> import torch
>>> from ebmlab.flows import make_flow
>>> flow = make_flow("nice", dim=2, seed=0)
>>> x, log_p = flow.sample_and_log_prob(5, torch.Generator().manual_seed(0))
>>> torch.allclose(log_p, flow.log_prob(x), atol=1e-5)
True
"""

from ebmlab.flows.base import Bijection, Compose, FlowDistribution, StandardNormal, check_vectors
from ebmlab.flows.builders import FLOW_KINDS, make_flow, nice, realnvp
from ebmlab.flows.coupling import AdditiveCoupling, AffineCoupling, alternating_partitions, make_mlp
from ebmlab.flows.linear import LULinear, Shift

__all__ = [
    "FLOW_KINDS",
    "AdditiveCoupling",
    "AffineCoupling",
    "Bijection",
    "Compose",
    "FlowDistribution",
    "LULinear",
    "Shift",
    "StandardNormal",
    "alternating_partitions",
    "check_vectors",
    "make_flow",
    "make_mlp",
    "nice",
    "realnvp",
]
