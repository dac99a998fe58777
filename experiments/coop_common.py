"""Shared helpers of the cooperative-learning experiments: mean ± s.d. over seeds and Markdown tables."""

from __future__ import annotations

from typing import Any

import torch


def pick(result: dict[str, Any], path: list[str]) -> float | None:
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)


def summarize(results: list[dict[str, Any]], columns: dict[str, list[str]]) -> list[dict[str, Any]]:
    """One row per (arm, K[, mask]): each column's per-seed values, mean and s.d. (over seeds)."""
    rows: list[dict[str, Any]] = []
    keys = dict.fromkeys((r["arm"], r.get("K"), r.get("mask")) for r in results)
    for arm, k, mask in keys:
        runs = [r for r in results if (r["arm"], r.get("K"), r.get("mask")) == (arm, k, mask)]
        row: dict[str, Any] = {"arm": arm, "K": k, "mask": mask, "seeds": [r.get("seed") for r in runs]}
        for name, path in columns.items():
            values = [v for v in (pick(r, path) for r in runs) if v is not None]
            if name == "diverged":  # a count over seeds, not a mean over finished runs
                values = [float(sum(values))]
            t = torch.tensor(values, dtype=torch.float64)
            row[name] = {
                "per_seed": values,
                "mean": float(t.mean()) if values else float("nan"),
                "sd": float(t.std()) if len(values) > 1 else float("nan"),
            }
        rows.append(row)
    return rows


def cell(col: dict[str, Any], fmt: str) -> str:
    if col["mean"] != col["mean"]:
        return "—"
    sd = "" if col["sd"] != col["sd"] else f" ± {col['sd']:{fmt}}"
    return f"{col['mean']:{fmt}}{sd}"


def table(rows: list[dict[str, Any]], columns: dict[str, str], lead: tuple[str, ...] = ("arm", "K")) -> str:
    """Markdown table: the ``lead`` keys, then each column as mean ± s.d. with its format."""
    head = [*lead, *columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lead_cells = [str(r.get(k)) for k in lead]
        lines.append("| " + " | ".join([*lead_cells, *(cell(r[c], f) for c, f in columns.items())]) + " |")
    return "\n".join(lines)
