"""``ebmlab logz TARGET --method {quadrature,enumerate,is,ais,...}``: estimate log Z of a target.

With ``--json`` prints exactly one JSON object
``{"target", "method", "log_z", "stderr", "exact", "ess", "seconds"}`` (``exact`` is the target's
known log Z, null where unknown); otherwise a short table. Methods come from
:data:`ebmlab.experiments.logz_methods.LOGZ_METHODS`, so a new method needs no change here.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from ebmlab.experiments.logz_methods import LOGZ_METHODS

    parser = subparsers.add_parser(
        "logz",
        help="estimate log Z of a target (quadrature, enumeration, importance sampling, AIS)",
        description="Estimate log Z = log ∫ exp(-E(x)) dx of a named target, with its standard error.",
    )
    parser.add_argument("target", help="target name (see `ebmlab.targets.TARGET_NAMES`)")
    parser.add_argument("--method", default="ais", help=f"one of: {', '.join(LOGZ_METHODS)} (default: ais)")
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help="size knob: grid points per dimension (quadrature), draws (is), chains (ais); default per method",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)
    return parser


def _finite_or_none(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def run(args: argparse.Namespace) -> int:
    from ebmlab.experiments.logz_methods import estimate_log_z
    from ebmlab.targets import get_target

    target = get_target(args.target)
    start = time.perf_counter()
    est = estimate_log_z(target, args.method, samples=args.samples, seed=args.seed)
    seconds = time.perf_counter() - start
    exact = _finite_or_none(float(target.log_z())) if getattr(target, "has_exact_log_z", False) else None
    out = {
        "target": args.target,
        "method": args.method,
        "log_z": est.value,
        "stderr": _finite_or_none(est.stderr),
        "exact": exact,
        "ess": _finite_or_none(est.ess),
        "seconds": round(seconds, 4),
    }
    if args.json:
        print(json.dumps(out))
        return 0
    rows = [
        ("target", args.target),
        ("method", args.method),
        ("log Z", f"{est.value:.6f} ± {est.stderr:.2g}"),
        ("exact", "unknown" if exact is None else f"{exact:.6f}"),
    ]
    if exact is not None:
        rows.append(("error", f"{est.value - exact:+.4f} ({est.z_score(exact):+.2f} SE)"))
    if est.ess is not None:
        rows.append(("ESS", f"{est.ess:.1f} of {est.n}"))
    rows.append(("seconds", f"{seconds:.2f}"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0
