"""One self-contained HTML page for a report: figures embedded as data URIs, numbers at the precision
their standard errors allow, and an inline self-check that records on load how many images decoded and
whether any script error happened (``#selfcheck``; the browser test reads it).

>>> fmt_pm(1.234567, 0.0123)
'1.235 ± 0.012'
>>> fmt_value(123456.789)
'1.235e+05'
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ebmlab.yaml_io import atomic_write_text

__all__ = ["data_uri", "demo_html", "fmt_pm", "fmt_value", "page", "write_demo_report"]


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def _decimals(se: float) -> int:
    """Decimals that keep two significant figures of ``se``."""
    return max(0, 1 - math.floor(math.log10(se)))


def fmt_value(v: Any, se: float | None = None) -> str:
    """``v`` at the precision of ``se`` (two significant figures of it), else four significant figures."""
    if v is None:
        return ""
    if not _finite(v):
        return str(v)
    if se is not None and _finite(se) and se > 0:
        return f"{v:.{_decimals(se)}f}"
    if isinstance(v, int):
        return str(v)
    return f"{v:.4g}"


def fmt_pm(v: Any, se: float | None) -> str:
    if se is None or not _finite(se) or se <= 0:
        return fmt_value(v)
    return f"{fmt_value(v, se)} ± {fmt_value(se, se)}"


def data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}.get(path.suffix, "image/png")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_STYLE = (
    "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}.claim{background:#f4f6fb;padding:.5em 1em}"
    ".holds{color:#070;font-weight:bold}.does-not-hold,.failed{color:#b00;font-weight:bold}"
    ".inconclusive-at-this-budget{color:#a60;font-weight:bold}img{max-width:100%}pre{background:#f6f6f6;padding:.5em}"
    "#selfcheck{color:#888;font-size:small}"
)
# Catches script errors, console.error calls and failed image loads (capture phase) before anything else.
_ERRORS_JS = (
    "window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message||"
    "(e.target&&e.target.src?'failed to load '+e.target.src.slice(0,40):'error')))},true);"
    "(function(){var c=console.error;console.error=function(){window.__errors.push([].join.call(arguments,' '));"
    "c.apply(console,arguments)}})();"
)
_CHECK_JS = (
    "window.addEventListener('load',function(){var im=document.images,ok=0;for(var i=0;i<im.length;i++)"
    "{if(im[i].complete&&im[i].naturalWidth>0)ok++}var el=document.getElementById('selfcheck');"
    "el.setAttribute('data-images',im.length);el.setAttribute('data-decoded',ok);"
    "el.setAttribute('data-errors',window.__errors.length);"
    "el.textContent='self-check: '+ok+' of '+im.length+' images decoded, '+window.__errors.length+' errors'"
    "+(window.__errors.length?': '+window.__errors.join('; '):'')});"
)


def page(title: str, body: str) -> str:
    """A complete HTML document around ``body`` with the style and the self-check."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style><script>{_ERRORS_JS}</script></head><body>{body}"
        f"<p id='selfcheck' data-images='-1'>self-check did not run</p><script>{_CHECK_JS}</script></body></html>\n"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if j in numeric else ''}>{html.escape(c)}</td>" for j, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _verdict_span(verdict: str) -> str:
    return f"<span class='{verdict.replace(' ', '-')}'>{html.escape(verdict)}</span>"


def _row_cells(r: dict[str, Any]) -> list[str]:
    se = r.get("stderr")
    ref = r.get("reference")
    finer = se / 10 if se is not None and _finite(se) and se > 0 else None
    ref_s = fmt_value(ref, finer) if ref is not None else ""
    z = r.get("z")
    return [r["name"], fmt_pm(r["value"], se), ref_s, f"{z:+.2f}" if _finite(z) else "", r.get("note", "")]


