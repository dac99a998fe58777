"""Image-completion quality: error on the missing pixels, classifier accuracy, diversity; a nearest-neighbour baseline.

For held-out images x_i with masks m_i (True = observed) and S completions x̃_{i,s} each:

* per-pixel error: mean over i, s and missing pixels of (x̃ − x)²  (and its s.d. over examples' means);
* accuracy: the fraction of completions that the digits classifier (:func:`~ebmlab.metrics.digits_classifier`)
  labels as the true class;
* diversity: the mean over i and missing pixels of the s.d. across the S completions (0 for a deterministic method).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ebmlab.errors import ShapeError

__all__ = ["completion_quality", "nearest_neighbour_completion"]


def completion_quality(
    completions: Tensor, truth: Tensor, mask: Tensor, labels: Tensor | None = None
) -> dict[str, Any]:
    """Quality of ``completions`` ``(n, S, dim)`` of ``truth`` ``(n, dim)`` with observed ``mask`` ``(n, dim)``."""
    if completions.dim() != 3 or completions.shape[0] != truth.shape[0] or completions.shape[2:] != truth.shape[1:]:
        raise ShapeError(f"completions must be (n, S, dim) for truth (n, dim); got {tuple(completions.shape)}.")
    if mask.shape != truth.shape:
        raise ShapeError(f"mask {tuple(mask.shape)} must have the shape of truth {tuple(truth.shape)}.")
    missing = (~mask).to(torch.float64)[:, None, :]
    n_miss = missing.sum(-1).clamp(min=1)  # (n, 1)
    err = ((completions.double() - truth.double()[:, None]).square() * missing).sum(-1) / n_miss  # (n, S)
    per_example = err.mean(1)
    s = completions.shape[1]
    spread = completions.double().std(1, correction=1) if s > 1 else torch.zeros_like(truth, dtype=torch.float64)
    diversity = (spread * missing[:, 0]).sum(-1) / n_miss[:, 0]
    out: dict[str, Any] = {
        "n_examples": int(truth.shape[0]),
        "completions_per_example": s,
        "pixel_mse": float(per_example.mean()),
        "pixel_mse_se": float(per_example.std() / math.sqrt(len(per_example))),
        "diversity": float(diversity.mean()),
        "observed_max_abs_change": float(((completions - truth[:, None]).abs() * (1 - missing)).max()),
    }
    if labels is not None:
        from ebmlab.metrics.digits import digits_classifier

        pred = digits_classifier().predict(completions.reshape(-1, completions.shape[-1])).reshape(-1, s)
        correct = (pred == labels[:, None]).double().mean(1)
        out["accuracy"] = float(correct.mean())
        out["accuracy_se"] = float(correct.std() / math.sqrt(len(correct)))
    return out


def nearest_neighbour_completion(x: Tensor, mask: Tensor, train: Tensor, k: int = 1) -> Tensor:
    """Completions ``(n, k, dim)``: the missing pixels of the k training images closest on the observed pixels."""
    if x.dim() != 2 or train.dim() != 2 or x.shape[1] != train.shape[1] or mask.shape != x.shape:
        raise ShapeError(
            f"nearest_neighbour_completion: x {tuple(x.shape)}, mask, train {tuple(train.shape)} mismatch."
        )
    m = mask.to(x.dtype)
    d = ((x * m)[:, None, :] - train[None, :, :] * m[:, None, :]).square().sum(-1)  # (n, N_train)
    idx = d.topk(k, dim=1, largest=False).indices
    return torch.where(mask[:, None, :], x[:, None, :], train[idx])
