"""Calibration of AIS standard errors over seeds: is the reported SE honest?

For each seed, one AIS run of ``groups × chains`` chains is split into groups; each group's estimate has
its own delta-method SE, and for honest SEs the z-scores (estimate − exact)/SE have mean z² ≈ 1 and fall
on both sides of zero. Prints one line per seed.

    python benchmarks/ais_calibration.py                          # funnel-10, default settings, seeds 0-3
    python benchmarks/ais_calibration.py --target many-well-32 --seeds 0 1 2 3
    python benchmarks/ais_calibration.py --n-steps 1              # the earlier funnel setting (too few moves)
"""

from __future__ import annotations

import argparse
import time

import torch

from ebmlab.estimators import ais, log_mean_exp
from ebmlab.estimators.methods import AIS_SETTINGS, ais_base
from ebmlab.samplers import GeometricPath
from ebmlab.targets import get_target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="funnel-10")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--temperatures", type=int, default=1000)
    parser.add_argument("--n-steps", type=int, default=None, help="MCMC moves per temperature (default: per target)")
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--chains", type=int, default=64, help="chains per group")
    args = parser.parse_args()
    torch.set_num_threads(1)
    target = get_target(args.target)
    settings = {k: v for k, v in AIS_SETTINGS.get(args.target, {}).items() if k != "std"}
    if args.n_steps is not None:
        settings["n_steps"] = args.n_steps
    truth = target.log_z()
    print(f"{args.target}: {args.groups} groups × {args.chains} chains, {args.temperatures} temperatures, {settings}")
    for seed in args.seeds:
        start = time.perf_counter()
        path = GeometricPath(ais_base(target), target)
        result = ais(path, "hmc", args.groups * args.chains, args.temperatures, seed=seed, **settings)
        zs = []
        for log_w in result.log_weights.reshape(args.groups, args.chains):
            value, se, _ = log_mean_exp(log_w)
            zs.append((value - truth) / se)
        value, se, _ = log_mean_exp(result.log_weights)
        mean_z2 = sum(z * z for z in zs) / len(zs)
        positive = sum(z > 0 for z in zs)
        print(
            f"seed {seed}: error {value - truth:+.4f} ± {se:.4f} (z {(value - truth) / se:+.2f}); "
            f"groups: mean z² {mean_z2:.2f}, {positive}/{len(zs)} above; {time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    main()
