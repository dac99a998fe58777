"""Markdown tables of docs/rate_distortion.md from docs/results_rd_*.json (no numbers typed by hand).

PYTHONPATH=src python experiments/rd_tables.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def pm(v: list[float], scale: float = 1.0, fmt: str = "{:+.2f}") -> str:
    return f"{fmt.format(v[0] * scale)} ± {abs(v[1]) * scale:.2f}"


def section(name: str) -> None:
    path = DOCS / f"results_rd_{name}.json"
    if not path.exists():
        print(f"\n({name}: not run)\n")
        return
    res = json.loads(path.read_text())
    print(f"\n**{name}** (`python experiments/rd_gaussian.py {name} ...`, {res.get('steps')} steps)\n")
    print(
        "| variant | β | R(β) closed form (nats) | ΔD/D* (%) | ΔR at matched D (nats ×10³) | ΔR/R (%) | closed form in band | band width (nats) | s per run |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in res["summary"]:
        print(
            f"| {r['variant']} | {r['beta']:g} | {r['rate_closed_form_at_beta']:.4f} | {pm(r['d_rel_err'], 100)} | "
            f"{pm(r['r_err_matched_d'], 1000, '{:+.1f}')} | {pm(r['r_rel_err_matched_d'], 100)} | "
            f"{'yes' if r['inside_band'] else 'NO'} ({r['n_seeds']} seeds) | {pm(r['band_width'], 1, '{:.3f}')} | {r['seconds'][0]:.0f} |"
        )
    if name in ("10d", "10d_eba", "40d"):
        print("\nLearned conditional vs the closed-form optimal one (seed 0; active components only):\n")
        print("| β | active | max abs. Δ mean map | max rel. Δ cond. variance (%) |")
        print("|---|---|---|---|")
        for r in res["runs"]:
            if r["seed"] != 0:
                continue
            act = [k for k, m in enumerate(r["mean_map_closed_form"]) if m > 0]
            dm = max(abs(r["mean_map"][k] - r["mean_map_closed_form"][k]) for k in act)
            dv = max(abs(r["cond_var"][k] / r["cond_var_closed_form"][k] - 1) for k in act)
            print(f"| {r['beta']:g} | {len(act)} | {dm:.4f} | {100 * dv:.1f} |")
    for s in res.get("slopes", []):
        print(
            f"\nseed {s['seed']}: dR/dD = {s['slope']:.3f} vs −β = {s['minus_beta']:.2f} "
            f"({100 * s['rel_err']:+.1f} %); largest L_RD increase over 10 steps {s['max_l_rd_increase_per_10_steps']:.2e} nats"
        )


def figures() -> None:
    """Redraw docs/figures/rd_<section>.png (seed 0) from the stored results."""
    import importlib.util

    from ebmlab.cli.rd import plot_rd
    from ebmlab.ratedistortion import BernoulliSource, GaussianSource

    spec = importlib.util.spec_from_file_location("rd_gaussian", Path(__file__).with_name("rd_gaussian.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in ("scalar", "2d", "10d_eba", "10d", "40d", "bernoulli", "slope"):
        path = DOCS / f"results_rd_{name}.json"
        if not path.exists():
            continue
        runs = json.loads(path.read_text())["runs"]
        first = [r for r in runs if r["seed"] == runs[0]["seed"] and r["variant"] == runs[0]["variant"]]
        src = BernoulliSource(0.3) if name == "bernoulli" else GaussianSource(mod.SECTIONS[name.split("_")[0]][0])
        plot_rd(first, src, "hamming" if name == "bernoulli" else "squared", DOCS / "figures" / f"rd_{name}.png")


def main() -> None:
    figures()
    for name in ("scalar", "2d", "10d_eba", "10d", "40d", "bernoulli", "slope"):
        section(name)
    lap = DOCS / "results_rd_laplace.json"
    if lap.exists():
        res = json.loads(lap.read_text())
        print(
            f"\n**laplace** ({res['method']})\n\n| β | D | R (BA) | R(D) closed form | rel. err (%) |\n|---|---|---|---|---|"
        )
        for p, e in zip(res["points"], res["rel_err_matched_d"], strict=True):
            print(
                f"| {p['beta']:g} | {p['distortion']:.4f} | {p['rate']:.4f} | {p['rate_closed_form']:.4f} | {100 * e:+.2f} |"
            )
    _ = math


if __name__ == "__main__":
    main()
