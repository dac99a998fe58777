"""Data-parallel scaling of `ebmlab train` on CPU processes (gloo): throughput at 1 and 2 processes.

Throughput = training steps × global batch / wall time of the fit loop (summary.json's wall_time_s,
start-up excluded). Each rank has batch_size rows, so 2 ranks process twice the rows per step.
Both arms in one run, alternating, median of --repeats; settings: 1 process with 1 and with 2
threads, 2 processes with 1 thread each.

    python benchmarks/distributed.py --steps 200 --repeats 3 --json docs/figures/distributed_scaling.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from ebmlab.yaml_io import atomic_write_text

CONFIG = Path(__file__).parents[1] / "configs" / "cd_eight_gaussians_persistent.yaml"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _train(nproc: int, threads: int, steps: int, batch: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        sets = [f"train.steps={steps}", f"train.batch_size={batch}", "train.checkpoint_every=0", "eval=null"]
        args = ["train", str(CONFIG), "--out", f"{tmp}/run", "--no-progress"]
        args += [x for s in sets for x in ("--set", s)]
        if nproc == 1:
            cmd = [sys.executable, "-m", "ebmlab", *args]
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
            cmd += ["--master-addr=127.0.0.1", f"--master-port={_port()}", "-m", "ebmlab", *args]
        env = os.environ | {"OMP_NUM_THREADS": str(threads)}
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        summary = json.loads(Path(tmp, "run", "summary.json").read_text())
        return steps * batch * nproc / float(summary["wall_time_s"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=256, help="rows per rank")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    arms = {"1 process, 1 thread": (1, 1), "1 process, 2 threads": (1, 2), "2 processes, 1 thread each": (2, 1)}
    results: dict[str, list[float]] = {k: [] for k in arms}
    for _ in range(a.repeats):
        for name, (nproc, threads) in arms.items():
            results[name].append(_train(nproc, threads, a.steps, a.batch))
    base = statistics.median(results["1 process, 1 thread"])
    rows = []
    print(f"CD persistent K=30, MLP 2-128-128-1, {a.steps} steps, {a.batch} rows per rank; median of {a.repeats}")
    print(f"{'arm':30s} {'rows/s':>10s} {'vs 1 proc 1 thread':>20s}")
    for name, values in results.items():
        med = statistics.median(values)
        rows.append({"arm": name, "rows_per_s": med, "runs": values, "speedup": med / base})
        print(f"{name:30s} {med:10.0f} {med / base:20.2f}")
    if a.json:
        atomic_write_text(
            a.json, json.dumps({"steps": a.steps, "batch_per_rank": a.batch, "rows": rows}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
