"""Whether a log Z estimate's standard error can be trusted, decided from diagnostics, in plain words.

A reported SE is only the spread of the estimator over repetitions *if* the weights have finite variance
and the proposal (or base) reaches every mode. Each check below can fail where the SE looks healthy:

* **effective sample size** — fewer than ``min_ess`` effective weights: the SE itself is noise;
* **Pareto k̂** of the largest weights above 0.5 — the weights' variance is probably infinite, so no SE
  (which assumes a finite variance) is reliable (Vehtari et al.: k̂ ≤ 0.7 still gives a usable *estimate*,
  but its CLT-based SE needs k < 0.5). k̂ comes from :func:`~ebmlab.estimators.base.pareto_k`, which refits
  further out in the tail when the default tail gives k̂ > 1 (impossible for weights with a finite mean);
  the 0.7 of the PSIS paper is not used for the SE: banana-10 IS had k̂ = 0.67 at z = −4.7;
* **tails** (IS) — the weights grow along a ray far beyond the sample (:mod:`~ebmlab.estimators.tails`:
  growth rate g = d log w/d log r > ``max_tail_growth`` between 10³ and 10⁴ proposal sds): the target's tails
  are heavier than the proposal's, the weights are unbounded and their variance may be infinite, which a
  sample's k̂ can miss;
* **groups disagree** — the estimate from G disjoint groups of chains/samples scatters more than their
  own SEs allow (χ²_{G−1} test at ``alpha``): the SE is too small;
* **bracket** — the forward (lower) and reverse (upper) AIS estimates differ by more than
  ``bracket_z`` combined SEs (bidirectional Monte Carlo): at least one of them is off by more than its SE;
  or the upper one lies that far *below* the lower one (the reverse run did not start from p);
* **reverse start** — the reverse run's start states were not validated as samples of p (forward-run
  samples, or tempered MCMC that failed its own checks): the "upper bound" is then no bound at all;
* **per-rung mixing** (stepping stone) — a rung's log-ratio estimate from the second half of the rounds
  differs from the first half's by more than a Bonferroni z-limit at ``alpha``: the ladder has not mixed;
* **per-rung tail coverage** (stepping stone) — Pareto k̂ of a rung's ratio weights above ``max_rung_k``;
* **unseen modes** — Chao's estimate of the number of modes from how often each was found by the mode
  search exceeds the number found by half: the proposal probably misses mass.

>>> v = judge({"ess": 5000, "pareto_k": 0.3, "groups": ([1.00, 1.01, 0.99, 1.02], [0.01] * 4)})
>>> v.trustworthy, v.reasons
(True, [])
>>> judge({"ess": 12.0}).summary()
'not trustworthy: only 12 effective samples (need 50)'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

__all__ = ["Verdict", "chao1", "group_scatter", "judge"]


@dataclass
class Verdict:
    trustworthy: bool
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        if self.trustworthy:
            return "trustworthy: " + ", ".join(f"{k} ok" for k in self.checks) if self.checks else "trustworthy"
        return "not trustworthy: " + "; ".join(self.reasons)


def group_scatter(values: Sequence[float], stderrs: Sequence[float]) -> tuple[float, float]:
    """``(χ²/(G−1), p-value)`` of G group estimates around their precision-weighted mean."""
    w = [1.0 / max(s, 1e-300) ** 2 for s in stderrs]
    mean = sum(wi * v for wi, v in zip(w, values, strict=True)) / sum(w)
    chi2 = sum(wi * (v - mean) ** 2 for wi, v in zip(w, values, strict=True))
    dof = len(values) - 1
    return chi2 / dof, float(stats.chi2.sf(chi2, dof))


def chao1(counts: Sequence[int]) -> float:
    """Chao's lower-bound estimate of the number of classes (modes) from how often each was seen:
    S + f₁²/(2 f₂), or S + f₁(f₁ − 1)/2 when no class was seen twice (bias-corrected form)."""
    s = sum(1 for c in counts if c > 0)
    f1 = sum(1 for c in counts if c == 1)
    f2 = sum(1 for c in counts if c == 2)
    return s + (f1 * f1 / (2 * f2) if f2 > 0 else f1 * (f1 - 1) / 2)


def judge(
    diagnostics: Mapping[str, Any],
    *,
    min_ess: float = 50.0,
    max_k: float = 0.5,
    max_rung_k: float = 0.7,
    alpha: float = 0.001,
    bracket_z: float = 4.0,
    max_tail_growth: float = 0.5,
) -> Verdict:
    """Apply every check whose inputs are in ``diagnostics`` (keys: ``ess``, ``pareto_k``, ``groups`` =
    (values, stderrs), ``bracket`` = (lower, se_lower, upper, se_upper), ``reverse_start`` = (source, validated,
    why not), ``rung_drift_z``, ``rung_pareto_k``, ``mode_counts``, ``tail_growth`` = (g, ray))."""
    reasons: list[str] = []
    checks: dict[str, Any] = {}
    ess = diagnostics.get("ess")
    if ess is not None and math.isfinite(ess):
        checks["ess"] = ess
        if ess < min_ess:
            reasons.append(f"only {ess:.0f} effective samples (need {min_ess:.0f})")
    k = diagnostics.get("pareto_k")
    if k is not None and math.isfinite(k):
        checks["pareto_k"] = k
        if k > max_k:
            reasons.append(
                f"Pareto k̂ = {k:.2f} > {max_k}: heavy-tailed weights (probably infinite variance), the SE is unreliable"
            )
    tail = diagnostics.get("tail_growth")
    if tail is not None:
        checks["tail_growth"] = tail[0]
        if tail[0] > max_tail_growth:
            reasons.append(
                f"the weights grow as r^{tail[0]:.1f} along the {tail[1]} far beyond the draws (the target's tails "
                "are heavier than the proposal's): their variance may be infinite, the SE is unreliable"
            )
    groups = diagnostics.get("groups")
    if groups is not None and len(groups[0]) >= 2:
        ratio, p = group_scatter(groups[0], groups[1])
        checks["group_scatter"] = ratio
        if p < alpha:
            reasons.append(f"{len(groups[0])} independent groups scatter {ratio:.1f}× more than their SEs allow")
    bracket = diagnostics.get("bracket")
    if bracket is not None:
        lo, se_lo, hi, se_hi = bracket
        gap = hi - lo
        checks["bracket_width"] = gap
        if gap > bracket_z * math.hypot(se_lo, se_hi):
            reasons.append(f"forward and reverse AIS differ by {gap:.3g} nats (> {bracket_z:g} combined SEs)")
        elif gap < -bracket_z * math.hypot(se_lo, se_hi):
            reasons.append(
                f"the reverse (upper) estimate lies {-gap:.3g} nats below the forward (lower) one (> {bracket_z:g} "
                "combined SEs): the reverse run did not start from p"
            )
    start = diagnostics.get("reverse_start")
    if start is not None:
        source, ok, why = start
        checks["reverse_start"] = source
        if not ok:
            reasons.append(
                f"the reverse run started from {source} not validated as samples of p ({why}): its estimate is not "
                "an upper bound"
            )
    drift = diagnostics.get("rung_drift_z")
    if drift:
        worst = max(abs(z) for z in drift)
        limit = float(stats.norm.isf(alpha / (2 * len(drift))))
        checks["rung_drift_z"] = worst
        if worst > limit:
            reasons.append(
                f"a rung's estimate drifts between the two halves of the run ({worst:.1f} SE > {limit:.1f}): the "
                "ladder has not mixed"
            )
    rung_k = [k for k in diagnostics.get("rung_pareto_k") or [] if math.isfinite(k)]
    if rung_k:
        checks["rung_pareto_k"] = max(rung_k)
        if max(rung_k) > max_rung_k:
            reasons.append(
                f"rung weights have Pareto k̂ = {max(rung_k):.2f} > {max_rung_k}: a rung's draws do not cover "
                "the next rung's tails"
            )
    counts = diagnostics.get("mode_counts")
    if counts:
        found, estimated = sum(1 for c in counts if c > 0), chao1(counts)
        checks["modes_found"], checks["modes_estimated"] = found, estimated
        if estimated > 1.5 * found:
            reasons.append(
                f"the mode search found {found} modes but about {estimated:.0f} exist (Chao1): the proposal "
                "probably misses mass"
            )
    return Verdict(not reasons, reasons, checks)
