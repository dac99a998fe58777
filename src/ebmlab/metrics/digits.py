"""A small digits classifier whose penultimate layer is the feature space for FD/KID on 8×8 digits.

Nothing is downloaded: an MLP 64 → 256 → 128 → 10 (SiLU) is trained on the ``digits`` train split
(``ebmlab.data``) for 40 epochs of Adam (lr 1e-3, batch 64, Gaussian input noise σ = 0.05 so that the
features vary smoothly off the data), all randomness from ``seed``. It takes ~1–3 s on one CPU core and is
cached in memory per (scale, seed), so one process trains it once. The features are the 128 SiLU
activations of the second hidden layer.

``digits_fd_kid`` reports FD and KID of model samples against the test split together with the same
numbers for an equally sized subset of the *train* split: that train-vs-test "floor" is what a model
that reproduced the training data exactly would score.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor, nn

from ebmlab.errors import ShapeError
from ebmlab.metrics.coverage import mode_coverage_from_labels
from ebmlab.metrics.frechet import frechet_distance, kernel_distance

__all__ = ["DigitsClassifier", "digits_classifier", "digits_fd_kid"]


@dataclass
class DigitsClassifier:
    """The trained classifier: ``features(x)`` (n, 128), ``predict(x)`` (n,), test ``accuracy``."""

    net: nn.Sequential
    scale: str
    seed: int
    accuracy: float

    def _input(self, x: Tensor) -> Tensor:
        if x.dim() == 4 and tuple(x.shape[1:]) == (1, 8, 8):
            x = x.reshape(x.shape[0], 64)
        if x.dim() != 2 or x.shape[1] != 64:
            raise ShapeError(f"digits classifier expects (n, 64) or (n, 1, 8, 8) inputs, got {tuple(x.shape)}.")
        return x.detach().to(device=next(self.net.parameters()).device, dtype=torch.float32)  # on the CPU, as built

    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer features (n, 128)."""
        with torch.no_grad():
            return self.net[:-1](self._input(x))

    def predict(self, x: Tensor) -> Tensor:
        """Predicted class (n,)."""
        with torch.no_grad():
            return self.net(self._input(x)).argmax(1)


def train_classifier(scale: str, seed: int, epochs: int = 40) -> DigitsClassifier:
    """A fresh digits classifier trained for ``epochs`` with ``seed`` (uncached; see :func:`digits_classifier`)."""
    from ebmlab.data import load_digits

    train, test = load_digits("train", scale=scale, seed=0), load_digits("test", scale=scale, seed=0)
    assert train.y is not None and test.y is not None
    gen = torch.Generator(device="cpu").manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 128), nn.SiLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = len(train)
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=gen, device="cpu").split(64):  # a CPU metric: the same weights anywhere
            x = train.x[idx] + 0.05 * torch.randn(len(idx), 64, generator=gen, device="cpu")
            loss = nn.functional.cross_entropy(net(x), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    clf = DigitsClassifier(net, scale, seed, 0.0)
    clf.accuracy = float((clf.predict(test.x) == test.y).float().mean())
    return clf


@lru_cache(maxsize=4)
def digits_classifier(scale: str = "symmetric", seed: int = 0) -> DigitsClassifier:
    """The digits feature classifier for data scaled by ``scale`` (trained once per process, then cached)."""
    from ebmlab.data import DIGIT_SCALES

    if scale not in DIGIT_SCALES:
        from ebmlab.errors import ConfigError

        raise ConfigError(f"digits_classifier: scale must be one of {DIGIT_SCALES}, got {scale!r}.")
    return train_classifier(scale, seed)


def digits_fd_kid(
    samples: Tensor,
    scale: str = "symmetric",
    generator: torch.Generator | None = None,
    subset_size: int = 100,
    n_subsets: int = 50,
    n_bootstrap: int = 20,
) -> dict[str, Any]:
    """FD and KID of ``samples`` (n, 64) vs the digits test split, beside the train-vs-test floor.

    The floor uses the first min(n, 1347) points of a fixed permutation of the train split, so both
    FDs are computed at (nearly) the same sample size. Also reports the classifier's test accuracy and
    class coverage of the samples (predicted labels as modes; see ``mode_coverage_from_labels``).
    """
    from ebmlab.data import load_digits

    clf = digits_classifier(scale)
    train, test = load_digits("train", scale=scale), load_digits("test", scale=scale)
    n = min(samples.shape[0], len(train))
    floor_x = train.x[
        torch.randperm(len(train), generator=torch.Generator(device="cpu").manual_seed(0), device="cpu")[:n]
    ]
    f_test = clf.features(test.x)
    out: dict[str, Any] = {"n_samples": int(samples.shape[0]), "n_floor": n, "classifier_test_accuracy": clf.accuracy}
    for key, x in (("model", samples), ("floor", floor_x)):
        f = clf.features(x)
        out[f"{key}_fd"] = frechet_distance(f, f_test, n_bootstrap, generator).as_dict()
        out[f"{key}_kid"] = kernel_distance(f, f_test, subset_size, n_subsets, generator).as_dict()
    coverage = mode_coverage_from_labels(clf.predict(samples), 10, min_count=max(1, samples.shape[0] // 100))
    out["class_coverage"] = coverage.as_dict()
    return out
