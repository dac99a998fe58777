"""The demo report: sections that each check one claim against ground truth.

A section is a function ``(out_dir, quick, seed, progress) -> Section``; :func:`run_demo` runs the
selected :class:`DemoSection` entries in order, prints progress with the time left (estimated from the
previous run's ``summary.json`` in the same directory, else from each entry's nominal budget), and
writes ``report.html`` (self-contained), ``report.md`` and ``summary.json``. A section that raises is
reported as failed with its one-line error; the others still run.
"""

from __future__ import annotations

import json
import platform
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ebmlab import __version__
from ebmlab.verdicts import Outcome, Rule, combine

__all__ = ["DemoSection", "Row", "Section", "run_demo"]


@dataclass
class Row:
    """One reported number and what it is compared with.

    A ``reference`` with a ``stderr`` claims that the value estimates the reference: the demo test
    requires |z| < 4 for such rows. Contrasts and bounds put their comparison in ``note`` instead.
    """

    name: str
    value: float
    reference: float | None = None
    stderr: float | None = None
    note: str = ""

    @property
    def z(self) -> float | None:
        if self.reference is None or not self.stderr:
            return None
        return (self.value - self.reference) / self.stderr


@dataclass
class Section:
    """What a section found: its claim, numbers, verdict rules, figures and the config it read."""

    title: str
    text: str
    rows: list[Row] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    claim: str = ""
    rules: list[Rule] = field(default_factory=list)
    config: str | None = None
    overrides: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    name: str = ""
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "failed" if self.error else combine(self.outcomes)


SectionFn = Callable[[Path, bool, int, bool], Section]


@dataclass(frozen=True)
class DemoSection:
    """A selectable demo section and its nominal budgets in seconds (idle 2-core machine)."""

    name: str
    fn: SectionFn
    quick_s: float
    full_s: float


def _previous_times(out: Path, quick: bool) -> dict[str, float]:
    try:
        summary = json.loads((out / "summary.json").read_text())
        if summary["environment"]["quick"] != quick:
            return {}
        return {s["name"]: float(s["seconds"]) for s in summary["sections"] if s.get("name") and not s["error"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run_demo(
    out: Path, sections: Sequence[DemoSection], quick: bool = False, seed: int = 0, progress: bool = False
) -> list[Section]:
    """Run ``sections`` in order, write the report into ``out`` and return the sections' results."""
    from ebmlab.report_html import write_demo_report

    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    previous = _previous_times(out, quick)
    expected = {s.name: previous.get(s.name, s.quick_s if quick else s.full_s) for s in sections}
    source = "previous run" if previous else "nominal budgets"
    done: list[Section] = []
    t0 = time.perf_counter()
    for i, entry in enumerate(sections):
        left = sum(expected[s.name] for s in sections[i:])
        print(
            f"[demo {i + 1}/{len(sections)}] {entry.name}: elapsed {time.perf_counter() - t0:.0f} s, "
            f"about {left:.0f} s left ({source})",
            flush=True,
        )
        start = time.perf_counter()
        try:
            section = entry.fn(out, quick, seed, progress)
            section.outcomes = [rule.evaluate(section.rows) for rule in section.rules]
        except Exception as exc:  # a broken section is reported, not hidden
            line = " ".join("".join(traceback.format_exception_only(type(exc), exc)).split())
            section = Section(title=entry.name, text="This section failed.", error=line)
        section.name = entry.name
        section.seconds = time.perf_counter() - start
        done.append(section)
        status = f"FAILED: {section.error}" if section.error else section.verdict
        print(f"[demo {i + 1}/{len(sections)}] {entry.name}: {status} ({section.seconds:.1f} s)", flush=True)
    write_demo_report(out, done, environment(seed, quick))
    return done


def environment(seed: int | None = None, quick: bool | None = None) -> dict[str, Any]:
    """Versions and settings recorded with every report."""
    env: dict[str, Any] = {
        "ebmlab": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
    }
    if seed is not None:
        env["seed"] = seed
    if quick is not None:
        env["quick"] = quick
    return env
