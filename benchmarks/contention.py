"""Thread settings under contention: one CD training run alone vs two at once, for each setting.

    python benchmarks/contention.py --repeats 3 --json docs/contention.json

Settings (environment of each ``ebmlab train`` process):

* ``torch-default``: ``EBMLAB_NUM_THREADS=0`` — torch's own default, one intra-op thread per core;
* ``omp-passive``: the same with ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep instead of spinning);
* ``one-thread``: ``EBMLAB_NUM_THREADS=1`` — the CLI's default (``torch.set_num_threads(1)``).

Each repeat runs, in a rotating order, every setting alone and as a simultaneous pair; the time is the
training wall time the CLI reports (``completed: N steps in T s``), so imports are excluded. Medians
over repeats are reported with the ratio pair/alone. On a machine shared with other jobs the numbers
are noisy; everything is measured side by side in one script so that the settings see the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "torch-default": {"EBMLAB_NUM_THREADS": "0"},
    "omp-passive": {"EBMLAB_NUM_THREADS": "0", "OMP_WAIT_POLICY": "PASSIVE"},
    "one-thread": {"EBMLAB_NUM_THREADS": "1"},
}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")}
    return {**env, "PYTHONPATH": str(ROOT / "src"), **extra}


def _start(config: str, steps: int, out: Path, extra: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ebmlab", "train", config, "--out", str(out), "--no-progress"]
    cmd += ["--set", f"train.steps={steps}", "--set", "eval=null", "--set", "train.checkpoint_every=0"]
    return subprocess.Popen(cmd, env=_env(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _seconds(proc: subprocess.Popen) -> float:
    out, err = proc.communicate(timeout=3600)
    m = re.search(r"steps in ([0-9.]+) s", out)
    if proc.returncode != 0 or m is None:
        raise RuntimeError(f"training failed: {err[-500:]}")
    return float(m.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "cd_rings_short_run.yaml"))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    times: dict[str, dict[str, list[float]]] = {s: {"alone": [], "pair": []} for s in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        runs = 0
        for r in range(args.repeats):
            names = list(SETTINGS)
            names = names[r % len(names) :] + names[: r % len(names)]
            for name in names:
                runs += 1
                alone = _start(args.config, args.steps, Path(tmp) / f"a{runs}", SETTINGS[name])
                times[name]["alone"].append(_seconds(alone))
                pair = [_start(args.config, args.steps, Path(tmp) / f"p{runs}-{i}", SETTINGS[name]) for i in range(2)]
                times[name]["pair"] += [_seconds(p) for p in pair]
                print(name, "alone", times[name]["alone"][-1], "pair", times[name]["pair"][-2:], flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    summary = {
        "command": "python benchmarks/contention.py " + " ".join(argv or sys.argv[1:]),
        "config": args.config,
        "steps": args.steps,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": load,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "settings": {
            name: {
                "alone_median_s": statistics.median(t["alone"]),
                "pair_median_s": statistics.median(t["pair"]),
                "pair_over_alone": statistics.median(t["pair"]) / statistics.median(t["alone"]),
                "alone_s": t["alone"],
                "pair_s": t["pair"],
            }
            for name, t in times.items()
        },
    }
    for name, s in summary["settings"].items():
        print(
            f"{name:14s} alone {s['alone_median_s']:7.2f} s   pair {s['pair_median_s']:7.2f} s   ratio {s['pair_over_alone']:.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
