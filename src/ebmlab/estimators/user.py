"""log Z of a user's own energy, with defaults built only from what a user has, and a verdict.

``log_z(energy, event_shape, method)`` never looks at exact samples of a target unless they are passed
(``exact_samples``, used only for the reverse run of a bracket and labelled). The defaults:

* ``"is"``: importance sampling from :func:`~ebmlab.estimators.laplace.laplace_proposal` (mode search,
  Laplace covariances, Student-t components);
* ``"ais"``: AIS (HMC transitions) from a *wide* base — one Gaussian with the mean and covariance of that
  mixture — so every mode region is reachable from the base;
* ``"bracket"``: forward and reverse AIS from the same base (:mod:`~ebmlab.estimators.bracket`).

The reported SE is the larger of the delta-method SE and the batch-means SE from ``n_groups`` disjoint
groups (the delta method is too small when the weights are skewed; ``benchmarks/logz_calibration.py``).
Every result carries ``details["verdict"]`` ("trustworthy" or "not trustworthy: …"), the reasons, the
checks behind them (:mod:`~ebmlab.estimators.verdict`: ESS, Pareto k̂, agreement of ``n_groups``
independent groups, the bracket, unseen modes), and ``details["proposal"]`` saying what was used.

>>> import torch, math
>>> energy = lambda x: 0.5 * (x**2).sum(1)  # N(0, I₂): log Z = log 2π
>>> est = log_z(energy, (2,), "is", n=20000, seed=0)
>>> abs(est.value - math.log(2 * math.pi)) < 4 * est.stderr, est.details["verdict"]
(True, 'trustworthy')
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ebmlab.densities.base import event_shape_of
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError
from ebmlab.estimators.ais import ais
from ebmlab.estimators.base import Estimate, log_mean_exp, pareto_k
from ebmlab.estimators.bracket import bidirectional_log_z
from ebmlab.estimators.laplace import MixtureProposal, laplace_proposal
from ebmlab.estimators.logz import importance_log_weights
from ebmlab.estimators.proposals import GaussianProposal
from ebmlab.estimators.verdict import judge
from ebmlab.samplers import GeometricPath, make_betas

__all__ = ["USER_METHODS", "log_z", "wide_base"]

USER_METHODS = ("is", "ais", "bracket")


def wide_base(q: MixtureProposal) -> GaussianProposal:
    """One Gaussian with the mixture's mean and covariance (Student-t components: Σ·ν/(ν − 2))."""
    w = q.log_weights.exp()
    mean = (w[:, None] * q.locs).sum(0)
    factor = q.df / (q.df - 2) if q.df is not None and q.df > 2 else 1.0
    cov_k = factor * q.scales @ q.scales.transpose(1, 2)
    diff = q.locs - mean
    cov = (w[:, None, None] * (cov_k + diff[:, :, None] * diff[:, None, :])).sum(0)
    return GaussianProposal(mean.reshape(q.event_shape), cov=cov)


def _batch_se(groups: tuple[list[float], list[float]]) -> float:
    """SE of the pooled estimate from the scatter of G group estimates (≈ SE_group/√G); 0 for G < 2."""
    values = groups[0]
    if len(values) < 2:
        return 0.0
    return float(torch.tensor(values, dtype=torch.float64).std()) / math.sqrt(len(values))


def _groups(log_w: Tensor, n_groups: int) -> tuple[list[float], list[float]]:
    values, errors = [], []
    for part in torch.chunk(log_w, n_groups):
        if part.numel() >= 2 and torch.isfinite(part).any():
            v, se, _ = log_mean_exp(part)
            values.append(v)
            errors.append(se)
    return values, errors


def log_z(
    energy: EnergyFn,
    event_shape: tuple[int, ...] | None = None,
    method: str = "is",
    *,
    n: int = 20_000,
    n_temperatures: int = 300,
    seed: int = 0,
    proposal: MixtureProposal | None = None,
    exact_samples: Tensor | None = None,
    n_groups: int = 8,
    progress: bool = False,
) -> Estimate:
    """Estimate log Z = log ∫ exp(−E(x)) dx of any energy (module docstring); ``n`` samples (IS) or chains (AIS)."""
    if method not in USER_METHODS:
        raise ConfigError(f"log_z: method must be one of {USER_METHODS}, got {method!r}.")
    shape = event_shape_of(energy, None if event_shape is None else tuple(event_shape))
    generator = torch.Generator().manual_seed(int(seed))
    q = proposal if proposal is not None else laplace_proposal(energy, shape, generator)
    details: dict[str, Any] = {"proposal": q.describe()}
    diag: dict[str, Any] = {"mode_counts": getattr(q, "mode_counts", None)}
    if method == "is":
        _, log_w = importance_log_weights(energy, q, n, generator)
        value, se, ess = log_mean_exp(log_w)
        groups = _groups(log_w, n_groups)
        diag |= {"ess": ess, "pareto_k": pareto_k(log_w), "groups": groups}
        est = Estimate(value, max(se, _batch_se(groups)), ess=ess, n=n, method="is")
    else:
        base = wide_base(q)
        details["base"] = "one Gaussian with the mean and covariance of the proposal mixture"
        if method == "ais":
            betas = make_betas("sigmoid", n_temperatures)
            res = ais(GeometricPath(base, energy), "hmc", n, betas, generator, progress=progress)
            est = res.estimate()
            diag |= {
                "ess": est.ess,
                "pareto_k": est.details.get("pareto_k"),
                "groups": _groups(res.log_weights, n_groups),
            }
        else:
            br = bidirectional_log_z(
                energy,
                base,
                generator,
                n_chains=n,
                n_temperatures=n_temperatures,
                exact_samples=exact_samples,
                progress=progress,
            )
            est = Estimate(
                0.5 * (br.lower.value + br.upper.value),
                0.5 * math.hypot(br.lower.stderr, br.upper.stderr) + 0.5 * abs(br.width),
                ess=br.lower.ess,
                n=n,
                method="bracket",
            )
            details |= {"lower": br.lower.value, "lower_se": br.lower.stderr, "upper": br.upper.value}
            details |= {"upper_se": br.upper.stderr, "width": br.width, "reverse_samples": br.reverse_samples}
            diag |= {"ess": br.lower.ess, "bracket": (br.lower.value, br.lower.stderr, br.upper.value, br.upper.stderr)}
    verdict = judge(diag)
    details |= {"verdict": verdict.summary() if not verdict.trustworthy else "trustworthy"}
    details |= {"reasons": verdict.reasons, "checks": verdict.checks}
    return Estimate(est.value, est.stderr, ess=est.ess, n=est.n, method=est.method, details=details)
