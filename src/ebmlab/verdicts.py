"""Verdict rules of the demo: small data (a name, a threshold, a function over a section's rows).

A rule reads the rows it names and returns one of :data:`HOLDS`, :data:`FAILS`, :data:`INCONCLUSIVE`
with a one-line reason; its ``text`` is printed next to the verdict so a reader can check it.

>>> from ebmlab.report import Row
>>> rule = z_within("log Z", 3.0)
>>> rule.evaluate([Row("log Z", 1.02, reference=1.0, stderr=0.01)]).verdict
'holds'
>>> rule.evaluate([Row("log Z", 1.5, reference=1.0, stderr=0.01)]).verdict
'does not hold'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


class Row(Protocol):
    """What a rule reads of a row (:class:`ebmlab.report.Row`; a protocol, so no import cycle)."""

    name: str
    value: float
    stderr: float | None

    @property
    def z(self) -> float | None: ...


__all__ = ["FAILS", "HOLDS", "INCONCLUSIVE", "Outcome", "Rule", "at_least", "at_most", "beats", "combine", "z_within"]

HOLDS = "holds"
FAILS = "does not hold"
INCONCLUSIVE = "inconclusive at this budget"


@dataclass(frozen=True)
class Outcome:
    rule: str
    text: str
    verdict: str
    reason: str


@dataclass(frozen=True)
class Rule:
    """``fn(rows_by_name, threshold) -> (verdict, reason)``; ``text`` states the rule in words."""

    name: str
    threshold: float
    text: str
    fn: Callable[[dict[str, Row], float], tuple[str, str]]

    def evaluate(self, rows: Sequence[Row]) -> Outcome:
        by_name = {r.name: r for r in rows}
        try:
            verdict, reason = self.fn(by_name, self.threshold)
        except KeyError as exc:
            verdict, reason = INCONCLUSIVE, f"row {exc} missing"
        return Outcome(self.name, self.text, verdict, reason)


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def z_within(row: str, threshold: float = 3.0) -> Rule:
    """Holds when the estimate agrees with the exact value: |z| = |value − exact|/SE < threshold."""

    def fn(rows: dict[str, Row], k: float) -> tuple[str, str]:
        z = rows[row].z
        if z is None or not math.isfinite(z):
            return INCONCLUSIVE, f"{row}: no finite z"
        return (HOLDS if abs(z) < k else FAILS), f"{row}: z = {z:+.2f}"

    return Rule(f"z_within:{row}", threshold, f"|z| < {threshold:g} for “{row}”", fn)


def beats(better: str, worse: str, sds: float = 2.0, lower_is_better: bool = True) -> Rule:
    """Holds when ``better`` is better than ``worse`` by more than ``sds`` standard deviations of the
    difference (SEs added in quadrature); the reverse by as much → does not hold; else inconclusive."""

    def fn(rows: dict[str, Row], k: float) -> tuple[str, str]:
        a, b = rows[better], rows[worse]
        se = math.hypot(a.stderr or 0.0, b.stderr or 0.0)
        gain = (b.value - a.value) if lower_is_better else (a.value - b.value)
        if not _finite(gain, se) or se == 0:
            return INCONCLUSIVE, "no finite difference with a standard error"
        d = gain / se
        verdict = HOLDS if d > k else (FAILS if d < -k else INCONCLUSIVE)
        return verdict, f"difference {gain:+.3g} = {d:+.1f} sd"

    word = "lower" if lower_is_better else "higher"
    return Rule(f"beats:{better}>{worse}", sds, f"“{better}” {word} than “{worse}” by > {sds:g} sd", fn)


def at_least(row: str, threshold: float) -> Rule:
    """Holds when the row's value is at least ``threshold`` (a coverage, a fraction of trials)."""

    def fn(rows: dict[str, Row], k: float) -> tuple[str, str]:
        v = rows[row].value
        if not _finite(v):
            return INCONCLUSIVE, f"{row} is not finite"
        return (HOLDS if v >= k else FAILS), f"{row} = {v:.3g}"

    return Rule(f"at_least:{row}", threshold, f"“{row}” ≥ {threshold:g}", fn)


def at_most(row: str, threshold: float) -> Rule:
    """Holds when the row's value is at most ``threshold`` (an error, a distance)."""

    def fn(rows: dict[str, Row], k: float) -> tuple[str, str]:
        v = rows[row].value
        if not _finite(v):
            return INCONCLUSIVE, f"{row} is not finite"
        return (HOLDS if v <= k else FAILS), f"{row} = {v:.3g}"

    return Rule(f"at_most:{row}", threshold, f"“{row}” ≤ {threshold:g}", fn)


def combine(outcomes: Sequence[Outcome]) -> str:
    """A section's verdict: does not hold if any rule fails, holds if all hold, else inconclusive."""
    verdicts = [o.verdict for o in outcomes]
    if FAILS in verdicts:
        return FAILS
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return INCONCLUSIVE
