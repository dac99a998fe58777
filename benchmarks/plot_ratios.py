"""A figure of ``samplers_user.py`` results: ours ÷ BlackJAX and ours ÷ floor (the cost) per row, over several runs.

One line per (sampler, energy, chains, capture); each run is a dot, the line spans the runs. ``ours ÷ BlackJAX`` is the
paired median where the peers ran interleaved (``blackjax_paired``), else the ratio of the medians, as in the tables.
Dashed lines mark issue 17's goals: BlackJAX's throughput (1), within 2× of it (0.5) for the cheap rows at 128 chains,
and a cost of at most 1.10.

    python benchmarks/plot_ratios.py docs/perf_results/samplers_cpu_s15_user_module_{3,4,5}.json --out ratios.png
    python benchmarks/plot_ratios.py runs/*.json --out ratios.png --title "my machine" --capture auto
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from ebmlab.plotting import pyplot

Key = tuple[str, str, int, str]  # sampler, energy, chains, capture


def peer_ratio(row: dict) -> float | None:
    """ours ÷ BlackJAX of one row: the paired median when there is one, else ours ÷ BlackJAX's median."""
    paired = row.get("blackjax_paired")
    if paired is not None:
        return float(paired)
    return row["ours"] / row["blackjax"] if row.get("blackjax") else None


def collect(files: Iterable[Path], captures: set[str] | None = None) -> dict[Key, dict[str, list[float]]]:
    """``{(sampler, energy, chains, capture): {"blackjax": [...], "cost": [...]}}``, one value per run that has it
    (``capture`` without its ``@device`` suffix; ``captures``: keep only these)."""
    found: dict[Key, dict[str, list[float]]] = {}
    for path in files:
        for row in json.loads(Path(path).read_text())["rows"]:
            capture = row["capture"].split("@")[0]
            if captures is not None and capture not in captures:
                continue
            got = found.setdefault(
                (row["sampler"], row["energy"], int(row["chains"]), capture), {"blackjax": [], "cost": []}
            )
            ratio = peer_ratio(row)
            if ratio is not None:
                got["blackjax"].append(ratio)
            got["cost"].append(float(row["cost"]))
    return dict(sorted(found.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0], kv[0][3])))


def energy_bands(keys: list[Key]) -> list[tuple[int, int]]:
    """(first, last) line of each energy's run of consecutive lines."""
    bands: list[tuple[int, int]] = []
    for i, key in enumerate(keys):
        if bands and keys[bands[-1][0]][1] == key[1]:
            bands[-1] = (bands[-1][0], i)
        else:
            bands.append((i, i))
    return bands


def plot(found: dict[Key, dict[str, list[float]]], out: Path, title: str = "") -> Path:
    """Two panels, one line per row: ours ÷ BlackJAX (log scale) and the cost."""
    plt = pyplot()
    labels = [f"{e} / {c} · {s}" + ("" if cap == "auto" else f" ({cap})") for s, e, c, cap in found]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.32 * len(found) + 1.4), sharey=True)
    for ax, metric, goals, xlabel in (
        (axes[0], "blackjax", (0.5, 1.0), "ours ÷ BlackJAX (paired)"),
        (axes[1], "cost", (1.10,), "ours ÷ floor (cost)"),
    ):
        for y, values in enumerate(v[metric] for v in found.values()):
            if values:
                ax.hlines(y, min(values), max(values), color="0.6", lw=2)
                ax.plot(values, [y] * len(values), "o", ms=4, color="C0")
        for goal in goals:
            ax.axvline(goal, color="C3", ls="--", lw=1)
        for first, last in energy_bands(list(found))[1::2]:  # every other energy shaded
            ax.axhspan(first - 0.5, last + 0.5, color="0.93", zorder=0)
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_xscale("log")
    axes[0].set_yticks(range(len(found)), labels, fontsize=8)
    axes[0].set_ylim(len(found) - 0.5, -0.5)  # the first row on top, no margin
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path, help="samplers_user.py --json outputs (one per run)")
    p.add_argument("--out", type=Path, required=True, help="the figure (.png)")
    p.add_argument("--title", default="")
    p.add_argument("--capture", default=None, help="keep only these capture modes, comma-separated (e.g. auto)")
    args = p.parse_args(argv)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        p.error(f"no such file: {', '.join(missing)}")
    found = collect(args.files, None if args.capture is None else set(args.capture.split(",")))
    if not found:
        p.error("no rows in these files (or none with the --capture modes asked for)")
    print(plot(found, args.out, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
