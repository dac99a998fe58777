"""Binary data sets for Boltzmann machines: binarised digits and noisy bars-and-stripes.

* ``binary-digits``: scikit-learn's 8×8 digits (same fixed split as ``digits``, 1,347 / 450) with
  intensities x/16 thresholded at ``threshold`` (default 0.5) → {0, 1}^64.
* ``bars-and-stripes``: the 2^(s+1) − 2 distinct s×s patterns with all rows or all columns constant
  (MacKay 2003), drawn uniformly, each pixel flipped with probability ``flip``; a fixed seeded draw per
  split (split seed 2·seed + {train: 0, test: 1}). The noise makes every state reachable so that test
  log-likelihoods stay finite under a model that is not the generator.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlab.data.base import Dataset
from ebmlab.data.real import load_digits
from ebmlab.errors import ConfigError

__all__ = ["bars_and_stripes_patterns", "load_bars_and_stripes", "load_binary_digits"]


def load_binary_digits(split: str = "train", threshold: float = 0.5, seed: int = 0) -> Dataset:
    """Digits as {0, 1}^64: pixel intensity x/16 > ``threshold``."""
    if not 0.0 < float(threshold) < 1.0:
        raise ConfigError(f"binary-digits: threshold must lie in (0, 1), got {threshold!r}.")
    d = load_digits(split, scale="unit", seed=seed)
    x = (d.x > float(threshold)).to(torch.float32)
    return Dataset("binary-digits", split, x, d.y, {**d.info, "threshold": float(threshold)})


def bars_and_stripes_patterns(side: int = 4) -> Tensor:
    """The 2^(side+1) − 2 distinct bars-and-stripes patterns, ``(n, side²)`` float32."""
    if isinstance(side, bool) or not isinstance(side, int) or not 2 <= side <= 5:
        raise ConfigError(f"bars-and-stripes: side must be an int in [2, 5], got {side!r}.")
    codes = torch.arange(2**side)
    bits = ((codes[:, None] >> torch.arange(side)) & 1).to(torch.float32)  # (2^s, s)
    stripes = bits[:, :, None].expand(-1, side, side)  # row i constant = bit i
    bars = stripes.transpose(1, 2)
    pats = torch.cat((stripes, bars[1:-1])).reshape(-1, side * side)  # all-0 / all-1 appear once
    return pats


def load_bars_and_stripes(
    split: str = "train", n: int = 1000, side: int = 4, flip: float = 0.05, seed: int = 0
) -> Dataset:
    """``n`` noisy bars-and-stripes patterns for a fixed split (see the module docstring)."""
    if split not in ("train", "test"):
        raise ConfigError(f"bars-and-stripes has splits 'train' and 'test', got {split!r}.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"bars-and-stripes: n must be a positive int, got {n!r}.")
    if not 0.0 <= float(flip) < 0.5:
        raise ConfigError(f"bars-and-stripes: flip must lie in [0, 0.5), got {flip!r}.")
    pats = bars_and_stripes_patterns(side)
    g = torch.Generator(device="cpu").manual_seed(2 * int(seed) + (0 if split == "train" else 1))
    x = pats[torch.randint(pats.shape[0], (n,), generator=g)]
    noise = (torch.rand(x.shape, generator=g) < float(flip)).to(x.dtype)
    x = (x + noise) % 2
    info = {"side": side, "flip": float(flip), "seed": int(seed), "n_patterns": int(pats.shape[0])}
    return Dataset("bars-and-stripes", split, x, None, info)


def binary_digits_data(split: str = "train", threshold: float = 0.5, seed: int = 0) -> Tensor:
    """Config factory: the binarised digits split as a tensor."""
    return load_binary_digits(split, threshold, seed).x


def bars_and_stripes_data(
    split: str = "train", n: int = 1000, side: int = 4, flip: float = 0.05, seed: int = 0
) -> Tensor:
    """Config factory: a noisy bars-and-stripes split as a tensor."""
    return load_bars_and_stripes(split, n, side, flip, seed).x
