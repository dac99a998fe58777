"""Session 15's tables: for each row of ``samplers_user.py`` JSON files (one file per run), ours ÷ BlackJAX run by run
(paired where the peers ran interleaved) and the cost (ours ÷ floor) range; for ``training.py`` files, fit ÷ bare (paired) round by round and the median.

    python docs/perf_results/s15_scratch/summarize.py samplers docs/perf_results/samplers_cpu_s15_user_module_{1,2}.json
    python docs/perf_results/s15_scratch/summarize.py training docs/perf_results/training_cpu_s15_{1,2,3,4,5}.json
"""

from __future__ import annotations

import json
import statistics
import sys


def bj_ratio(row: dict) -> float:
    """ours ÷ BlackJAX: the paired median where the peers ran interleaved (session 15 on), else the rates' ratio."""
    return row.get("blackjax_paired") or row["ours"] / row["blackjax"]


def samplers(paths: list[str]) -> None:
    runs = [json.load(open(p))["rows"] for p in paths]
    keys = [(r["sampler"], r["energy"], r["chains"], r["capture"]) for r in runs[0]]
    print("| sampler | energy / chains | capture | ours (k chain-steps/s) | ours ÷ BlackJAX | cost (ours ÷ floor) |")
    print("|---|---|---|---|---|---|")
    for key in keys:
        rows = [next(r for r in run if (r["sampler"], r["energy"], r["chains"], r["capture"]) == key) for run in runs]
        ours = " / ".join(f"{r['ours'] / 1e3:.0f}" for r in rows)
        bj = " / ".join(f"{bj_ratio(r):.2f}" if r.get("blackjax") else "—" for r in rows)
        costs = [r["cost"] for r in rows]
        cost = f"{min(costs):.2f}–{max(costs):.2f}" if len(costs) > 1 else f"{costs[0]:.2f}"
        s, e, c, cap = key
        print(f"| {s} | {e} / {c} | {cap.split('@')[0]} | {ours} | {bj} | {cost} |")


def training(paths: list[str]) -> None:
    runs = [{r["workload"]: r for r in json.load(open(p))["rows"]} for p in paths]
    print("| workload | fit ÷ bare (paired), rounds | median |")
    print("|---|---|---|")
    for name in runs[0]:
        vals = [run[name]["fit / bare (CPU time, paired)"] for run in runs]
        print(f"| {name} | {' / '.join(f'{v:.3f}' for v in vals)} | **{statistics.median(vals):.3f}** |")


if __name__ == "__main__":
    {"samplers": samplers, "training": training}[sys.argv[1]](sys.argv[2:])
