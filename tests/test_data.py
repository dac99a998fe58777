"""Data sets: fixed seeded splits, scaling, standardisation, toy draws, clear errors."""

from __future__ import annotations

import pytest
import torch

from ebmlab.data import dataset_names, get_dataset, load_digits
from ebmlab.errors import ConfigError


def test_digits_splits_are_fixed_stratified_and_scaled() -> None:
    train, test = get_dataset("digits", "train"), get_dataset("digits", "test")
    assert train.x.shape == (1347, 64) and test.x.shape == (450, 64)
    assert float(train.x.min()) == -1.0 and float(train.x.max()) == 1.0
    # Stratified: every class has the same share in both splits up to one image.
    share_tr = torch.bincount(train.y, minlength=10) / len(train)
    share_te = torch.bincount(test.y, minlength=10) / len(test)
    assert float((share_tr - share_te).abs().max()) < 1.5 / len(test)
    assert torch.equal(load_digits("train").x, train.x)  # deterministic
    unit = get_dataset("digits", "train", scale="unit", image=True)
    assert unit.x.shape == (1347, 1, 8, 8) and float(unit.x.min()) == 0.0 and float(unit.x.max()) == 1.0
    assert torch.allclose(unit.x.reshape(-1, 64) * 2 - 1, train.x)
    other = get_dataset("digits", "train", seed=1)
    assert not torch.equal(other.x, train.x)


@pytest.mark.parametrize("name", ["iris", "wine", "breast-cancer"])
def test_tabular_standardised_with_train_statistics(name: str) -> None:
    train, test = get_dataset(name, "train"), get_dataset(name, "test")
    assert torch.allclose(train.x.mean(0), torch.zeros(train.x.shape[1]), atol=1e-5)
    assert torch.allclose(train.x.std(0, unbiased=False), torch.ones(train.x.shape[1]), atol=1e-4)
    assert test.x.shape[1] == train.x.shape[1] and len(test) > 0
    assert set(test.y.tolist()) <= set(train.y.tolist())


def test_toy_splits_deterministic_and_independent() -> None:
    a = get_dataset("eight-gaussians", "train", n=500)
    b = get_dataset("eight-gaussians", "train", n=500)
    c = get_dataset("eight-gaussians", "test", n=500)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert a.x.shape == (500, 2) and a.x.dtype == torch.float32 and a.y is None
    assert len(get_dataset("rings", "val")) == 2000
    assert "rings" in dataset_names() and "digits" in dataset_names()


def test_errors_name_valid_choices() -> None:
    with pytest.raises(ConfigError, match="valid data sets: digits"):
        get_dataset("mnist")
    with pytest.raises(ConfigError, match="'train' and 'test'"):
        get_dataset("digits", "val")
    with pytest.raises(ConfigError, match="options for this data set: scale, image, seed"):
        get_dataset("digits", "train", scal="unit")
    with pytest.raises(ConfigError, match="scale must be one of"):
        get_dataset("digits", "train", scale="0-1")
    with pytest.raises(ConfigError, match="positive int"):
        get_dataset("moons", "train", n=0)
