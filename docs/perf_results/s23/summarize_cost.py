"""Cost (ours ÷ floor, wall clock) per row with draw_ahead off and on, from `cost_rounds.sh`'s JSON files:

python docs/perf_results/s23/summarize_cost.py > docs/perf_results/s23/summarize_cost_1.txt
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    costs: dict[tuple[str, str, int], dict[bool, list[float]]] = {}
    rates: dict[tuple[str, str, int], dict[bool, list[float]]] = {}
    for path in sorted(HERE.glob("cost_*_*.json")):
        payload = json.loads(path.read_text())
        ahead = bool(payload["machine"]["draw_ahead"])
        for row in payload["rows"]:
            key = (row["sampler"], row["energy"], row["chains"])
            costs.setdefault(key, {False: [], True: []})[ahead].append(row["cost"])
            rates.setdefault(key, {False: [], True: []})[ahead].append(row["ours"] / 1e3)
    print("| sampler | energy / chains | cost, draw_ahead off | cost, on | k chain-steps/s, off | on |")
    print("|---|---|---|---|---|---|")
    for (sampler, energy, chains), by in costs.items():
        r = rates[(sampler, energy, chains)]
        print(
            f"| {sampler} | {energy} / {chains} | {' / '.join(f'{c:.2f}' for c in by[False])} | "
            f"{' / '.join(f'{c:.2f}' for c in by[True])} | {' / '.join(f'{x:.0f}' for x in r[False])} | "
            f"{' / '.join(f'{x:.0f}' for x in r[True])} |"
        )


if __name__ == "__main__":
    main()
