"""Calibration of log Z estimates with user-realistic defaults on held-out energies (benchmarks/heldout_energies.py).

For each energy, method and seed: error, reported SE, z = error/SE, the verdict, energy evaluations; per
(energy, method): mean z² over seeds (≈ 1 when the SE is honest), mean z² over the runs judged trustworthy,
mean |error|, SE, bracket width, time, and how often the verdict said "trustworthy". The criterion: mean z² ≤ 2
over the runs judged trustworthy, and a "not trustworthy" verdict on every run of a row whose mean z² exceeds 4.

With few seeds the mean z² is itself noisy: for honest SEs (z ~ N(0, 1)) n·mean z² ~ χ²_n, so with 5 seeds a row
exceeds 2 with probability P(χ²_5 > 10) = 7.5 % (of 24 honest rows, about two would "fail"). Each row therefore also
reports ``p_trusted`` = P(χ²_m ≥ Σ z²) over its m trusted runs: the probability of a mean z² at least this large if
those SEs were honest (a small p, not a mean z² a little over 2, is evidence of an over-confident SE).

    python benchmarks/logz_calibration.py --seeds 5 --jobs 2 --json docs/figures/logz_calibration.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))

METHODS = ("is", "ais", "bracket", "stepping-stone", "flow")
SIZES: dict[str, dict[str, Any]] = {
    "is": {"n": 20000},
    "ais": {"n": 256, "n_temperatures": 300},
    "bracket": {"n": 256, "n_temperatures": 300},
    "stepping-stone": {"n": 128},
    "flow": {"n": 20000},
}


def one_run(name: str, method: str, seed: int) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from ebmlab.estimators.user import log_z
    from heldout_energies import by_name

    h = by_name(name)
    t0 = time.perf_counter()
    est = log_z(h.energy, (h.dim,), method, seed=seed, **SIZES[method])
    d = est.details
    return {"energy": name, "method": method, "seed": seed, "log_z": est.value, "stderr": est.stderr,
            "exact": h.log_z, "verdict": d["verdict"], "reasons": d["reasons"], "checks": d["checks"],
            "proposal": d["proposal"],
            "energy_evaluations": d["energy_evaluations"], "seconds": time.perf_counter() - t0,
            "width": d.get("width"),
            "bracket": {k: d[k] for k in ("lower", "lower_se", "upper", "upper_se", "tempering") if k in d} or None}  # fmt: skip


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    zs = [(r["log_z"] - r["exact"]) / r["stderr"] if r["stderr"] > 0 else float("inf") for r in runs]
    trusted = [z for z, r in zip(zs, runs, strict=True) if r["verdict"] == "trustworthy"]
    mz2 = statistics.fmean(z * z for z in zs)
    mz2_trusted = statistics.fmean(z * z for z in trusted) if trusted else None
    p_trusted = float(stats.chi2.sf(sum(z * z for z in trusted), len(trusted))) if trusted else None
    widths = [r["width"] for r in runs if r["width"] is not None]
    return {
        "energy": runs[0]["energy"],
        "method": runs[0]["method"],
        "mean_z2": mz2,
        "mean_z2_trusted": mz2_trusted,
        "p_trusted": p_trusted,
        "mean_abs_error": statistics.fmean(abs(r["log_z"] - r["exact"]) for r in runs),
        "mean_se": statistics.fmean(r["stderr"] for r in runs),
        "bracket_width": statistics.fmean(widths) if widths else None,
        "trusted": f"{len(trusted)}/{len(runs)}",
        "seeds": sorted(r["seed"] for r in runs),
        "seconds": statistics.median(r["seconds"] for r in runs),
        "energy_evaluations": statistics.median(r["energy_evaluations"] for r in runs),
        "criterion_met": (mz2_trusted is None or mz2_trusted <= 2.0) and (mz2 <= 4.0 or not trusted),
    } | tail_counts(runs)


def pooled(runs: list[dict[str, Any]]) -> str:
    """One line: how many runs, how many judged trustworthy, and the pooled mean z² of each group."""
    z2 = [((r["log_z"] - r["exact"]) / r["stderr"]) ** 2 if r["stderr"] > 0 else math.inf for r in runs]
    ok = [z for z, r in zip(z2, runs, strict=True) if r["verdict"] == "trustworthy"]
    bad = [z for z, r in zip(z2, runs, strict=True) if r["verdict"] != "trustworthy"]
    mean = lambda v: f"{statistics.fmean(v):.2f}" if v else "—"  # noqa: E731
    return (f"{len(runs)} runs; {len(ok)} judged trustworthy ({100 * len(ok) / len(runs):.1f} %), pooled mean z² "
            f"{mean(ok)}; the {len(bad)} others {mean(bad)}")  # fmt: skip


def tail_counts(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """For IS runs with the tail probe and their reasons: the growth rates g, in how many runs the tail check
    fired, and in how many another check (ESS, k̂, groups, unseen modes) refused the run anyway."""
    if not all("tail_growth" in r.get("checks", {}) and "reasons" in r for r in runs):
        return {}
    tail = ["grow as r^" in " ".join(r["reasons"]) for r in runs]
    other = [any("grow as r^" not in why for why in r["reasons"]) for r in runs]
    g = [r["checks"]["tail_growth"] for r in runs]
    return {"tail_growth": [min(g), max(g)], "tail_fired": sum(tail), "refused_by_other_checks": sum(other)}


def tail_markdown(runs: list[dict[str, Any]]) -> str:
    """The tail-check validation table (``--set tails --table``)."""
    lines = [
        "| energy | seeds | mean z² (all) | runs with z² > 4 | tail growth g (min, max) | tail check fired "
        "| refused by another check | trusted | mean z² (trusted) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in dict.fromkeys(r["energy"] for r in runs):
        mine = [r for r in runs if r["energy"] == n and r["method"] == "is"]
        if not mine:
            continue
        row = summarise(mine)
        big = sum(((r["log_z"] - r["exact"]) / r["stderr"]) ** 2 > 4 for r in mine)
        t = "—" if row["mean_z2_trusted"] is None else f"{row['mean_z2_trusted']:.2f}"
        g = row.get("tail_growth") or [math.nan, math.nan]
        lines.append(
            f"| {n} | {len(mine)} | {row['mean_z2']:.2f} | {big} | {g[0]:.3g}, {g[1]:.3g} | {row.get('tail_fired')} "
            f"| {row.get('refused_by_other_checks')} | {row['trusted']} | {t} |"
        )
    return "\n".join(lines)


def markdown(runs: list[dict[str, Any]]) -> str:
    """The docs table from per-run records (``--table``)."""
    lines = [
        "| energy | method | seeds | mean z² (all) | mean z² (trusted runs) | p (trusted) | mean \\|error\\| | mean SE "
        "| bracket width | trusted | criterion | energy evals | median s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in dict.fromkeys(r["energy"] for r in runs):
        for m in METHODS:
            mine = [r for r in runs if r["energy"] == n and r["method"] == m]
            if not mine:
                continue
            row = summarise(mine)
            t = "—" if row["mean_z2_trusted"] is None else f"{row['mean_z2_trusted']:.2f}"
            pt = "—" if row["p_trusted"] is None else f"{row['p_trusted']:.2g}"
            w = "—" if row["bracket_width"] is None else f"{row['bracket_width']:.3f}"
            lines.append(
                f"| {n} | {m} | {len(mine)} | {row['mean_z2']:.2f} | {t} | {pt} | {row['mean_abs_error']:.4f} | "
                f"{row['mean_se']:.4f} | {w} | {row['trusted']} | {'met' if row['criterion_met'] else '**fails**'} | "
                f"{row['energy_evaluations']:.2g} | {row['seconds']:.0f} |"
            )
    return "\n".join(lines)


def merge_runs(*run_lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One list of runs from several, sorted by seed: a run of the same (energy, method, seed) in a later list
    *replaces* the earlier one (a re-run supersedes the old run; it is never counted twice)."""
    merged: dict[tuple[str, str, int], dict[str, Any]] = {}
    for runs in run_lists:
        for r in runs:
            merged[(r["energy"], r["method"], r["seed"])] = r
    return sorted(merged.values(), key=lambda r: r["seed"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seed-from", type=int, default=0, help="first seed (seeds seed_from .. seeds − 1)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--only", default="", help="comma-separated energy names")
    p.add_argument(
        "--set",
        default="heldout",
        choices=("heldout", "tails"),
        help="the held-out set or the tail-check validation set",
    )
    p.add_argument("--jobs", type=int, default=1, help="parallel processes (one run each)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--resume", action="store_true", help="keep the runs already in --json and do the rest")
    p.add_argument("--table", action="store_true", help="print the markdown table of the runs in --json and exit")
    p.add_argument(
        "--merge", type=Path, nargs="*", default=[], help="with --table: merge the runs in these files into --json"
    )
    a = p.parse_args()
    if a.table:
        payloads = [json.loads(f.read_text()) for f in [a.json, *a.merge]]
        runs = merge_runs(*(pl["runs"] for pl in payloads))  # later files replace earlier runs of the same key
        if a.merge:  # sweeps split over processes (--seed-from, --only): one file with every run
            from ebmlab.yaml_io import atomic_write_text

            rows = [summarise([r for r in runs if (r["energy"], r["method"]) == k])
                    for k in dict.fromkeys((r["energy"], r["method"]) for r in runs)]  # fmt: skip
            keep = {k: v for k, v in payloads[0].items() if k not in ("rows", "runs")}  # e.g. "commands", "note"
            atomic_write_text(a.json, json.dumps(keep | {"rows": rows, "runs": runs}, indent=1, default=str) + "\n")
        print(markdown(runs))
        print("\n" + pooled(runs))
        if a.set == "tails":
            print("\n" + tail_markdown(runs))
        return
    from ebmlab.yaml_io import atomic_write_text
    from heldout_energies import all_heldout, tail_validation

    energies = all_heldout() if a.set == "heldout" else tail_validation()
    names = [h.name for h in energies if not a.only or h.name in a.only.split(",")]
    tasks = [(n, m, s) for s in range(a.seed_from, a.seeds) for n in names for m in a.methods.split(",")]
    runs: list[dict[str, Any]] = []
    if a.resume and a.json and a.json.exists():  # keep finished runs of the same command
        runs = [r for r in json.loads(a.json.read_text())["runs"] if (r["energy"], r["method"], r["seed"]) in tasks]
        done = {(r["energy"], r["method"], r["seed"]) for r in runs}
        tasks = [t for t in tasks if t not in done]
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        futures = [pool.submit(one_run, *t) for t in tasks]
        for f in as_completed(futures):
            runs.append(f.result())
            if a.json:  # written after every run, so an interrupted sweep keeps what finished (--resume)
                atomic_write_text(a.json, json.dumps({"rows": [], "runs": runs}, indent=1, default=str) + "\n")
    names = [n for n in names if any(r["energy"] == n for r in runs)]
    rows = []
    for n in names:
        for m in a.methods.split(","):
            mine = [r for r in runs if r["energy"] == n and r["method"] == m]
            if not mine:
                continue
            row = summarise(mine)
            rows.append(row)
            t = "—" if row["mean_z2_trusted"] is None else f"{row['mean_z2_trusted']:.2f}"
            print(
                f"{n:12s} {m:15s} mean z² {row['mean_z2']:9.2f} (trusted {t:>6s})  |err| {row['mean_abs_error']:.4f}"
                f"  SE {row['mean_se']:.4f}  trusted {row['trusted']}  {row['seconds']:.1f}s"
                f"  {'ok' if row['criterion_met'] else 'CRITERION FAILS'}",
                flush=True,
            )
    n_trusted = sum(r["verdict"] == "trustworthy" for r in runs)
    print(f"trusted runs: {n_trusted}/{len(runs)}; rows meeting the criterion: "
          f"{sum(r['criterion_met'] for r in rows)}/{len(rows)}")  # fmt: skip
    if a.json:
        atomic_write_text(a.json, json.dumps({"rows": rows, "runs": runs}, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
