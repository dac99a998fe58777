"""Block Gibbs sampling for binary units x ∈ {0, 1}^d.

For a block B of units that are conditionally independent given the rest (a single unit, or a
layer of a restricted Boltzmann machine), each unit is resampled from

    p(x_i = 1 | x_rest) = σ((E(x; x_i=0) − E(x; x_i=1)) / T).

Energies with a fast path may define ``conditional_logits(x, index) -> (n, |B|)`` returning these
logits (times T = 1) for the units in ``index``; otherwise they come from 2·|B| batched energy
evaluations per block. A sweep visits the blocks in order (systematic scan). Gibbs moves are
always accepted; ``energy`` in the state is kept current.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, evaluate_energy
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.samplers.base import Sampler, SamplerState, StepInfo
from ebmlab.samplers.finite_watch import BlockCheck

__all__ = ["BlockGibbs"]


class BlockGibbs(Sampler):
    """Systematic-scan block Gibbs sampler over binary vectors of shape ``(n, d)``.

    Args:
        blocks: sequences of unit indices resampled jointly; they must be conditionally independent
            given the other units. ``None``: every unit is its own block (single-site Gibbs, valid
            for any energy).
        temperature: T.
    """

    name = "gibbs"
    uses_gradient = False
    exact = True
    #: a sweep's last energy evaluation is at its new units, for every chain (path.track_on_device)
    ends_at_proposal = True

    def __init__(self, blocks: Sequence[Sequence[int]] | None = None, temperature: float = 1.0) -> None:
        super().__init__(step_size=1.0, temperature=temperature)
        self.blocks = (
            None if blocks is None else [torch.as_tensor(list(b), dtype=torch.long, device="cpu") for b in blocks]
        )
        if self.blocks is not None and any(b.numel() == 0 for b in self.blocks):
            raise ConfigError("gibbs: every block must hold at least one unit index.")
        self._blocks_on: dict[tuple[torch.device, int], list[Tensor]] = {}

    def blocks_on(self, device: torch.device, n_units: int) -> list[Tensor]:
        """The blocks' index tensors on ``device`` (single sites for ``blocks=None``), made once per device."""
        key = (device, n_units)
        if key not in self._blocks_on:
            if self.blocks is None:
                self._blocks_on[key] = list(torch.arange(n_units, device=device).reshape(n_units, 1).unbind(0))
            else:
                self._blocks_on[key] = [b.to(device) for b in self.blocks]
        return self._blocks_on[key]

    def init(self, energy: EnergyFn, x0: Tensor, step_size: float | None = None) -> SamplerState:
        if x0.dim() != 2:
            raise ShapeError(f"gibbs: x0 must have shape (n_chains, n_units), got {tuple(x0.shape)}.")
        if not bool(((x0 == 0) | (x0 == 1)).all()):
            raise ConfigError("gibbs: x0 must be binary (entries 0 or 1); threshold or round it first.")
        if self.blocks is not None:
            used = torch.cat(self.blocks)
            if int(used.max()) >= x0.shape[1] or int(used.min()) < 0:
                raise ConfigError(f"gibbs: block indices must lie in [0, {x0.shape[1]}), got {used.tolist()}.")
        return super().init(energy, x0, step_size)

    def _logits(self, energy: EnergyFn, x: Tensor, index: Tensor) -> Tensor:
        fast = getattr(energy, "conditional_logits", None)
        if fast is not None:
            return fast(x, index)
        n, k = x.shape[0], index.numel()
        flipped = x.unsqueeze(0).repeat(2 * k, 1, 1)  # (2k, n, d)
        rows = torch.arange(k, device=x.device)
        flipped[rows, :, index] = 0.0
        flipped[rows + k, :, index] = 1.0
        with torch.no_grad():
            e = evaluate_energy(energy, flipped.reshape(2 * k * n, -1)).reshape(2 * k, n)
        return (e[:k] - e[k:]).T  # (n, k)

    def step(
        self, energy: EnergyFn, state: SamplerState, generator: torch.Generator | None = None
    ) -> tuple[SamplerState, StepInfo]:
        x, finite = self._resample(energy, state.x, generator)
        if not bool(finite.all()):  # one host read per sweep; the sweep's x is a copy: state stays as it was
            self.raise_nonfinite(state.iteration + 1, finite, x.device, x.shape[1])
        return self._finish(energy, state, x)

    def sweep(
        self, energy: EnergyFn, state: SamplerState, generator: torch.Generator | None = None
    ) -> tuple[SamplerState, StepInfo, Tensor]:
        """:meth:`step` without reading the host (the GPU path of the chain loop): also each block's finiteness
        ``(n_blocks,)``, for :meth:`check` to read later. Units whose logits are NaN are set to 0 meanwhile."""
        x, finite = self._resample(energy, state.x, generator)
        return *self._finish(energy, state, x), finite

    def check(self, finite: Tensor, iteration: int, device: torch.device, n_units: int) -> BlockCheck:
        """The finiteness ``(K, n_blocks)`` of the K sweeps after ``iteration`` (:meth:`sweep`'s flags, stacked) as a
        :class:`~ebmlab.samplers.finite_watch.BlockCheck` whose error is :meth:`step`'s."""
        return BlockCheck(finite, lambda i, row: self.raise_nonfinite(iteration + i + 1, row, device, n_units))

    def raise_nonfinite(self, sweep: int, finite: Tensor, device: torch.device, n_units: int) -> None:
        """Raise the error of sweep ``sweep``, naming the units of its first block with non-finite logits."""
        first = self.blocks_on(device, n_units)[int(finite.logical_not().nonzero()[0])]
        raise NonFiniteError(
            f"gibbs: non-finite conditional logits at sweep {sweep} for units "
            f"{first.tolist()[:5]}; check the energy for overflow or lower the temperature."
        )

    def _resample(self, energy: EnergyFn, x: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """A sweep over the blocks from a copy of ``x``; returns it and each block's finiteness (no host read)."""
        x = x.clone()
        finite = []
        for index in self.blocks_on(x.device, x.shape[1]):
            logits = self._logits(energy, x, index) / self.temperature
            finite.append(torch.isfinite(logits).all())
            u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=x.device)
            x[:, index] = (u < torch.sigmoid(logits)).to(x.dtype)
        return x, torch.stack(finite)

    @staticmethod
    def _finish(energy: EnergyFn, state: SamplerState, x: Tensor) -> tuple[SamplerState, StepInfo]:
        with torch.no_grad():
            e = evaluate_energy(energy, x)
        ones = torch.ones_like(e)
        false = torch.zeros_like(e, dtype=torch.bool)
        info = StepInfo(accept_prob=ones, accepted=~false, nonfinite=false, divergent=false)
        return SamplerState(x, e, None, state.step_size, state.iteration + 1), info
