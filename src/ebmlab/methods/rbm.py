"""Boltzmann machines trained by CD-k and persistent CD (seed 003 eq. 2.12–2.14).

For p(v) = exp(−F(v)) / Z (F the free energy: the energy of a fully visible machine, or an RBM's energy with
the hidden units summed out), ∇_θ NLL = E_data[∇F(v)] − E_model[∇F(ṽ)]. The surrogate loss

    L(θ) = mean_i F(vᵢ) − mean_j F(ṽⱼ)      (negatives ṽ detached)

has that gradient with the model expectation replaced by Gibbs samples ṽ: k sweeps started at the data
batch (CD-k, Hinton 2002) or continued from the previous step's chains (PCD, Tieleman 2008). Using F
rather than E(v, h) at a sampled h is the Rao–Blackwellised form of the same update (the h-expectation
is exact). CD-k is biased for small k (its fixed points are not the MLE); PCD is consistent when the
learning rate is small enough for the chains to track the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import Tensor

from ebmlab.energies.binary import RBM, FullyVisibleBM
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.training.method import Losses, Method, StepContext

__all__ = ["BoltzmannMachineCD"]


class BoltzmannMachineCD(Method):
    """CD-k (``persistent=False``) or PCD (``persistent=True``, ``n_chains`` chains) for an RBM or FVBM.

    ``sample_sweeps``: Gibbs sweeps from uniform noise used by :meth:`sample`. In a config the machine is a
    component, ``model: {name: rbm, n_visible: 64, n_hidden: 20}`` (or ``{name: fvbm}``); given ``data``
    (a config's data section), an RBM's visible biases start at the data's logits log(p/(1−p)).
    """

    component_kinds: ClassVar[dict[str, str]] = {"model": "energy"}
    model: RBM | FullyVisibleBM
    chains: Tensor

    def __init__(
        self,
        model: RBM | FullyVisibleBM,
        k: int = 1,
        persistent: bool = False,
        n_chains: int = 100,
        sample_sweeps: int = 1000,
        data: Tensor | None = None,
        event_shape: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        for name, val in (("k", k), ("n_chains", n_chains), ("sample_sweeps", sample_sweeps)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ConfigError(f"BoltzmannMachineCD: {name} must be an int >= 1, got {val!r}.")
        if not isinstance(model, RBM | FullyVisibleBM):
            raise ConfigError(
                f"BoltzmannMachineCD: model must be an RBM or FullyVisibleBM, got {type(model).__name__}."
            )
        if event_shape is not None and tuple(event_shape) != tuple(model.event_shape):
            raise ConfigError(
                f"BoltzmannMachineCD: the machine has {model.event_shape[0]} visible units but the data points have "
                f"shape {tuple(event_shape)}; set model.n_visible (or use flat binary data of that size)."
            )
        if isinstance(data, Tensor) and isinstance(model, RBM):
            model.init_visible_bias(data)
        self.model = model
        self.k, self.persistent, self.n_chains, self.sample_sweeps = k, bool(persistent), n_chains, sample_sweeps
        self.register_buffer("chains", torch.zeros(0, model.event_shape[0]), persistent=False)

    @property
    def dim(self) -> int:
        return int(self.model.event_shape[0])

    def _check_batch(self, batch: Tensor) -> Tensor:
        if not isinstance(batch, Tensor) or batch.dim() != 2 or batch.shape[1] != self.dim:
            got = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
            raise ShapeError(f"BoltzmannMachineCD: expected a batch of shape (n, {self.dim}), got {got}.")
        if not bool(((batch == 0) | (batch == 1)).all()):
            raise ConfigError("BoltzmannMachineCD: data must be binary {0, 1}; binarise it (e.g. data: binary-digits).")
        return batch.to(self.chains.dtype)

    def losses(self, batch: Tensor, ctx: StepContext) -> Losses:
        v = self._check_batch(batch)
        g = ctx.generator
        if self.persistent:
            if self.chains.shape[0] == 0:  # first step: chains start at uniform noise
                shape = (self.n_chains, self.dim)
                self.chains = (torch.rand(shape, generator=g, device=g.device) < 0.5).to(v.dtype)
            neg = self.model.gibbs(self.chains, self.k, g)
            self.chains = neg.detach()
        else:
            neg = self.model.gibbs(v, self.k, g)
        f_data, f_neg = self.model.free_energy(v).mean(), self.model.free_energy(neg.detach()).mean()
        log: dict[str, Tensor | float] = {"free_energy_data": f_data.detach(), "free_energy_neg": f_neg.detach()}
        return Losses(minimize={"model": f_data - f_neg}, log=log)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``sample_sweeps`` Gibbs sweeps from uniform noise (exact draws for an RBM with n_h ≤ 20)."""
        if isinstance(self.model, RBM) and self.model.n_hidden <= 20:
            return self.model.sample_exact(n, generator)
        x0 = (torch.rand((n, self.dim), generator=generator, device=generator.device) < 0.5).float()
        return self.model.gibbs(x0, self.sample_sweeps, generator)

    def extra_state(self) -> dict[str, Tensor]:
        return {"chains": self.chains.clone()} if self.persistent else {}

    def load_extra_state(self, state: Mapping[str, Tensor]) -> None:
        if "chains" in state:
            self.chains = state["chains"].clone()
