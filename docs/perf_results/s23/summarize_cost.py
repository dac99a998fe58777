"""Cost (ours ÷ floor, wall clock) per row with draw_ahead off, on and auto (those present), from `cost_rounds.sh`'s JSON files:

python docs/perf_results/s23/summarize_cost.py > docs/perf_results/s23/summarize_cost_1.txt
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    modes = ("off", "on", "auto")
    costs: dict[tuple[str, str, int], dict[str, list[float]]] = {}
    rates: dict[tuple[str, str, int], dict[str, list[float]]] = {}
    prefix = sys.argv[1] if len(sys.argv) > 1 else "cost"
    for path in sorted(HERE.glob(f"{prefix}_*_*.json")):
        mode = path.stem.split("_")[1]  # cost_MODE_ROUND.json
        for row in json.loads(path.read_text())["rows"]:
            key = (row["sampler"], row["energy"], row["chains"])
            costs.setdefault(key, {m: [] for m in modes})[mode].append(row["cost"])
            rates.setdefault(key, {m: [] for m in modes})[mode].append(row["ours"] / 1e3)
    present = [m for m in modes if any(by[m] for by in costs.values())]
    print("| sampler | energy / chains | " + " | ".join(f"cost, {m}" for m in present) + " | "
          + " | ".join(f"k chain-steps/s, {m}" for m in present) + " |")  # fmt: skip
    print("|---|---|" + "---|" * (2 * len(present)))
    for (sampler, energy, chains), by in costs.items():
        r = rates[(sampler, energy, chains)]
        cells = [" / ".join(f"{c:.2f}" for c in by[m]) for m in present]
        cells += [" / ".join(f"{x:.0f}" for x in r[m]) for m in present]
        print(f"| {sampler} | {energy} / {chains} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
