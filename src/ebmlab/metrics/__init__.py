"""Sample-quality metrics, each returning its uncertainty.

* :func:`mmd2_rbf` / :func:`mmd_permutation_test`: unbiased RBF MMD² with SE, and a permutation test;
* :func:`grid_nll`: NLL of 1-D/2-D energies normalised by grid quadrature on a box;
* :func:`frechet_distance` / :func:`kernel_distance`: FD and KID between feature sets;
  :func:`digits_fd_kid` on the features of a small digits classifier trained in-process;
* :func:`mode_coverage`: fraction of mixture modes covered and TV/KL of the mode weights;
* :func:`toy_quality` / :func:`digits_quality`: these bundled for a trained method (also registered as
  experiment evaluators ``toy-quality`` and ``digits-quality``).

>>> import torch
>>> from ebmlab.metrics import mmd2_rbf
>>> g = torch.Generator().manual_seed(0)
>>> r = mmd2_rbf(torch.randn(200, 2, generator=g), torch.randn(200, 2, generator=g) + 1.0)
>>> r.value > 4 * r.se
True
"""

from ebmlab.metrics.coverage import (
    ModeCoverage,
    assign_to_centers,
    assign_to_rings,
    mode_coverage,
    mode_coverage_from_labels,
)
from ebmlab.metrics.digits import DigitsClassifier, digits_classifier, digits_fd_kid
from ebmlab.metrics.evaluators import digits_quality, target_modes, toy_coverage, toy_quality
from ebmlab.metrics.frechet import FDResult, KIDResult, frechet_distance, kernel_distance
from ebmlab.metrics.grid import NLLResult, grid_nll
from ebmlab.metrics.mmd import MMDResult, MMDTest, median_bandwidth, mmd2_rbf, mmd_permutation_test, rbf_kernel

__all__ = [
    "DigitsClassifier",
    "FDResult",
    "KIDResult",
    "MMDResult",
    "MMDTest",
    "ModeCoverage",
    "NLLResult",
    "assign_to_centers",
    "assign_to_rings",
    "digits_classifier",
    "digits_fd_kid",
    "digits_quality",
    "frechet_distance",
    "grid_nll",
    "kernel_distance",
    "median_bandwidth",
    "mmd2_rbf",
    "mmd_permutation_test",
    "mode_coverage",
    "mode_coverage_from_labels",
    "rbf_kernel",
    "target_modes",
    "toy_coverage",
    "toy_quality",
]
