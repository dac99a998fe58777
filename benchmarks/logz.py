"""Benchmark every registered log Z method on every target with a known log Z, at default settings.

    OMP_NUM_THREADS=1 python benchmarks/logz.py            # table (user-realistic methods only)
    OMP_NUM_THREADS=1 python benchmarks/logz.py --oracle   # also is-oracle / ais-oracle (fitted to exact samples)
    OMP_NUM_THREADS=1 python benchmarks/logz.py --json     # one JSON object per line
    python benchmarks/logz.py --targets many-well-32 funnel-10 --methods ais --seeds 0 1 2

``is`` and ``ais`` are the user path (only the energy: mode search + Laplace proposals, a verdict in the
``verdict`` column); the oracle rows, whose proposals are fitted to exact samples of the target, run only with
``--oracle`` and are labelled ``(oracle)``.

For each (target, method): the estimate, |error| against the exact log Z, the reported standard error
(or error estimate), |error|/SE, the ESS where it applies, and the wall time. With several seeds, the
mean |error| and mean SE over seeds are reported.
"""

from __future__ import annotations

import argparse
import json
import math
import time

from ebmlab.experiments.logz_methods import LOGZ_METHODS, ORACLE_METHODS, applicable_methods, estimate_log_z
from ebmlab.targets import TARGET_NAMES, get_target


def run_one(name: str, method: str, seeds: list[int], samples: int | None) -> dict:
    target = get_target(name)
    exact = float(target.log_z())
    errs, ses, esss, secs, values, verdicts = [], [], [], [], [], []
    for seed in seeds:
        start = time.perf_counter()
        est = estimate_log_z(target, method, samples=samples, seed=seed)
        secs.append(time.perf_counter() - start)
        values.append(est.value)
        errs.append(abs(est.value - exact))
        ses.append(est.stderr)
        esss.append(est.ess)
        verdicts.append((est.details or {}).get("verdict"))
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    return {
        "target": name,
        "method": method,
        "exact": exact,
        "log_z": mean(values),
        "abs_error": mean(errs),
        "stderr": mean(ses),
        "error_over_se": mean([e / s if s > 0 else math.inf for e, s in zip(errs, ses, strict=True)]),
        "ess": None if esss[0] is None else mean(esss),
        "n": est.n,
        "seconds": mean(secs),
        "seeds": len(seeds),
        "trusted": None if verdicts[0] is None else f"{sum(v == 'trustworthy' for v in verdicts)}/{len(verdicts)}",
        "oracle": method in ORACLE_METHODS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="*", default=None, help="default: every target with an exact log Z")
    parser.add_argument(
        "--methods", nargs="*", default=None, help=f"default: all applicable of {', '.join(LOGZ_METHODS)}"
    )
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument(
        "--samples", type=int, default=None, help="size knob passed to every method (default: each method's)"
    )
    parser.add_argument(
        "--oracle", action="store_true", help="also the oracle rows (proposals fitted to exact samples)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = args.targets or [n for n in TARGET_NAMES if n != "many-well" and get_target(n).has_exact_log_z]
    if not args.json:
        print(
            f"{'target':<16}{'method':<12}{'exact':>12}{'estimate':>12}{'|error|':>10}{'SE':>10}{'|err|/SE':>9}{'ESS':>9}{'n':>9}{'sec':>8}  trusted"
        )
    for name in names:
        target = get_target(name)
        for method in args.methods or applicable_methods(target):
            if method not in applicable_methods(target):
                continue
            if method in ORACLE_METHODS and not (args.oracle or args.methods):
                continue
            row = run_one(name, method, args.seeds, args.samples)
            if args.json:
                print(json.dumps(row), flush=True)
                continue
            ess = "" if row["ess"] is None else f"{row['ess']:.0f}"
            label = f"{method} (oracle)" if row["oracle"] else method
            print(
                f"{name:<16}{label:<12}{row['exact']:>12.6f}{row['log_z']:>12.6f}{row['abs_error']:>10.2e}"
                f"{row['stderr']:>10.2e}{row['error_over_se']:>9.2f}{ess:>9}{row['n']:>9}{row['seconds']:>8.2f}  {row['trusted'] or ''}",
                flush=True,
            )


if __name__ == "__main__":
    main()
