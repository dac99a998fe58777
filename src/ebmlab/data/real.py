"""Small real data sets bundled with scikit-learn (no download): digits and three tabular sets.

* ``digits``: 1,797 8×8 grey images with 17 intensity levels 0..16 (``sklearn.datasets.load_digits``).
  Scaled to [−1, 1] by x/8 − 1 (``scale="symmetric"``, the default) or to [0, 1] by x/16
  (``scale="unit"``); flat ``(n, 64)`` or, with ``image=True``, ``(n, 1, 8, 8)``.
* ``iris`` (150×4), ``wine`` (178×13), ``breast-cancer`` (569×30): standardised per feature with the
  **train** split's mean and standard deviation (so the test split is transformed the same way).

Every set has a fixed stratified train/test split (25 % test, ``sklearn.model_selection.train_test_split``
with ``random_state=seed``, default 0): digits 1,347 / 450, iris 112 / 38, wine 133 / 45,
breast-cancer 426 / 143.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split

from ebmlab.data.base import Dataset
from ebmlab.errors import ConfigError

__all__ = ["DIGIT_SCALES", "TABULAR", "load_digits", "load_tabular"]

TEST_FRACTION = 0.25
DIGIT_SCALES = ("symmetric", "unit")
TABULAR: dict[str, Callable[..., Any]] = {
    "iris": skd.load_iris,
    "wine": skd.load_wine,
    "breast-cancer": skd.load_breast_cancer,
}


def _check_split(name: str, split: str) -> None:
    if split not in ("train", "test"):
        raise ConfigError(f"data set {name!r} has splits 'train' and 'test', got {split!r}.")


@lru_cache(maxsize=16)
def _split_arrays(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    loader = skd.load_digits if name == "digits" else TABULAR[name]
    bunch = loader()
    x, y = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y, random_state=seed)
    return x_tr, x_te, y_tr, y_te


def _pick(name: str, split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x_tr, x_te, y_tr, y_te = _split_arrays(name, seed)
    return (x_tr, y_tr) if split == "train" else (x_te, y_te)


def load_digits(split: str = "train", scale: str = "symmetric", image: bool = False, seed: int = 0) -> Dataset:
    """The digits split ``split`` scaled to [−1, 1] (``symmetric``) or [0, 1] (``unit``); see module doc."""
    _check_split("digits", split)
    if scale not in DIGIT_SCALES:
        raise ConfigError(f"digits: scale must be one of {DIGIT_SCALES}, got {scale!r}.")
    x, y = _pick("digits", split, int(seed))
    x = x / 8.0 - 1.0 if scale == "symmetric" else x / 16.0
    t = torch.as_tensor(x, dtype=torch.float32, device="cpu")  # data sets live on the CPU; batches are moved
    if image:
        t = t.reshape(-1, 1, 8, 8)
    low, high = (-1.0, 1.0) if scale == "symmetric" else (0.0, 1.0)
    info = {"source": "sklearn.datasets.load_digits", "seed": int(seed), "scale": scale, "range": (low, high)}
    return Dataset("digits", split, t, torch.as_tensor(y, device="cpu"), info)


def load_tabular(name: str, split: str = "train", seed: int = 0) -> Dataset:
    """A tabular set (``iris``, ``wine``, ``breast-cancer``) standardised with the train split's statistics."""
    if name not in TABULAR:
        raise ConfigError(f"unknown tabular data set {name!r}; valid: {', '.join(TABULAR)}.")
    _check_split(name, split)
    x_tr, _, _, _ = _split_arrays(name, int(seed))
    mean, std = x_tr.mean(0), x_tr.std(0)
    std = np.where(std > 0, std, 1.0)
    x, y = _pick(name, split, int(seed))
    t = torch.as_tensor((x - mean) / std, dtype=torch.float32, device="cpu")
    info = {"source": f"sklearn.datasets.{TABULAR[name].__name__}", "seed": int(seed), "standardised": "train"}
    return Dataset(name, split, t, torch.as_tensor(y, device="cpu"), info)
