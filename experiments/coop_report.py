"""Print the Markdown tables of docs/cooperative.md from the results JSON files of the coop_* experiments.

python experiments/coop_report.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
from coop_common import table  # noqa: E402


def main() -> int:
    for name, stem in (("eight-gaussians", "toy"), ("rings", "rings")):
        toy = ROOT / f"docs/results_coop_{stem}.json"
        if toy.exists():
            rows = json.loads(toy.read_text())["summary"]
            cols = {"diverged": ".0f", "mmd2_K": ".4f", "mmd2_1000": ".4f", "nll_gap": ".2f"}
            print(f"### {name}\n\n" + table(rows, cols | {"seconds_per_iteration": ".4f"}) + "\n")
    for name in ("eight-gaussians", "rings", "digits"):
        tune = ROOT / f"docs/results_coop_tune_{name}.json"
        if tune.exists():
            data = json.loads(tune.read_text())
            print(f"### tuning, {name} ({data['settings']['criterion']})\n")
            print("| arm | candidates (score) | selected |\n|---|---|---|")
            for arm, lrs in data["candidates"].items():
                scores = {r["lr"]: r["score"] for r in data["runs"] if r["arm"] == arm}
                cells = ", ".join(f"{lr} ({scores[lr]:.3g})" for lr in lrs if lr in scores)
                print(f"| {arm} | {cells} | {data['selected'].get(arm, '—')} |")
            print()
    timing = ROOT / "docs/results_coop_timing.json"
    if timing.exists():
        data = json.loads(timing.read_text())
        print(f"### time per iteration (load average {data['loadavg_before']} before, {data['loadavg_after']} after)\n")
        print("| data | K | arm | wall s / iteration (median, 25–75 %) | CPU s / iteration (median, 25–75 %) |")
        print("|---|---|---|---|---|")
        for r in data["rows"]:
            wall = f"{r['median_s']:.4f} ({r['q25_s']:.4f}–{r['q75_s']:.4f})"
            cpu = f"{r['cpu_median_s']:.4f} ({r['cpu_q25_s']:.4f}–{r['cpu_q75_s']:.4f})" if "cpu_median_s" in r else "—"
            print(f"| {r['data']} | {r['K']} | {r['arm']} | {wall} | {cpu} |")
        print()
    diag = ROOT / "docs/results_coop_diagnose_completion.json"
    if diag.exists():
        keys = ("diversity_proposal", "diversity_revised", "error_proposal", "error_revised", "kl_revised")
        print("### diagnosis, completion (last probe)\n\n| variant | step | " + " | ".join(keys) + " |")
        print("|---|---|" + "---|" * len(keys))
        for r in json.loads(diag.read_text())["runs"]:
            t = r["trace"][-1]
            print(f"| {r['variant']} | {t['step']} | " + " | ".join(f"{t[k]:.3f}" for k in keys) + " |")
        print()
    digits = ROOT / "docs/results_coop_digits.json"
    if digits.exists():
        rows = json.loads(digits.read_text())["summary"]
        cols = {
            "diverged": ".0f",
            "fd_K": ".1f",
            "kid_K": ".3f",
            "fd_1000": ".1f",
            "kid_1000": ".3f",
            "fd_floor": ".1f",
        }
        print("### digits\n\n" + table(rows, cols | {"classes_K": ".1f", "seconds_per_iteration": ".4f"}) + "\n")
    comp = ROOT / "docs/results_coop_completion.json"
    if comp.exists():
        data = json.loads(comp.read_text())
        cols = {"pixel_mse": ".3f", "accuracy": ".3f", "diversity": ".3f", "observed_max_abs_change": ".1g"}
        print("### completion\n\n" + table(data["summary"], cols, lead=("mask", "arm")) + "\n")
        for t in data["timing"]:
            print(f"seed {t['seed']}: coop {t['coop']:.4f} s/iteration, cVAE alone {t['cvae']:.4f} s/iteration")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
