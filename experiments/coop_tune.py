"""Per-arm learning-rate tuning of the cooperative-learning comparison, on a validation split, same budget per arm.

Every arm gets the same number of candidate settings (three), the same training steps, K and seed; each candidate is
trained on the train split and scored on the validation split; the best is kept. Arms and candidates:

* A (short-run), B (persistent), C′ (frozen C0 VAE): the EBM's Adam learning rate;
* C (cooperative): (EBM, VAE) learning-rate pairs;
* C0 (VAE alone): the VAE's learning rate (tuned first: C′ starts from the selected C0's VAE).

Scores: 2-D toys, the exact validation NLL gap to the true density (box quadrature; C0 by quadrature over its 2-D
latent); digits, the FD after K steps of 450 samples against a held-out 20 % of the train split (the model is
trained on the other 80 %). A diverged candidate scores +inf.

Run::

    OMP_NUM_THREADS=1 python experiments/coop_tune.py toy --target eight-gaussians --k 5 --steps 400
    OMP_NUM_THREADS=1 python experiments/coop_tune.py toy --target rings --k 5 --steps 400
    OMP_NUM_THREADS=1 python experiments/coop_tune.py digits --k 5 --steps 600

Writes ``docs/results_coop_tune_<target>.json`` (``selected``: arm → learning rate(s), for ``--lr`` of the grids).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

CANDIDATES = {
    "toy": {
        "C0": ["0.0005", "0.002", "0.005"],
        "A": ["0.002", "0.005", "0.01"],
        "B": ["0.002", "0.005", "0.01"],
        "C": ["0.005,0.002", "0.005,0.0005", "0.002,0.0005"],
        "C'": ["0.002", "0.005", "0.01"],
    },
    "digits": {
        "C0": ["0.0003", "0.001", "0.003"],
        "A": ["3e-05", "0.0001", "0.0003"],
        "B": ["3e-05", "0.0001", "0.0003"],
        "C": ["0.0001,0.001", "0.0001,0.0003", "0.0003,0.001"],
        "C'": ["3e-05", "0.0001", "0.0003"],
    },
}


def score(which: str, result: dict[str, Any]) -> float:
    if result.get("diverged"):
        return math.inf
    value = result["nll"]["gap"] if which == "toy" else result["fd_K"]
    return float(value) if math.isfinite(float(value)) else math.inf


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", choices=["toy", "digits"])
    p.add_argument("--target", default="eight-gaussians", help="toy target (eight-gaussians or rings)")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--arms", nargs="+", default=["C0", "A", "B", "C", "C'"])
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a.which == "toy":
        import coop_toy as runner

        base = ["--target", a.target, "--steps", str(a.steps or 400), "--energy-hidden", "[64,64]"]
        name = a.target
    else:
        import coop_digits as runner

        base = ["--steps", str(a.steps or 600)]
        name = "digits"
    selected: dict[str, str] = {}
    rows = []
    for arm in a.arms:
        scored = []
        for lr in CANDIDATES[a.which][arm]:
            lrs = [f"{arm}={lr}"] + ([f"C0={selected['C0']}"] if arm == "C'" and "C0" in selected else [])
            args = runner.parse_args([*base, "--split", "val", "--lr", *lrs])
            result = runner.run_one(arm, 0 if arm == "C0" else a.k, a.seed, args)
            s = score(a.which, result)
            scored.append((s, lr))
            rows.append({"arm": arm, "lr": lr, "score": s, "result": result})
            print(json.dumps({"arm": arm, "lr": lr, "score": s}), flush=True)
        selected[arm] = min(scored, key=lambda t: t[0])[1]
    criterion = "validation NLL gap (nats)" if a.which == "toy" else "FD after K vs held-out 20% of train"
    out = {"settings": vars(a) | {"base": base, "criterion": criterion}, "candidates": CANDIDATES[a.which]}
    out |= {"selected": selected, "runs": rows}
    (ROOT / f"docs/results_coop_tune_{name}.json").write_text(json.dumps(out, indent=1, default=str))
    print("selected", json.dumps(selected))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
