"""Toy data of the GEBM experiments (docs/gebm.md): Gaussian mixtures with exact mode weights.

* ``weighted_ring``: 8 Gaussians (std 0.5) on a circle of radius 4 with unequal weights ∝ (8, 4, 2, 1, 1, 2, 4, 8):
  a generator with a Gaussian latent spreads mass along the ring; the energy can reweight the modes.
* ``grid25``: 25 Gaussians (std 0.1) on the 5×5 grid {−4, −2, 0, 2, 4}², weights ∝ 1 + (k mod 3) — separated
  modes for the kinetic-versus-overdamped latent-sampler comparison.

Configs use them as ``data: {name: gebm-ring, n: 10000}`` and ``data: {name: gebm-grid25}`` (registered in
``ebmlab.experiments.builtin``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlab.errors import ConfigError
from ebmlab.targets.gmm import GaussianMixture, circle_means

__all__ = ["RING_WEIGHTS", "grid25", "grid_data", "ring_data", "weighted_ring"]

RING_WEIGHTS = (8.0, 4.0, 2.0, 1.0, 1.0, 2.0, 4.0, 8.0)


def weighted_ring(radius: float = 4.0, std: float = 0.5) -> GaussianMixture:
    """8 modes on a circle, weights ∝ ``RING_WEIGHTS`` (largest 8/30 ≈ 0.27, smallest 1/30 ≈ 0.033)."""
    return GaussianMixture(circle_means(8, radius), std, weights=RING_WEIGHTS, name="weighted-ring")


def grid25(spacing: float = 2.0, std: float = 0.1) -> GaussianMixture:
    """5×5 grid of modes with spacing ``spacing`` centred at 0, weights ∝ 1 + (k mod 3)."""
    axis = (torch.arange(5, dtype=torch.float64, device="cpu") - 2) * spacing  # a target: built on the CPU
    means = torch.cartesian_prod(axis, axis)
    weights = 1.0 + torch.arange(25, dtype=torch.float64, device="cpu") % 3
    return GaussianMixture(means, std, weights=weights, name="grid25")


def _draw(target: GaussianMixture, n: int, split: str, seed: int) -> Tensor:
    splits = ("train", "val", "test")
    if split not in splits:
        raise ConfigError(f"split must be one of {splits}, got {split!r}.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a positive int, got {n!r}.")
    gen = torch.Generator(device="cpu").manual_seed(3 * int(seed) + splits.index(split))
    return target.sample(n, gen).to(torch.float32)


def ring_data(n: int = 10_000, split: str = "train", seed: int = 0) -> Tensor:
    """``n`` exact draws of :func:`weighted_ring` (split seeds 3·seed + {0, 1, 2})."""
    return _draw(weighted_ring(), n, split, seed)


def grid_data(n: int = 10_000, split: str = "train", seed: int = 0) -> Tensor:
    """``n`` exact draws of :func:`grid25`."""
    return _draw(grid25(), n, split, seed)
