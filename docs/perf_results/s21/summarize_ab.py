"""Summarise driver_ab.sh (or mh_test_ab.sh: prefix mh_test_ab): per row, the rate ratio new ÷ old of each round (paired: the two processes ran back to
back), their median and range, and each side's median cost (ours ÷ floor).

    python docs/perf_results/s21/summarize_ab.py [rounds] [prefix]
"""

import json
import statistics
import sys
from pathlib import Path

here = Path(__file__).parent
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
prefix = sys.argv[2] if len(sys.argv) > 2 else "driver_ab"


def rows(side: str, r: int) -> dict:
    data = json.loads((here / f"{prefix}_{side}_{r}.json").read_text())
    return {(x["sampler"], x["energy"], x["chains"]): x for x in data["rows"]}


old = [rows("old", r) for r in range(1, rounds + 1)]
new = [rows("new", r) for r in range(1, rounds + 1)]
print("| sampler | energy / chains | new ÷ old rate, per round | median | cost old (median) | cost new (median) |")
print("|---|---|---|---|---|---|")
all_ratios = []
for key in old[0]:
    ratios = [n[key]["ours"] / o[key]["ours"] for o, n in zip(old, new, strict=True)]
    all_ratios += ratios
    co = statistics.median(o[key]["cost"] for o in old)
    cn = statistics.median(n[key]["cost"] for n in new)
    per = " / ".join(f"{x:.2f}" for x in ratios)
    print(f"| {key[0]} | {key[1]} / {key[2]} | {per} | {statistics.median(ratios):.3f} | {co:.2f} | {cn:.2f} |")
print(
    f"\nall rows and rounds: median new ÷ old {statistics.median(all_ratios):.3f}, "
    f"range {min(all_ratios):.2f}–{max(all_ratios):.2f}"
)
