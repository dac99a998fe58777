"""Evaluation of a trained method's model: the metrics of this package bundled per data set.

* :func:`toy_quality`: for a 2-D toy target — exact (quadrature) test NLL of the learned energy and its gap
  to the true NLL, MMD of model samples to the test split, mode coverage of the samples;
* :func:`digits_quality`: FD/KID of model samples on the digits classifier features, beside the floor.

Both are registered as experiment evaluators (``eval: {name: toy-quality, target: rings}``,
``eval: {name: digits-quality}``), whose ``evaluate(method, step)`` returns flat floats for logging.
Methods need ``sample(n, generator, n_steps=...)``; the NLL also needs ``method.energy``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ebmlab.device_copies import device_of
from ebmlab.errors import ConfigError
from ebmlab.metrics.coverage import ModeCoverage, assign_to_centers, assign_to_rings, mode_coverage_from_labels
from ebmlab.metrics.digits import digits_fd_kid
from ebmlab.metrics.grid import grid_nll
from ebmlab.metrics.mmd import mmd2_rbf

__all__ = ["digits_quality", "grid_mode_weights", "target_modes", "toy_coverage", "toy_quality"]


def target_modes(target: Any) -> tuple[Callable[[Tensor], Tensor], int] | None:
    """``(labels(samples), n_modes)`` for a mixture target: Gaussian mixtures (within 3 σ of a mean) and
    rings (within 3 noise s.d. of a radius); ``None`` for targets without discrete modes."""
    means, stds = getattr(target, "means", None), getattr(target, "stds", None)
    if isinstance(means, Tensor) and isinstance(stds, Tensor):
        radius = 3.0 * float(stds.max())
        return (lambda x: assign_to_centers(x, means, radius)), int(means.shape[0])
    radii, noise = getattr(target, "radii", None), getattr(target, "noise", None)
    if isinstance(radii, Tensor) and noise is not None:
        return (lambda x: assign_to_rings(x, radii.tolist(), 3.0 * float(noise))), int(radii.numel())
    return None


def toy_coverage(target: Any, samples: Tensor, min_count: int | None = None) -> ModeCoverage | None:
    """Mode coverage of ``samples`` for a mixture target, with the target's own mode weights.

    ``min_count`` defaults to 1 % of the samples per mode (a mode with fewer counts as missed)."""
    modes = target_modes(target)
    if modes is None:
        return None
    labels_fn, k = modes
    weights = getattr(target, "weights", None)
    w = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    count = max(1, samples.shape[0] // 100) if min_count is None else min_count
    return mode_coverage_from_labels(labels_fn(samples), k, min_count=count, weights=w)


def grid_mode_weights(energy: Callable[[Tensor], Tensor], target: Any, n_points: int = 401) -> dict[str, Any] | None:
    """Mode masses of the box-normalised model p_B ∝ exp(−E) by quadrature (midpoint rule on the target's box).

    Returns the masses per mode (same assignment as :func:`target_modes`), the mass outside every mode, and
    TV between the renormalised mode masses and the target's weights — an exact (not sampled) check of
    whether the model has the right relative mode weights.
    """
    modes = target_modes(target)
    if modes is None or target.bounds is None or len(target.bounds) != 2:
        return None
    labels_fn, k = modes
    axes = [
        torch.linspace(lo + (hi - lo) / (2 * n_points), hi - (hi - lo) / (2 * n_points), n_points, device="cpu")
        for lo, hi in target.bounds
    ]
    pts = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():  # E on the energy's device, the masses on the CPU
        logp = -energy(pts.to(device_of(energy))).to(torch.float64).cpu()
    p = torch.softmax(logp, 0)
    labels = labels_fn(pts)
    masses = torch.stack([p[labels == j].sum() for j in range(k)])
    w = getattr(target, "weights", None)
    w = (
        torch.full((k,), 1.0 / k, dtype=torch.float64, device="cpu")
        if w is None
        else torch.as_tensor(w, dtype=torch.float64, device="cpu")
    )
    tv = 0.5 * float((masses / masses.sum() - w).abs().sum())
    return {"masses": masses.tolist(), "outside": float(1 - masses.sum()), "tv": tv, "n_points": n_points}


def draw_samples(method: nn.Module, n: int, n_steps: int | None, seed: int) -> Tensor:
    """``n`` samples of ``method.sample`` (with ``n_steps`` when given), seeded by ``seed``, drawn on the method's
    device and returned on the CPU (where the metrics run)."""
    sample = getattr(method, "sample", None)
    if sample is None:
        raise ConfigError(f"{type(method).__name__} has no sample(n, generator, n_steps=...) to evaluate.")
    gen = torch.Generator(device=device_of(method)).manual_seed(seed)
    return (sample(n, gen) if n_steps is None else sample(n, gen, n_steps=n_steps)).cpu()


def toy_quality(
    method: nn.Module,
    target_name: str,
    n_samples: int = 2000,
    n_steps: tuple[int | None, ...] = (None, 1000),
    n_points: int = 401,
    seed: int = 0,
    return_samples: bool = False,
) -> dict[str, Any]:
    """NLL (quadrature on the target's box), MMD and mode coverage of a method's model on a 2-D toy.

    ``n_steps``: sampler lengths to evaluate (``None``: the method's training K); each entry gives
    ``samples[K]`` with MMD² to ``n_samples`` test points and coverage. The test split is the toy's fixed
    test split (``ebmlab.data``). ``return_samples``: also return the samples (tensors) under ``"x"``.
    """
    from ebmlab.data import load_toy, toy_target

    target = toy_target(target_name)
    test = load_toy(target_name, "test").x
    energy = getattr(method, "energy", None)
    out: dict[str, Any] = {"target": target_name, "bounds": target.bounds}
    if energy is not None:
        out["nll"] = grid_nll(energy, test, target.bounds, n_points, reference_log_prob=target.log_prob).as_dict()
        out["model_modes"] = grid_mode_weights(energy, target, n_points)
    out["samples"] = {}
    for steps in n_steps:
        x = draw_samples(method, n_samples, steps, seed)
        coverage = toy_coverage(target, x)
        out["samples"][str(steps if steps is not None else "train_k")] = {
            "mmd": mmd2_rbf(x, test[:n_samples]).as_dict(),
            "coverage": None if coverage is None else coverage.as_dict(),
            "finite": bool(torch.isfinite(x).all()),
        }
        if return_samples:
            out["samples"][str(steps if steps is not None else "train_k")]["x"] = x
    return out


def digits_quality(
    method: nn.Module, n_samples: int = 450, n_steps: int | None = None, scale: str = "symmetric", seed: int = 0
) -> dict[str, Any]:
    """FD/KID of ``n_samples`` model samples vs the digits test split, with the train-vs-test floor."""
    x = draw_samples(method, n_samples, n_steps, seed)
    return digits_fd_kid(
        x.reshape(x.shape[0], -1), scale=scale, generator=torch.Generator(device="cpu").manual_seed(seed)
    )


# -- experiment evaluators: evaluate(method, step) -> {name: float} ----------------------------------
def toy_evaluator(
    target: str, n_samples: int = 1000, n_steps: int | None = None, n_points: int = 201, seed: int = 0
) -> Callable[[nn.Module, int], dict[str, float]]:
    """``evaluate(method, step)``: grid NLL, MMD² and mode coverage of samples on the toy ``target``."""

    def evaluate(method: nn.Module, step: int) -> dict[str, float]:
        r = toy_quality(method, target, n_samples, (n_steps,), n_points, seed)
        out: dict[str, float] = {}
        if "nll" in r:
            out |= {"nll": r["nll"]["nll"], "nll_gap": r["nll"]["gap"], "nll_gap_se": r["nll"]["gap_se"]}
        (s,) = r["samples"].values()
        out |= {"mmd2": s["mmd"]["value"], "mmd2_se": s["mmd"]["se"]}
        if s["coverage"] is not None:
            out |= {"modes_covered": s["coverage"]["covered"], "mode_tv": s["coverage"]["tv"]}
        return out

    return evaluate


def digits_evaluator(
    n_samples: int = 450, n_steps: int | None = None, scale: str = "symmetric", seed: int = 0
) -> Callable[[nn.Module, int], dict[str, float]]:
    """``evaluate(method, step)``: FD/KID of samples against the digits test split, with the floors."""

    def evaluate(method: nn.Module, step: int) -> dict[str, float]:
        r = digits_quality(method, n_samples, n_steps, scale, seed)
        return {
            "fd": r["model_fd"]["value"],
            "fd_floor": r["floor_fd"]["value"],
            "kid": r["model_kid"]["value"],
            "kid_floor": r["floor_kid"]["value"],
            "classes_covered": r["class_coverage"]["covered"],
        }

    return evaluate
