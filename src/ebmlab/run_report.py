"""``ebmlab report RUN_DIR...``: any training run or demo directory as one self-contained HTML page.

A demo directory (``summary.json`` with ``sections``) is re-rendered from its summary. An ``ebmlab sample``
output directory (``diagnostics.json``) gives its sampler diagnostics (per-chain acceptance, stuck chains, ESS
per draw and per gradient, step-size adaptation), its warnings and its figure. A training run
gives: metric curves over training (``metrics.jsonl``, small PNG plots), every figure found in the run
directory (samples), the final metrics, the resolved ``config.yaml``, and seed, versions and wall time
from its ``summary.json``. ``summary.json`` in the output directory holds every number shown.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ebmlab.errors import ConfigError
from ebmlab.report_html import data_uri, demo_html, fmt_value, page, table
from ebmlab.yaml_io import atomic_write_text

__all__ = ["metric_curves_png", "write_report"]

MAX_CURVES = 12


def _is_demo(summary: dict[str, Any]) -> bool:
    return isinstance(summary.get("sections"), list)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def metric_curves_png(records: Sequence[dict[str, Any]]) -> bytes | None:
    """Small multiples of every numeric metric against the step, as PNG bytes (None without metrics)."""
    from ebmlab.plotting import pyplot

    series: dict[str, tuple[list[float], list[float]]] = {}
    for rec in records:
        if "event" in rec or "step" not in rec:
            continue
        for key, value in rec.items():
            if key in ("step", "time") or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            xs, ys = series.setdefault(key, ([], []))
            xs.append(float(rec["step"]))
            ys.append(float(value))
    names = sorted(series)[:MAX_CURVES]
    if not names:
        return None
    plt = pyplot()
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        ax.plot(*series[name], lw=1)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def _run_html(run: Path, summary: dict[str, Any], metrics: list[dict[str, Any]]) -> str:
    parts = [f"<h1>Run {html.escape(str(run))}</h1>"]
    facts = {k: summary.get(k) for k in ("status", "method", "steps", "seed", "wall_time_s", "device", "finished")}
    facts |= {f"version {k}": v for k, v in (summary.get("versions") or {}).items()}
    parts.append(table(["run", "value"], [[k, str(v)] for k, v in facts.items() if v is not None]))
    curves = metric_curves_png(metrics)
    if curves is not None:
        uri = "data:image/png;base64," + base64.b64encode(curves).decode("ascii")
        parts.append(f"<h2>Metrics over training</h2><p><img alt='metric curves' src='{uri}'></p>")
    final = summary.get("final_metrics") or {}
    if final:
        rows = [[k, fmt_value(v) if isinstance(v, int | float) else str(v)] for k, v in sorted(final.items())]
        parts.append("<h2>Final metrics</h2>" + table(["metric", "value"], rows, numeric=(1,)))
    for fig in sorted(run.glob("*.png")) + sorted(run.glob("figures/*.png")):
        parts.append(
            f"<h2>{html.escape(fig.name)}</h2><p><img alt='{html.escape(fig.name)}' src='{data_uri(fig)}'></p>"
        )
    config = run / "config.yaml"
    if config.exists():
        parts.append(f"<h2>Resolved config</h2><pre>{html.escape(config.read_text())}</pre>")
    return "".join(parts)


#: sampler diagnostics shown for an ``ebmlab sample`` directory, in this order
SAMPLE_KEYS = (
    "target", "sampler", "chains", "steps", "warmup", "step_size", "accept_rate", "target_accept",
    "adaptation_reached", "accept_chain_min", "accept_chain_median", "accept_chain_max", "n_stuck", "stuck_chains",
    "ess_bulk_min", "ess_per_draw", "ess_per_grad", "rhat_max", "seconds",
)  # fmt: skip


def _sample_html(run: Path, diag: dict[str, Any]) -> str:
    parts = [f"<h1>Samples {html.escape(str(run))}</h1>"]
    rows = [[k, fmt_value(v) if isinstance(v, int | float) else html.escape(str(v))] for k in SAMPLE_KEYS
            if (v := diag.get(k)) is not None]  # fmt: skip
    parts.append(table(["sampler diagnostic", "value"], rows, numeric=(1,)))
    for warning in diag.get("warnings") or []:
        parts.append(f"<p><b>WARNING</b>: {html.escape(str(warning))}</p>")
    for fig in sorted(run.glob("*.png")):
        parts.append(
            f"<h2>{html.escape(fig.name)}</h2><p><img alt='{html.escape(fig.name)}' src='{data_uri(fig)}'></p>"
        )
    return "".join(parts)


def write_report(run_dirs: Sequence[Path], out: Path) -> Path:
    """Render ``run_dirs`` into ``out/report.html`` and ``out/summary.json``; returns the HTML path."""
    bodies: list[str] = []
    numbers: list[dict[str, Any]] = []
    for run in run_dirs:
        summary = _read_json(run / "summary.json")
        diag = _read_json(run / "diagnostics.json")
        if not summary and diag and not (run / "metrics.jsonl").exists():
            bodies.append(_sample_html(run, diag))
            numbers.append({"run": str(run), "kind": "sample", "summary": diag})
            continue
        if not summary and not (run / "metrics.jsonl").exists():
            raise ConfigError(
                f"{run} is neither a training run, a demo nor an ebmlab sample directory (no summary.json, "
                "metrics.jsonl or diagnostics.json)"
            )
        if _is_demo(summary):
            bodies.append(demo_html(summary, run))
            numbers.append({"run": str(run), "kind": "demo", "summary": summary})
            continue
        from ebmlab.training.logs import read_metrics

        metrics = read_metrics(run / "metrics.jsonl")
        bodies.append(_run_html(run, summary, metrics))
        numbers.append({"run": str(run), "kind": "training", "summary": summary, "metrics": metrics})
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.json", json.dumps({"runs": numbers}, indent=2, default=str) + "\n")
    title = "ebmlab report: " + ", ".join(p.name for p in run_dirs)
    atomic_write_text(out / "report.html", page(title, "<hr>".join(bodies)))
    return out / "report.html"
