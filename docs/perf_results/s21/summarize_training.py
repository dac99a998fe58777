"""Session 21's training rounds (training_rounds.sh): fit ÷ bare and fit ÷ method loop (CPU time, paired) per
workload and round, with their medians.

    python docs/perf_results/s21/summarize_training.py
"""

import json
import statistics
from pathlib import Path

files = sorted(Path(__file__).parent.glob("training_cpu_s21_[0-9].json"))
print(", ".join(f.name for f in files))
rows: dict[str, dict[str, list[float]]] = {}
for f in files:
    for r in json.loads(f.read_text())["rows"]:
        d = rows.setdefault(r["workload"], {"bare": [], "loop": []})
        d["bare"].append(r["fit / bare (CPU time, paired)"])
        d["loop"].append(r["fit / method loop (CPU time, paired)"])
for w, d in rows.items():
    b, m = d["bare"], d["loop"]
    print(
        f"  {w:14s} fit ÷ bare {' / '.join(f'{x:.3f}' for x in b)}  median {statistics.median(b):.3f}"
        f" | fit ÷ method loop {' / '.join(f'{x:.3f}' for x in m)}  median {statistics.median(m):.3f}"
    )
