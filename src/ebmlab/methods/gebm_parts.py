"""Building blocks of a GEBM (:mod:`ebmlab.methods.gebm`): the latent target and two bases.

* :class:`LatentTarget`: E_ν(z) = β·E(G(z)) − log η(z), the energy of the latent posterior
  ν(z) ∝ η(z) e^{−βE(G(z))} for any prior density η (an ordinary energy: every sampler runs on it).
  ``energies.LatentPullback`` is the special case η = N(0, I), β = 1.
* :class:`MLPGenerator`: G(z) = MLP(z), any latent dimension.
* :class:`FlowBase`: G = a flow's transform with η = N(0, I_d), so log g(x) is tractable;
  :func:`realnvp_base` / :func:`nice_base` build one from the flow's arguments (config components).

Each base has ``latent_dim``, from which :class:`~ebmlab.methods.gebm.GEBM` derives its default prior N(0, I).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebmlab.densities import Density
from ebmlab.energies.base import evaluate_energy
from ebmlab.flows import FlowDistribution, make_flow, make_mlp

__all__ = ["FlowBase", "LatentTarget", "MLPGenerator", "nice_base", "realnvp_base"]


class LatentTarget(nn.Module):
    """E_ν(z) = β·E(G(z)) − log η(z): the energy of ν(z) ∝ η(z)·exp(−β E(G(z))) (β = ``sharpen``)."""

    def __init__(self, energy: nn.Module, base: nn.Module, prior: Density, sharpen: float = 1.0) -> None:
        super().__init__()
        self.energy, self.base, self.prior, self.sharpen = energy, base, prior, float(sharpen)
        self.event_shape = tuple(prior.event_shape)

    def forward(self, z: Tensor) -> Tensor:
        return self.sharpen * evaluate_energy(self.energy, self.base(z)) - self.prior.log_prob(z)


class MLPGenerator(nn.Module):
    """G(z) = MLP(z) (SiLU), all weights U(±1/√fan_in) drawn from ``generator``."""

    def __init__(self, latent_dim: int, dim: int, hidden: int = 128, depth: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        self.net = make_mlp(latent_dim, dim, hidden, depth, gen)
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        bound = hidden**-0.5
        with torch.no_grad():
            last.weight.uniform_(-bound, bound, generator=gen)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class FlowBase(nn.Module):
    """G = the flow's transform (η = N(0, I)), so the base density log g(x) is tractable."""

    def __init__(self, flow: FlowDistribution) -> None:
        super().__init__()
        self.flow = flow
        self.latent_dim = flow.dim

    def forward(self, z: Tensor) -> Tensor:
        return self.flow.transform(z)[0]

    def log_prob(self, x: Tensor) -> Tensor:
        return self.flow.log_prob(x)


def realnvp_base(dim: int, n_couplings: int = 4, hidden: int = 64, depth: int = 2, seed: int = 0) -> FlowBase:
    """``base: {name: realnvp, ...}``: a RealNVP :class:`FlowBase` (arguments: :func:`ebmlab.flows.make_flow`'s).

    A component constructor because the flow is assembled from the data's ``dim`` and ``train.seed``.
    """
    return FlowBase(make_flow("realnvp", dim, n_couplings, hidden, depth, seed))


def nice_base(dim: int, n_couplings: int = 4, hidden: int = 64, depth: int = 2, seed: int = 0) -> FlowBase:
    """``base: {name: nice, ...}``: a NICE :class:`FlowBase` (see :func:`realnvp_base`)."""
    return FlowBase(make_flow("nice", dim, n_couplings, hidden, depth, seed))
