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
    toy = ROOT / "docs/results_coop_toy.json"
    if toy.exists():
        rows = json.loads(toy.read_text())["summary"]
        cols = {
            "diverged": ".0f",
            "mmd2_K": ".4f",
            "mmd2_1000": ".4f",
            "nll_gap": ".2f",
            "seconds_per_iteration": ".4f",
        }
        print("### eight-gaussians\n\n" + table(rows, cols) + "\n")
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
