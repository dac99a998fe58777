"""Data sets with fixed, seeded splits: 2-D toys from ``ebmlab.targets``, scikit-learn's digits, tabular sets.

>>> from ebmlab.data import get_dataset
>>> d = get_dataset("digits", "train")
>>> d.x.shape, float(d.x.min()), float(d.x.max())
(torch.Size([1347, 64]), -1.0, 1.0)

Nothing is downloaded: the real data sets ship with scikit-learn, the toys are exact samples.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ebmlab.data.base import SPLITS, Dataset
from ebmlab.data.binary import load_bars_and_stripes, load_binary_digits
from ebmlab.data.real import DIGIT_SCALES, TABULAR, load_digits, load_tabular
from ebmlab.data.toy import DEFAULT_SIZES, load_toy, toy_target
from ebmlab.errors import ConfigError

__all__ = [
    "DEFAULT_SIZES",
    "DIGIT_SCALES",
    "SPLITS",
    "Dataset",
    "dataset_names",
    "get_dataset",
    "load_bars_and_stripes",
    "load_binary_digits",
    "load_digits",
    "load_tabular",
    "load_toy",
    "toy_target",
]

REAL = ("digits", *TABULAR)


def _toy_names() -> tuple[str, ...]:
    try:
        from ebmlab.targets import TARGET_NAMES
    except ImportError:
        return ()
    return tuple(TARGET_NAMES)


def dataset_names() -> tuple[str, ...]:
    """Every name ``get_dataset`` accepts: the real sets, then every target with an exact sampler."""
    return REAL + _toy_names()


def get_dataset(name: str, split: str = "train", **kwargs: Any) -> Dataset:
    """Load a fixed split of a data set by name.

    Args:
        name: ``digits``, ``iris``, ``wine``, ``breast-cancer``, or a target name from ``ebmlab.targets``
            (e.g. ``eight-gaussians``, ``rings``, ``moons``).
        split: ``train`` or ``test`` (toys also ``val``).
        **kwargs: loader options — digits: ``scale`` (``symmetric`` [−1, 1] or ``unit`` [0, 1]), ``image``,
            ``seed``; tabular: ``seed``; toys: ``n``, ``seed``.
    """
    if name == "digits":
        return _call(load_digits, "digits", split=split, **kwargs)
    if name in TABULAR:
        return _call(load_tabular, name, name=name, split=split, **kwargs)
    if name in _toy_names():
        return _call(load_toy, name, name=name, split=split, **kwargs)
    raise ConfigError(f"unknown data set {name!r}; valid data sets: {', '.join(dataset_names())}.")


def _call(loader: Callable[..., Dataset], label: str, /, **kwargs: Any) -> Dataset:
    try:
        inspect.signature(loader).bind(**kwargs)
    except TypeError as exc:
        params = [p for p in inspect.signature(loader).parameters if p not in ("name", "split")]
        raise ConfigError(f"get_dataset({label!r}): {exc}; options for this data set: {', '.join(params)}.") from None
    return loader(**kwargs)
