"""The demo report: sections that each check one capability against ground truth.

A section is a function ``(out_dir, quick, seed) -> Section``; :func:`run_demo` runs them in order,
times them, and writes ``report.md``, ``report.html`` and ``summary.json``. A section that fails is
reported as failed (with its error) instead of hiding it, and the others still run.
"""

from __future__ import annotations

import html
import json
import math
import platform
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ebmlab import __version__

__all__ = ["Row", "Section", "run_demo"]


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
    title: str
    text: str
    rows: list[Row] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


SectionFn = Callable[[Path, bool, int, bool], Section]


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return str(v)
    return f"{v:.6g}"


def run_demo(
    out: Path, sections: Sequence[SectionFn], quick: bool = False, seed: int = 0, progress: bool = False
) -> Path:
    """Run ``sections`` (e.g. :data:`ebmlab.demo_sections.SECTIONS`) in order and write the report into
    ``out``; returns the HTML report path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    done: list[Section] = []
    for fn in sections:
        start = time.perf_counter()
        try:
            section = fn(out, quick, seed, progress)
        except Exception as exc:  # a broken section is reported, not hidden
            section = Section(
                title=fn.__name__,
                text="This section failed.",
                error="".join(traceback.format_exception_only(type(exc), exc)).strip(),
            )
        section.seconds = time.perf_counter() - start
        done.append(section)
        status = "FAILED" if section.error else "ok"
        print(f"[demo] {section.title}: {status} ({section.seconds:.1f} s)", flush=True)
    _write(out, done, quick, seed)
    return out / "report.html"


def _environment(seed: int, quick: bool) -> dict[str, Any]:
    return {
        "ebmlab": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "seed": seed,
        "quick": quick,
    }


def _write(out: Path, sections: list[Section], quick: bool, seed: int) -> None:
    env = _environment(seed, quick)
    summary = {
        "environment": env,
        "sections": [
            {
                "title": s.title,
                "seconds": s.seconds,
                "error": s.error,
                "figures": s.figures,
                "rows": [{**r.__dict__, "z": r.z} for r in s.rows],
            }
            for s in sections
        ],
    }
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    tmp.replace(out / "summary.json")

    md = ["# ebmlab demo report", "", " · ".join(f"{k}: {v}" for k, v in env.items()), ""]
    parts = [f"<h1>ebmlab demo report</h1><p>{html.escape(' · '.join(f'{k}: {v}' for k, v in env.items()))}</p>"]
    for s in sections:
        md += [f"## {s.title}", "", s.text, ""]
        parts.append(f"<h2>{html.escape(s.title)}</h2><p>{html.escape(s.text)}</p>")
        if s.error:
            md += [f"**FAILED**: `{s.error}`", ""]
            parts.append(f"<p style='color:#b00'><b>FAILED</b>: <code>{html.escape(s.error)}</code></p>")
        if s.rows:
            md += ["| quantity | value | reference | std. error | z | note |", "|---|---|---|---|---|---|"]
            parts.append(
                "<table><tr><th>quantity</th><th>value</th><th>reference</th><th>std. error</th>"
                "<th>z</th><th>note</th></tr>"
            )
            for r in s.rows:
                cells = [r.name, _fmt(r.value), _fmt(r.reference), _fmt(r.stderr), _fmt(r.z), r.note]
                md.append("| " + " | ".join(cells) + " |")
                parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            parts.append("</table>")
            md.append("")
        for fig in s.figures:
            md += [f"![{s.title}]({fig})", ""]
            parts.append(f"<img src='{html.escape(fig)}' style='max-width:560px'>")
        md += [f"*{s.seconds:.1f} s*", ""]
        parts.append(f"<p><i>{s.seconds:.1f} s</i></p>")
    (out / "report.md").write_text("\n".join(md))
    style = (
        "body{font-family:sans-serif;max-width:900px;margin:2em auto;}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>ebmlab demo</title><style>{style}</style>"
        f"</head><body>{''.join(parts)}</body></html>\n"
    )
    (out / "report.html").write_text(page)