def section_html(s: dict[str, Any], base: Path) -> str:
    """One section of a demo summary (the dict written to ``summary.json``) as HTML."""
    parts = [f"<h2 id='{html.escape(s['name'])}'>{html.escape(s['title'])}</h2>"]
    if s.get("claim"):
        parts.append(f"<p class='claim'><b>Claim.</b> {html.escape(s['claim'])}</p>")
    parts.append(f"<p><b>Verdict:</b> {_verdict_span(s['verdict'])}</p>")
    if s.get("error"):
        parts.append(f"<p class='failed'>FAILED: <code>{html.escape(s['error'])}</code></p>")
    if s.get("outcomes"):
        cells = [[o["text"], o["verdict"], o["reason"]] for o in s["outcomes"]]
        parts.append(table(["rule", "verdict", "because"], cells))
    parts.append(f"<p>{html.escape(s['text'])}</p>")
    if s.get("config"):
        over = ", ".join(s.get("overrides", [])) or "none"
        parts.append(
            f"<p>Config: <code>{html.escape(s['config'])}</code>; overrides: <code>{html.escape(over)}</code></p>"
        )
    if s.get("rows"):
        header = ["quantity", "estimate ± SE", "ground truth", "z", "note"]
        parts.append(table(header, [_row_cells(r) for r in s["rows"]], numeric=(1, 2, 3)))
    for fig in s.get("figures", []):
        path = base / fig
        if path.exists():
            parts.append(f"<p><img alt='{html.escape(fig)}' src='{data_uri(path)}'></p>")
        else:
            parts.append(f"<p class='failed'>figure missing: {html.escape(fig)}</p>")
    parts.append(f"<p><i>{s['seconds']:.1f} s</i></p>")
    return "".join(parts)


def demo_html(summary: dict[str, Any], base: Path) -> str:
    """The body of a demo report: environment, a verdict table, then every section."""
    env = " · ".join(f"{k}: {v}" for k, v in summary["environment"].items())
    rows = "".join(
        f"<tr><td><a href='#{html.escape(s['name'])}'>{html.escape(s['name'])}</a></td><td>{html.escape(s['title'])}"
        f"</td><td>{_verdict_span(s['verdict'])}</td><td class=n>{s['seconds']:.1f}</td></tr>"
        for s in summary["sections"]
    )
    body = [
        "<h1>ebmlab demo report</h1>",
        f"<p>{html.escape(env)} · total {summary['seconds']:.0f} s</p>",
        f"<table><tr><th>section</th><th>title</th><th>verdict</th><th>seconds</th></tr>{rows}</table>",
    ]
    body += [section_html(s, base) for s in summary["sections"]]
    return "".join(body)


def _section_dict(s: Any) -> dict[str, Any]:
    return {
        "name": s.name,
        "title": s.title,
        "claim": s.claim,
        "verdict": s.verdict,
        "outcomes": [{**o.__dict__, "threshold": r.threshold} for o, r in zip(s.outcomes, s.rules, strict=False)],
        "text": s.text,
        "config": s.config,
        "overrides": s.overrides,
        "seconds": s.seconds,
        "error": s.error,
        "figures": s.figures,
        "rows": [{**r.__dict__, "z": r.z} for r in s.rows],
    }


def write_demo_report(out: Path, sections: Sequence[Any], env: dict[str, Any]) -> dict[str, Any]:
    """Write ``summary.json``, ``report.html`` and ``report.md`` for finished demo sections."""
    summary: dict[str, Any] = {
        "environment": env,
        "seconds": sum(s.seconds for s in sections),
        "sections": [_section_dict(s) for s in sections],
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=float) + "\n")
    atomic_write_text(out / "report.html", page("ebmlab demo report", demo_html(summary, out)))
    md = ["# ebmlab demo report", ""]
    for s in summary["sections"]:
        md += [f"## {s['title']}", "", f"**Claim.** {s['claim']}", "", f"**Verdict:** {s['verdict']}", ""]
        md += [f"- {o['text']}: {o['verdict']} ({o['reason']})" for o in s["outcomes"]]
        if s["error"]:
            md.append(f"**FAILED**: `{s['error']}`")
        md += ["", s["text"], "", "| quantity | estimate ± SE | ground truth | z | note |", "|---|---|---|---|---|"]
        md += ["| " + " | ".join(_row_cells(r)) + " |" for r in s["rows"]]
        md += [f"\n![{s['title']}]({f})" for f in s["figures"]] + [""]
    atomic_write_text(out / "report.md", "\n".join(md) + "\n")
    return summary
