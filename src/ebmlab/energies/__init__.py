"""Energies: callables ``(n, *event) -> (n,)``, their composition, and neural energies.

>>> import torch
>>> from ebmlab.energies import MLPEnergy, Tempered
>>> energy = Tempered(MLPEnergy(dim=2), beta=0.5)
>>> energy(torch.zeros(4, 2)).shape
torch.Size([4])
"""

from ebmlab.energies.base import Energy, EnergyFn, energy_and_grad, evaluate_energy, parameters_are_constant
from ebmlab.energies.compose import Clamped, Conditioned, LatentPullback, SumEnergy, Tempered
from ebmlab.energies.neural import ConvEnergy, MLPEnergy
from ebmlab.energies.onednn_linears import onednn_linears

__all__ = [
    "Clamped",
    "Conditioned",
    "ConvEnergy",
    "Energy",
    "EnergyFn",
    "LatentPullback",
    "MLPEnergy",
    "SumEnergy",
    "Tempered",
    "energy_and_grad",
    "evaluate_energy",
    "onednn_linears",
    "parameters_are_constant",
]
