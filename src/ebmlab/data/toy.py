"""Toy data sets drawn from the exact samplers of ``ebmlab.targets`` (e.g. 2-D ``eight-gaussians``, ``rings``).

Each split is a fixed draw: ``target.sample(n, torch.Generator().manual_seed(s))`` with the split seed
s = 3·seed + {train: 0, val: 1, test: 2}, so splits are independent and the same arguments always give
the same points. Default sizes: train 10,000, val 2,000, test 5,000. The target (with its exact
``log_prob`` and ``bounds``) is available as ``toy_target(name)`` for evaluation.
"""

from __future__ import annotations

import torch

from ebmlab.data.base import SPLITS, Dataset
from ebmlab.errors import ConfigError

__all__ = ["DEFAULT_SIZES", "load_toy", "toy_target"]

DEFAULT_SIZES = {"train": 10_000, "val": 2_000, "test": 5_000}


def toy_target(name: str):
    """The ``ebmlab.targets`` target behind a toy data set (raises ConfigError if it has no exact sampler)."""
    from ebmlab.targets import get_target

    target = get_target(name)
    if not getattr(target, "has_exact_sample", False):
        raise ConfigError(f"target {name!r} has no exact sampler, so it cannot serve as a data set.")
    return target


def load_toy(name: str, split: str = "train", n: int | None = None, seed: int = 0) -> Dataset:
    """``n`` exact samples (default: ``DEFAULT_SIZES[split]``) of the target ``name`` for a fixed split."""
    if split not in SPLITS:
        raise ConfigError(f"toy data set {name!r} has splits {SPLITS}, got {split!r}.")
    size = DEFAULT_SIZES[split] if n is None else n
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"n must be a positive int, got {n!r}.")
    target = toy_target(name)
    split_seed = 3 * int(seed) + SPLITS.index(split)
    x = target.sample(size, torch.Generator(device="cpu").manual_seed(split_seed))
    info = {"source": f"ebmlab.targets:{name}", "seed": int(seed), "split_seed": split_seed, "bounds": target.bounds}
    return Dataset(name, split, x.to(torch.float32), None, info)
