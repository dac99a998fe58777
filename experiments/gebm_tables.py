"""Markdown tables of docs/gebm.md from the JSON files the GEBM experiments write (no computation here).

python experiments/gebm_tables.py      # reads docs/gebm_{ring,kinetic,density}.json if present
"""

from __future__ import annotations

import json
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
        f"\nKinetic vs overdamped ({len(doc['seeds'])} seeds, {doc['chains']} chains, {doc['budget']} gradients/chain)\n"
    )
    print("| sampler | modes visited / chain | switches / chain | TV of mode masses | min bulk ESS | accept |")
    print("|---|---|---|---|---|---|")
    for name, row in doc["table"].items():
        cells = [pm(row, "modes_visited", ".2f"), pm(row, "switches_per_chain", ".1f"), pm(row, "tv_mode_mass")]
        cells += [pm(row, "ess_bulk_min", ".0f"), f"{row['accept_rate']:.3f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    quad = [s["quadrature"] for s in doc["per_seed"]]
    print("\nQuadrature: mass of ν outside every mode per seed: " + ", ".join(f"{q['outside_mass']:.3f}" for q in quad))


def density(doc: dict) -> None:
    print(f"Density estimation ({len(doc['seeds'])} seeds; test NLL in nats/point, mean ± sd over seeds)\n")
    print(
        "| data | flow, MLE | GEBM (KALE) | its base | GEBM (KALE + ML base) | its base | mean SE in a seed (GEBM) | k̂ |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for data, r in doc["table"].items():
        cells = [pm(r, "mle/nll", ".2f"), pm(r, "gebm/nll", ".2f"), pm(r, "gebm/base_nll", ".2f")]
        cells += [pm(r, "gebm_ml_base/nll", ".2f"), pm(r, "gebm_ml_base/base_nll", ".2f")]
        cells += [f"{r['gebm/nll_se']:.2f}", f"{max(r['gebm/pareto_k'], r['gebm_ml_base/pareto_k']):.2f}"]
        print(f"| {data} | " + " | ".join(cells) + " |")


def main() -> None:
    files = {"ring": ring, "ring_refit": ring, "kinetic": kinetic, "kinetic_beta100": kinetic, "density": density}
    for name, fn in files.items():
        path = DOCS / f"gebm_{name}.json"
        if path.exists():
            print(f"\n### docs/gebm_{name}.json\n")
            fn(json.loads(path.read_text()))


if __name__ == "__main__":
    main()
