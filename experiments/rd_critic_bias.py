"""Bias and noise of EBA's φ-gradient at a fixed marginal, against the exact ∇L_RD (scalar Gaussian).

    PYTHONPATH=src OMP_NUM_THREADS=1 python experiments/rd_critic_bias.py [--chains 2048] [--steps 300]

y ~ N(0, 1), r = N(0, s²), summed squared error, β = 0.61 (R = 0.1 nats). L_RD(s) = ½ ln a + βσ²/a with
a = 1 + 2βs², so ∂L_RD/∂ln s = 2βs²(a − 2βσ²)/a², zero at the optimum s*² = σ² − 1/(2β). The marginal is held
fixed (no φ update); the chains advance and, for the critic-based variant, the critic keeps training as in
``train_eba`` (Adam, lr 2e-3). After ``--warmup`` steps, every step's φ-gradient on ln s is recorded: its mean
(SE from batch means of 20 steps, the chains being persistent) against the exact value is the bias, its SD the
noise. A bias b moves the fixed point of the φ-iteration by Δ ln s ≈ −b / (∂²L_RD/∂(ln s)²), i.e. ΔD/D as printed.
Writes docs/results_rd_critic_bias.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from ebmlab.methods.eba import EBA
from ebmlab.ratedistortion import GaussianSource
from ebmlab.samplers.langevin import MALA
from ebmlab.training.method import StepContext

DOCS = Path(__file__).resolve().parents[1] / "docs"
BETA, SIG2 = 0.61, 1.0


def exact(ln_s: float) -> dict[str, float]:
    """L_RD, its first and second derivative in ln s, and the tilted channel's D, at r = N(0, e^{2 ln s})."""

    def l_rd(t: float) -> float:
        a = 1 + 2 * BETA * math.exp(2 * t)
        return 0.5 * math.log(a) + BETA * SIG2 / a

    def dist(t: float) -> float:
        s2 = math.exp(2 * t)
        a = 1 + 2 * BETA * s2
        return s2 / a + SIG2 / a**2

    h = 1e-4
    return {
        "grad": (l_rd(ln_s + h) - l_rd(ln_s - h)) / (2 * h),
        "curv": (l_rd(ln_s + h) - 2 * l_rd(ln_s) + l_rd(ln_s - h)) / h**2,
        "d": dist(ln_s),
        "dd": (dist(ln_s + h) - dist(ln_s - h)) / (2 * h),
    }


def run(variant: str, ln_s: float, chains: int, steps: int, warmup: int, seed: int) -> dict[str, float | str]:
    torch.manual_seed(seed)
    m = EBA(GaussianSource([SIG2]), "squared", BETA, variant=variant, sampler=MALA(0.2), n_chains=chains)
    m.init_from_source = False
    m.energy.set_moments(torch.zeros(1), torch.tensor([math.exp(ln_s)]))
    opt = torch.optim.Adam(m.critic.parameters(), lr=2e-3) if m.critic is not None else None
    g = torch.Generator().manual_seed(seed)
    grads: list[float] = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        if opt is not None:
            loss = m.losses(None, StepContext(step, g, stage=("critic",))).minimize["critic"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        e_loss = m.losses(None, StepContext(step, g, stage=("energy",))).minimize["energy"]
        (grad,) = torch.autograd.grad(e_loss, m.energy.log_scale)
        if step > warmup:
            grads.append(float(grad[0]))
    batches = [statistics.mean(grads[i : i + 20]) for i in range(0, len(grads) - 19, 20)]
    ex = exact(ln_s)
    mean, se = statistics.mean(grads), statistics.stdev(batches) / math.sqrt(len(batches))
    shift = -(mean - ex["grad"]) / ex["curv"]  # Δ ln s of the fixed point
    return {
        "variant": variant,
        "ln_s": ln_s,
        "chains": chains,
        "grad_mean": mean,
        "grad_se": se,
        "grad_sd": statistics.stdev(grads),
        "grad_exact": ex["grad"],
        "bias_in_se": (mean - ex["grad"]) / se,
        "implied_d_rel_shift": ex["dd"] * shift / ex["d"],
        "implied_d_rel_shift_se": abs(ex["dd"] / ex["curv"]) * se / ex["d"],
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chains", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default="eba,ba")
    args = ap.parse_args()
    ln_s_star = 0.5 * math.log(SIG2 - 1 / (2 * BETA))
    rows = []
    for variant in args.variants.split(","):
        rows.append(run(variant, ln_s_star, args.chains, args.steps, args.warmup, args.seed))
        print(json.dumps(rows[-1]), flush=True)
    out = {"command": "python experiments/rd_critic_bias.py " + " ".join(sys.argv[1:]), "beta": BETA, "rows": rows}
    (DOCS / "results_rd_critic_bias.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
