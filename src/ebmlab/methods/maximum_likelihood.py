"""Maximum likelihood for an energy-based model over any negatives object (:mod:`ebmlab.methods.negatives`).

For p_θ(x) = exp(−E_θ(x)) / Z(θ), the gradient of the negative log-likelihood is (seed 003 §2.1.2)

    ∇_θ NLL(θ) = E_data[∇_θ E_θ(x)] − E_{p_θ}[∇_θ E_θ(x̃)],

with the model expectation replaced by (weighted) negatives x̃ ("analysis by synthesis", seed 001). The
surrogate loss whose gradient is that estimate is

    L(θ) = mean_i E_θ(xᵢ) − Σ_j w̃_j E_θ(x̃ⱼ) + α · (mean_i E_θ(xᵢ)² + Σ_j w̃_j E_θ(x̃ⱼ)²),

x̃ detached, w̃ = 1/n or the self-normalised AIS weights, α ≥ 0 an optional energy-magnitude penalty (Du &
Mordatch 2019). Sampling differentiates E with respect to x only, so no gradient reaches θ before
``loss.backward()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, evaluate_energy
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.methods.negatives import NegativeBatch, Negatives, generator_of
from ebmlab.training.method import DEFAULT_GROUP, Losses, Method, StepContext

__all__ = ["MaximumLikelihood", "ml_loss"]


def ml_loss(
    energy: EnergyFn, data: Tensor, neg: NegativeBatch, energy_reg: float = 0.0
) -> tuple[Tensor, dict[str, Tensor]]:
    """The surrogate loss above and the logged ``energy_data``, ``energy_neg`` (weighted), ``gap`` (≈ 0 at the fixed
    point) and ``neg_norm`` (weighted mean ‖x̃‖, a divergence signal). Equal weights (no ``log_weights``) take plain
    means, with no weight tensor (fewer ops in the step and in its backward pass)."""
    e_data = evaluate_energy(energy, data)
    e_neg = evaluate_energy(energy, neg.x)
    mean_data = e_data.mean()
    w = None if neg.log_weights is None else neg.weights().to(e_neg.dtype)
    weighted = (lambda v: v.mean()) if w is None else (lambda v: (w * v).sum())
    mean_neg = weighted(e_neg)
    check_finite(mean_data, mean_neg, e_data, e_neg, neg.origin)
    loss = mean_data - mean_neg
    if energy_reg > 0:
        loss = loss + energy_reg * (e_data.square().mean() + weighted(e_neg.square()))
    with torch.no_grad():  # the logs: no graph
        log = {
            "energy_data": mean_data.detach(),
            "energy_neg": mean_neg.detach(),
            "gap": mean_neg - mean_data,
            "neg_norm": weighted(neg.x.reshape(neg.x.shape[0], -1).norm(dim=1)),
        }
    return loss, log


def check_finite(mean_data: Tensor, mean_neg: Tensor, e_data: Tensor, e_neg: Tensor, origin: str = "") -> None:
    """A one-line :class:`~ebmlab.errors.NonFiniteError` naming where E is non-finite: at negatives (``origin``: how
    they were drawn; the chains do not evaluate E at their final positions, this is where it is tested) or at data
    points. One host read when all is finite (of the sum of the two means, non-finite iff some E is, barring
    overflow of the sums; rows are read only when it is not)."""
    with torch.no_grad():
        if bool(torch.isfinite(mean_data + mean_neg)):
            return
    for name, e, fix in (
        ("negative samples" + (f" {origin}" if origin else ""), e_neg,
         "lower the sampler's step size, raise energy_reg, or clip the negatives with clamp=(low, high)"),
        ("data points", e_data, "the energy overflows or its parameters are non-finite; lower the learning rate "
         "or raise energy_reg"),
    ):  # fmt: skip
        bad = (~torch.isfinite(e)).nonzero().flatten()
        if bad.numel():
            raise NonFiniteError(
                f"maximum likelihood: the energy is non-finite at {bad.numel()} of {e.numel()} {name} "
                f"(first: {bad[:5].tolist()}); {fix}."
            )


class MaximumLikelihood(Method):
    """Learn E_θ by maximum likelihood with negatives from ``negatives.draw`` (module doc).

    Args:
        energy: E_θ, an ``nn.Module`` (or callable) mapping ``(n, *event) -> (n,)``.
        negatives: a :class:`~ebmlab.methods.negatives.Negatives` (ShortRun, Persistent, FromData, Annealed, Tempered).
        n_negatives: negatives per step (default: the batch size).
        energy_reg: α ≥ 0.
        data_noise: standard deviation of Gaussian noise added to each data batch (0: none).
    """

    def __init__(
        self,
        energy: EnergyFn,
        negatives: Negatives,
        n_negatives: int | None = None,
        energy_reg: float = 0.0,
        data_noise: float = 0.0,
    ) -> None:
        super().__init__()
        if not callable(energy):
            raise ConfigError(f"energy must be a callable (n, *event) -> (n,), got {type(energy).__name__}.")
        for name, value in (("energy_reg", energy_reg), ("data_noise", data_noise)):
            if not (float(value) >= 0 and math.isfinite(float(value))):
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}.")
        if n_negatives is not None and (
            isinstance(n_negatives, bool) or not isinstance(n_negatives, int) or n_negatives < 1
        ):
            raise ConfigError(f"n_negatives must be an int >= 1, got {n_negatives!r}.")
        self.energy = energy
        self._negatives: Negatives | None = negatives
        self.n_negatives = n_negatives
        self.energy_reg, self.data_noise = float(energy_reg), float(data_noise)

    @property
    def negatives(self) -> Negatives:
        assert self._negatives is not None
        return self._negatives

    def check_batch(self, batch: object) -> Tensor:
        if not isinstance(batch, Tensor) or batch.dim() < 2 or batch.shape[0] < 1:
            raise ShapeError(
                f"{type(self).__name__}.losses needs a data batch of shape (n, *event), got "
                f"{getattr(batch, 'shape', type(batch).__name__)}."
            )
        return batch

    @torch.no_grad()
    def noisy(self, batch: Tensor, generator: torch.Generator) -> Tensor:
        if self.data_noise == 0.0:
            return batch
        noise = torch.randn(batch.shape, generator=generator, dtype=batch.dtype, device=batch.device)
        return batch + self.data_noise * noise

    def losses(self, batch: Tensor | None, ctx: StepContext) -> Losses:
        """ML loss (``minimize["model"]``) with the logs of :func:`ml_loss` and of the negatives (``accept`` for
        Metropolis kernels, ``ess`` for annealed, ``swap_accept``/``swap_accept_min`` for tempered)."""
        batch = self.check_batch(batch)
        generator = generator_of(ctx)
        data = self.noisy(batch.detach(), generator)
        neg = self.negatives.draw(self.energy, self.n_negatives or data.shape[0], ctx, data=data)
        loss, log = ml_loss(self.energy, data, neg, self.energy_reg)
        return Losses({DEFAULT_GROUP: loss}, {**log, **{k: v.to(loss.dtype) for k, v in neg.stats.items()}})

    def extra_state(self) -> dict[str, Tensor]:
        """The persistent chains of the negatives (replay buffer or replicas); empty otherwise."""
        return self.negatives.extra_state() if hasattr(self.negatives, "extra_state") else {}

    def load_extra_state(self, state: Mapping[str, Tensor]) -> None:
        if hasattr(self.negatives, "load_extra_state"):
            self.negatives.load_extra_state(state)
