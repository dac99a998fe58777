"""Session 16's training rounds: fit ÷ bare and fit ÷ method loop (CPU time, paired) per workload and round.
With a pattern (relative to docs/perf_results), the rounds it names instead (session 21: "s21/training_cpu_s21_[0-9].json").

python docs/perf_results/s16_scratch/summarize_training.py [PATTERN]
"""

import glob
import json
import statistics
import sys

R = "docs/perf_results"
SETS = (
    ("bare loops with fit's Adam (foreach)", "training_cpu_s16_[0-9].json"),
    ("bare loops with PyTorch's default Adam", "training_cpu_s16_bare_default_[0-9].json"),
    ("cd-persistent, bare loops with fit's Adam", "training_cpu_s16_persistent_[0-9].json"),
)
for label, pattern in SETS if len(sys.argv) < 2 else (("rounds", sys.argv[1]),):
    files = sorted(glob.glob(f"{R}/{pattern}"))
    print(f"{label}: {', '.join(f.split('/')[-1] for f in files)}")
    rows: dict[str, dict[str, list[float]]] = {}
    for f in files:
        payload = json.load(open(f))
        for r in payload["rows"]:
            d = rows.setdefault(r["workload"], {"bare": [], "loop": [], "bare steps/s": []})
            d["bare"].append(r["fit / bare (CPU time, paired)"])
            d["loop"].append(r["fit / method loop (CPU time, paired)"])
            d["bare steps/s"].append(r["bare PyTorch steps/s"])
    for w, d in rows.items():
        b, m = d["bare"], d["loop"]
        print(
            f"  {w:14s} fit ÷ bare {' / '.join(f'{x:.3f}' for x in b)}  median {statistics.median(b):.3f}"
            f" | fit ÷ method loop {' / '.join(f'{x:.3f}' for x in m)}  median {statistics.median(m):.3f}"
            f" | bare {min(d['bare steps/s']):.0f}–{max(d['bare steps/s']):.0f} steps/s"
        )
