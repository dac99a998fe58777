"""Training noise of the learned marginal under different training schedules (issue 12, scalar item).

    PYTHONPATH=src OMP_NUM_THREADS=1 python experiments/rd_scalar_levers.py --seeds 0,1,2 --steps 600 \
        --chains 2048 [--schedule cosine|constant] [--average 0.5] [--tag NAME]

Scalar unit Gaussian, squared error, β = 0.61 (R = 0.1 nats), critic-based EBA as in ``rd_gaussian.py``. No
Monte Carlo evaluation: the exact ΔD/D* of the learned marginal r = N(μ, s²) (the infinite-evaluation limit,
D = s²/a + (σ² + μ²)/a², a = 1 + 2βs²) is what a lever changes. The per-step ln s trajectory is stored, so
the effect of other averaging windows on the same trajectory can be read off without training again.
Appends to docs/results_rd_scalar_levers.json (one entry per command).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ebmlab.experiments.rate_distortion import train_eba
from ebmlab.methods.eba import EBA
from ebmlab.ratedistortion import GaussianSource
from ebmlab.samplers.langevin import MALA

DOCS = Path(__file__).resolve().parents[1] / "docs"
BETA, SIG2 = 0.61, 1.0
D_STAR = 1 / (2 * BETA)


def exact_d_rel(mu: float, s2: float) -> float:
    """ΔD/D* of the tilted channel of r = N(μ, s²) for y ~ N(0, σ²)."""
    a = 1 + 2 * BETA * s2
    return (s2 / a + (SIG2 + mu * mu) / a**2) / D_STAR - 1


def one(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(seed)
    m = EBA(GaussianSource([SIG2]), "squared", BETA, variant=args.variant, sampler=MALA(0.2), n_chains=args.chains)
    traj: list[tuple[float, float]] = []

    def cb(step: int, values: dict[str, float]) -> None:
        loc, var = m.energy.gaussian()
        traj.append((float(loc[0]), float(var[0])))

    t0, c0 = time.perf_counter(), time.process_time()
    kw: dict[str, Any] = {"schedule": args.schedule, "final_lr_fraction": args.final_lr_fraction}
    train_eba(m, args.steps, seed, lr=args.lr, average=args.average, callbacks=[cb], **kw)
    loc, var = (float(t[0]) for t in m.energy.gaussian())
    out = {
        "seed": seed,
        "d_rel_exact": exact_d_rel(loc, var),
        "s2": var,
        "mu": loc,
        "cpu_seconds": time.process_time() - c0,
        "wall_seconds": time.perf_counter() - t0,
        "trajectory": traj,
    }
    print(json.dumps({k: v for k, v in out.items() if k != "trajectory"}), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--chains", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--average", type=float, default=0.5)
    ap.add_argument("--schedule", default="cosine")
    ap.add_argument("--final-lr-fraction", type=float, default=0.01)
    ap.add_argument("--variant", default="eba")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    runs = [one(int(s), args) for s in args.seeds.split(",")]
    d = [r["d_rel_exact"] for r in runs]
    entry = {
        "command": "python experiments/rd_scalar_levers.py " + " ".join(sys.argv[1:]),
        "tag": args.tag,
        "d_rel_exact": d,
        "d_rel_exact_rms": math.sqrt(statistics.mean(x * x for x in d)),
        "uptime": Path("/proc/loadavg").read_text().split()[:3],
        "runs": runs,
    }
    path = DOCS / "results_rd_scalar_levers.json"
    data = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps([*data, entry]))
    print(json.dumps({k: v for k, v in entry.items() if k != "runs"}))


if __name__ == "__main__":
    main()
