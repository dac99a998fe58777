"""Markdown tables of docs/gebm.md from the JSON files the GEBM experiments write (no computation here).

python experiments/gebm_tables.py      # reads docs/gebm_{ring,kinetic,density}.json if present
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def pm(row: dict, key: str, fmt: str = ".3f") -> str:
    return f"{row[key]:{fmt}} ± {row[key + '_sd']:{fmt}}"


def ring(doc: dict) -> None:
    refit = doc.get("refit_energy", 0)
    extra = f"; energy refitted {refit} steps with the base frozen" if refit else ""
    print(f"Ring ({len(doc['seeds'])} seeds, n = {doc['n']} samples each{extra}; mean ± sd over seeds)\n")
    print("| samples | mode-weight TV | mass outside modes | MMD² to test |\n|---|---|---|---|")
    for name, row in doc["table"].items():
        print(f"| {name} | {pm(row, 'tv')} | {pm(row, 'outside')} | {pm(row, 'mmd2', '.4f')} |")


def kinetic(doc: dict) -> None:
    print(
        f"Kinetic vs overdamped (β = {doc.get('sharpen', 1.0):g}, {len(doc['seeds'])} seeds, {doc['chains']} chains, {doc['budget']} gradients/chain)\n"
    )
    print("| sampler | modes visited / chain | switches / chain | TV of mode masses | min bulk ESS | accept |")
    print("|---|---|---|---|---|---|")
    for name, row in doc["table"].items():
        cells = [pm(row, "modes_visited", ".2f"), pm(row, "switches_per_chain", ".1f"), pm(row, "tv_mode_mass")]
        cells += [pm(row, "ess_bulk_min", ".0f"), f"{row['accept_rate']:.3f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    quad = [s["quadrature"] for s in doc["per_seed"]]
    print("\nQuadrature: mass of ν outside every mode per seed: " + ", ".join(f"{q['outside_mass']:.3f}" for q in quad))


def density(doc: dict, mle: dict | None = None) -> None:
    """Per-seed test NLLs (seed 0 / 1 / 2), with the mean SE within a seed in brackets."""
    print(f"Density estimation ({len(doc['seeds'])} seeds; test NLL in nats/point per seed, [mean SE in a seed])\n")
    cols = [("flow, MLE", "mle", "nll"), ("flow, MLE early-stopped", "mle_early_stopped", "nll")]
    cols += [("GEBM (KALE)", "gebm", "nll"), ("its base", "gebm", "base_nll")]
    cols += [("GEBM (KALE + ML base)", "gebm_ml_base", "nll"), ("its base", "gebm_ml_base", "base_nll")]
    print("| data | " + " | ".join(c[0] for c in cols) + " | IS ESS (min) | max k̂ |")
    print("|---|" + "---|" * (len(cols) + 2))
    for data, runs in doc["per_seed"].items():
        extra = (mle or {}).get("per_seed", {}).get(data, [{}] * len(runs))
        runs = [r | {k: v for k, v in e.items() if k not in r} for r, e in zip(runs, extra, strict=True)]
        cells = []
        for _, key, col in cols:
            if key not in runs[0]:
                cells.append("–")
                continue
            vals = " / ".join(f"{r[key][col]:.4g}" for r in runs)
            se = statistics.mean(r[key].get(col + "_se", float("nan")) for r in runs)
            cells.append(f"{vals} [{se:.2g}]")
        ess = min(r[k]["is_ess"] for r in runs for k in ("gebm", "gebm_ml_base"))
        k_hat = max(r[k]["pareto_k"] for r in runs for k in ("gebm", "gebm_ml_base"))
        print(f"| {data} | " + " | ".join(cells) + f" | {ess:.0f} | {k_hat:.2f} |")


def main() -> None:
    files = {"ring": ring, "ring_refit": ring, "kinetic": kinetic, "kinetic_beta100": kinetic}
    for name, fn in files.items():
        path = DOCS / f"gebm_{name}.json"
        if path.exists():
            print(f"\n### docs/gebm_{name}.json\n")
            fn(json.loads(path.read_text()))
    if (DOCS / "gebm_density.json").exists():
        print("\n### docs/gebm_density.json + docs/gebm_density_mle.json\n")
        mle = DOCS / "gebm_density_mle.json"
        density(
            json.loads((DOCS / "gebm_density.json").read_text()), json.loads(mle.read_text()) if mle.exists() else None
        )


if __name__ == "__main__":
    main()
