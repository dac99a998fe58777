"""Step-size adaptation on a 4-D ill-conditioned quadratic: acceptance against ε, and the post-warm-up
acceptance of dual averaging alone (the averaged step size ε̄ kept after warm-up, as before) against the
default (dual averaging, then a windowed bisection on measured acceptance). Seeded; no timing.

    python benchmarks/adaptation.py [--json docs/adaptation.json]

E(x) = ½ Σ (x_i / s_i)², s = (1, 0.5, 0.2, 0.1); 256 chains from N(0, I); warm-up 500, then 300 steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ebmlab.samplers import HMC, MALA, DualAveraging, run_chains, sample

SCALES = torch.tensor([1.0, 0.5, 0.2, 0.1], dtype=torch.float64)
EPS_GRID = (0.05, 0.08, 0.10, 0.12, 0.14, 0.15, 0.16, 0.17, 0.18, 0.19, 0.20, 0.22, 0.25)
CHAINS, WARMUP, STEPS = 256, 500, 300


def quadratic(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x / SCALES).square().sum(-1)


def scan() -> dict[str, float]:
    """HMC (L = 5) acceptance at fixed ε, chains started from the target, 200 steps, seed 0."""
    out = {}
    for eps in EPS_GRID:
        g = torch.Generator().manual_seed(0)
        x0 = torch.randn(CHAINS, 4, generator=g, dtype=torch.float64) * SCALES
        out[f"{eps:.2f}"] = sample(quadratic, HMC(eps), x0, 200, generator=g, diagnostics=False).accept_rate
    return out


def dual_averaging_only(kernel: HMC | MALA, seed: int) -> tuple[float, float, float, list[list[float]]]:
    """(post-warm-up acceptance, step size ε̄, mean acceptance over the last half of the warm-up, the last six
    (ε, acceptance) iterates) with dual averaging for the whole warm-up, then ε̄ fixed."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(CHAINS, 4, generator=g, dtype=torch.float64)
    rule = DualAveraging(kernel.default_target_accept)
    da = rule.init(kernel.step_size)
    trace: list[list[float]] = []

    def hook(t, state, info):
        nonlocal da
        trace.append([float(state.step_size), float(info.accept_prob.mean())])
        da = rule.update(da, float(info.accept_prob.mean()))
        return state.replace(step_size=da.step_size)

    state = run_chains(kernel, quadratic, x0, WARMUP, g, hook=hook).state.replace(step_size=da.final_step_size)
    run = run_chains(kernel, quadratic, state, STEPS, g)
    late = [a for _, a in trace[WARMUP // 2 :]]
    return run.accept_rate, da.final_step_size, sum(late) / len(late), trace[-6:]


def default(kernel: HMC | MALA, seed: int) -> tuple[float, float]:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(CHAINS, 4, generator=g, dtype=torch.float64)
    r = sample(quadratic, kernel, x0, STEPS, warmup=WARMUP, generator=g, diagnostics=False)
    return r.accept_rate, r.step_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result: dict[str, object] = {"hmc_accept_at_fixed_step": scan(), "runs": []}
    print("HMC (L = 5) acceptance at fixed step size:")
    for eps, acc in result["hmc_accept_at_fixed_step"].items():  # type: ignore[union-attr]
        print(f"  eps {eps}: {acc:.3f}")
    print(f"{'kernel':6} {'seed':>4} {'target':>6} {'DA only':>8} {'eps':>7} {'default':>8} {'eps':>7}")
    for name in ("hmc", "mala"):
        for seed in range(3):
            make = (lambda: HMC(0.1)) if name == "hmc" else (lambda: MALA(0.1))
            old, old_eps, late, last = dual_averaging_only(make(), seed)
            new, new_eps = default(make(), seed)
            target = make().default_target_accept
            row = {"kernel": name, "seed": seed, "target": target, "da_only": old, "da_only_step": old_eps,
                   "default": new, "default_step": new_eps, "da_only_late_warmup_accept": late,
                   "da_only_last_iterates": last}  # fmt: skip
            result["runs"].append(row)  # type: ignore[union-attr]
            print(f"{name:6} {seed:>4} {target:>6.3f} {old:>8.3f} {old_eps:>7.4f} {new:>8.3f} {new_eps:>7.4f}"
                  f"   DA late warm-up accept {late:.3f}, last (eps, accept): "
                  + ", ".join(f"({e:.3f}, {a:.2f})" for e, a in last))  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
