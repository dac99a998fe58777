"""Analytic targets: energies with exact log Z and exact samples, for testing samplers and estimators.

``get_target(name, **kwargs)`` builds a registered target; ``TARGET_NAMES`` lists the names.

=================  ==========================================================================
name               target
=================  ==========================================================================
gaussian-50        50-D Gaussian, full covariance with condition number 100 (``dim`` kwarg)
double-well        1-D x⁴ − 4x² + x
many-well-32       32-D, 16 pairs x₁⁴ − 6x₁² + 0.5x₁ + 0.5x₂² (alias ``many-well``)
gmm-40             40-mode 2-D Gaussian mixture, means in [−40, 40]²
mog8               8 Gaussians (σ 0.5) on a circle of radius 4
funnel-10          Neal's funnel in 10-D
eight-gaussians    8 Gaussians (σ 0.2) on a circle of radius 2
rings              3 concentric rings (radii 1, 2, 3; radial noise 0.1)
checkerboard       uniform on the dark squares of a 4×4 board on [−4, 4]²
moons              two moons (noise 0.2)
spirals            two spiral arms (noise 0.1)
=================  ==========================================================================
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from ebmlab.errors import ConfigError
from ebmlab.targets.base import Bounds, Target
from ebmlab.targets.double_well import DoubleWell, QuarticWell
from ebmlab.targets.funnel import Funnel
from ebmlab.targets.gaussian import Gaussian, gaussian_50
from ebmlab.targets.gmm import GMM40_MEANS, GaussianMixture, circle_means, gmm_40, mog8
from ebmlab.targets.ising import IsingChain
from ebmlab.targets.many_well import ManyWell
from ebmlab.targets.toy2d import Checkerboard, CurveTarget, Moons, Rings, Spirals, eight_gaussians

__all__ = [
    "GMM40_MEANS",
    "TARGET_NAMES",
    "Bounds",
    "Checkerboard",
    "CurveTarget",
    "DoubleWell",
    "Funnel",
    "Gaussian",
    "GaussianMixture",
    "IsingChain",
    "ManyWell",
    "Moons",
    "QuarticWell",
    "Rings",
    "Spirals",
    "Target",
    "circle_means",
    "eight_gaussians",
    "gaussian_50",
    "get_target",
    "gmm_40",
    "mog8",
]


def _many_well_32(b: float = -6.0, c: float = 0.5) -> ManyWell:
    return ManyWell(n_pairs=16, b=b, c=c, name="many-well-32")


def _funnel_10(scale: float = 3.0) -> Funnel:
    return Funnel(dim=10, scale=scale, name="funnel-10")


_REGISTRY: dict[str, Callable[..., Target]] = {
    "gaussian-50": gaussian_50,
    "double-well": DoubleWell,
    "many-well-32": _many_well_32,
    "many-well": _many_well_32,
    "gmm-40": gmm_40,
    "mog8": mog8,
    "funnel-10": _funnel_10,
    "eight-gaussians": eight_gaussians,
    "rings": Rings,
    "checkerboard": Checkerboard,
    "moons": Moons,
    "spirals": Spirals,
}

TARGET_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get_target(name: str, **kwargs: object) -> Target:
    """Build the registered target ``name`` (see ``TARGET_NAMES``); kwargs go to its constructor.

    Raises ConfigError for an unknown name or keyword argument, listing the valid ones.
    """
    key = str(name).strip().lower().replace("_", "-")
    factory = _REGISTRY.get(key)
    if factory is None:
        raise ConfigError(f"unknown target {name!r}; valid targets: {', '.join(TARGET_NAMES)}")
    params = [p for p in inspect.signature(factory).parameters if p != "name"]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(
            f"target {key!r} got unknown argument(s) {', '.join(unknown)}; "
            f"valid arguments: {', '.join(params) or '(none)'}"
        )
    return factory(**kwargs)
