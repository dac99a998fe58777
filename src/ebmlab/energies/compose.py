"""Composition of energies: tempering, sums, conditioning, clamping and latent pull-backs.

All of these are ``nn.Module`` so that parameters of the wrapped energies are registered, and
each forwards an analytic ``energy_and_grad`` when every part has one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ebmlab.densities import Density
from ebmlab.energies.base import EnergyFn, energy_and_grad, evaluate_energy
from ebmlab.errors import ConfigError, ShapeError

__all__ = ["Clamped", "Conditioned", "LatentPullback", "SumEnergy", "Tempered"]


def _register(module: nn.Module, name: str, energy: EnergyFn) -> None:
    if isinstance(energy, nn.Module):
        module.add_module(name, energy)
    else:
        object.__setattr__(module, name, energy)


def _has_grad(energy: EnergyFn) -> bool:
    """Whether ``energy_and_grad`` avoids autograd for this energy (analytic or hand-written gradient)."""
    return getattr(energy, "energy_and_grad", None) is not None or getattr(energy, "input_grad", None) is not None


class Tempered(nn.Module):
    """β·E(x): the Boltzmann distribution of E at inverse temperature β (T = 1/β)."""

    base: EnergyFn

    def __init__(self, energy: EnergyFn, beta: float) -> None:
        super().__init__()
        if not float(beta) >= 0:
            raise ConfigError(f"Tempered: beta must be >= 0, got {beta!r}.")
        _register(self, "base", energy)
        self.beta = float(beta)
        if _has_grad(energy):
            self.energy_and_grad = self._energy_and_grad

    def forward(self, x: Tensor) -> Tensor:
        return self.beta * evaluate_energy(self.base, x)

    def _energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        e, g = energy_and_grad(self.base, x)
        return self.beta * e, self.beta * g


class SumEnergy(nn.Module):
    """Σᵢ wᵢ·Eᵢ(x); a product of Boltzmann densities (a product of experts)."""

    def __init__(self, *energies: EnergyFn, weights: list[float] | None = None) -> None:
        super().__init__()
        if not energies:
            raise ConfigError("SumEnergy needs at least one energy.")
        if weights is not None and len(weights) != len(energies):
            raise ConfigError(f"SumEnergy: {len(energies)} energies but {len(weights)} weights.")
        self.weights = [1.0] * len(energies) if weights is None else [float(w) for w in weights]
        self.parts: list[EnergyFn] = list(energies)
        for i, energy in enumerate(energies):
            _register(self, f"part{i}", energy)
        if all(_has_grad(e) for e in energies):
            self.energy_and_grad = self._energy_and_grad

    def forward(self, x: Tensor) -> Tensor:
        return sum(w * evaluate_energy(e, x) for w, e in zip(self.weights, self.parts, strict=True))  # type: ignore[return-value]

    def _energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        total_e, total_g = None, None
        for w, part in zip(self.weights, self.parts, strict=True):
            e, g = energy_and_grad(part, x)
            total_e = w * e if total_e is None else total_e + w * e
            total_g = w * g if total_g is None else total_g + w * g
        assert total_e is not None and total_g is not None
        return total_e, total_g


class Conditioned(nn.Module):
    """x ↦ E(x, y) for a fixed conditioning input y, one row of y per chain.

    ``y`` has shape ``(n, *y_event)`` matching the chains, or ``(*y_event)`` shared by all chains
    (broadcast). Used e.g. for the rate–distortion conditional E(x) + β·ρ(x, y) (seed 000) and for
    clamping observed coordinates.
    """

    joint: Callable[[Tensor, Tensor], Tensor]
    y: Tensor

    def __init__(self, energy_xy: Callable[[Tensor, Tensor], Tensor], y: Tensor, shared: bool = False) -> None:
        super().__init__()
        _register(self, "joint", energy_xy)  # type: ignore[arg-type]
        self.register_buffer("y", y.detach())
        self.shared = shared

    def forward(self, x: Tensor) -> Tensor:
        y = self.y
        if self.shared:
            y = y.unsqueeze(0).expand(x.shape[0], *y.shape)
        elif y.shape[0] != x.shape[0]:
            raise ShapeError(
                f"Conditioned: y has {y.shape[0]} rows but x has {x.shape[0]} chains; pass one y per chain "
                "or use shared=True for a single y."
            )
        e = self.joint(x, y)
        if e.shape != x.shape[:1]:
            raise ShapeError(f"Conditioned: E(x, y) returned shape {tuple(e.shape)}, expected ({x.shape[0]},).")
        return e


class Clamped(nn.Module):
    """The conditional p(x_free | x_obs) ∝ exp(−E(x)) with the observed coordinates held at given values.

    E_c(x) = E(m ⊙ x_obs + (1 − m) ⊙ x) for a boolean ``mask`` m (True = observed), shared ``(*event)`` or one
    per chain ``(n, *event)``, and ``observed`` values of the same shapes. Any sampler can then run on the full
    x: the energy and its gradient ignore the observed coordinates, so the free ones are sampled from the exact
    conditional and the observed ones only diffuse, harmlessly (for MALA their proposal is a symmetric random
    walk that cancels in the acceptance ratio). :meth:`fill` writes the observed values into samples, e.g. for
    image completion.
    """

    energy: EnergyFn

    def __init__(self, energy: EnergyFn, observed: Tensor, mask: Tensor) -> None:
        super().__init__()
        if mask.dtype != torch.bool:
            raise ConfigError(f"Clamped: mask must be a boolean tensor (True = observed), got dtype {mask.dtype}.")
        if observed.shape != mask.shape:
            raise ShapeError(
                f"Clamped: observed {tuple(observed.shape)} and mask {tuple(mask.shape)} must have the same shape."
            )
        _register(self, "energy", energy)
        self.register_buffer("observed", observed.detach())
        self.register_buffer("mask", mask)
        if _has_grad(energy):
            self.energy_and_grad = self._energy_and_grad

    def fill(self, x: Tensor) -> Tensor:
        """x with its observed coordinates replaced by the observed values."""
        mask: Tensor = self.mask  # type: ignore[assignment]
        observed: Tensor = self.observed  # type: ignore[assignment]
        if mask.shape not in (x.shape[1:], x.shape):
            raise ShapeError(
                f"Clamped: x has shape {tuple(x.shape)} but the mask has {tuple(mask.shape)}; it must be one "
                "event (shared by all chains) or one row per chain."
            )
        return torch.where(mask, observed.to(x.dtype), x)

    def forward(self, x: Tensor) -> Tensor:
        return evaluate_energy(self.energy, self.fill(x))

    def _energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        e, g = energy_and_grad(self.energy, self.fill(x))
        mask: Tensor = self.mask  # type: ignore[assignment]
        return e, g.masked_fill(mask, 0.0)


class LatentPullback(nn.Module):
    """Energy on latents z pulling E back through a generator G (seed 002's latent MCMC):

    E_z(z) = E(G(z)) − log p(z),   i.e. ν(z) ∝ p(z)·exp(−E(G(z))),

    for any prior :class:`~ebmlab.densities.Density` p (default N(0, I): E_z = E(G(z)) + ½‖z‖² + const, the
    constant (d/2) log 2π dropped so that the energy equals the seed's). Pass ``prior=`` for another latent prior.
    """

    energy: EnergyFn
    generator: Callable[[Tensor], Tensor]

    def __init__(self, energy: EnergyFn, generator: Callable[[Tensor], Tensor], prior: Density | None = None) -> None:
        super().__init__()
        if prior is not None and not isinstance(prior, Density):
            raise ConfigError(
                f"LatentPullback: prior must be a Density (event_shape, sample, log_prob), got {prior!r}."
            )
        _register(self, "energy", energy)
        _register(self, "generator", generator)  # type: ignore[arg-type]
        self.prior = prior

    def forward(self, z: Tensor) -> Tensor:
        e = evaluate_energy(self.energy, self.generator(z))
        if self.prior is None:
            return e + 0.5 * z.reshape(z.shape[0], -1).square().sum(1)
        return e - self.prior.log_prob(z)
