"""``ebmlab logz TARGET --method {quadrature,enumerate,is,ais,...}``: estimate log Z of a target.

With ``--json`` prints exactly one JSON object
``{"target", "method", "log_z", "stderr", "exact", "ess", "seconds"}`` (``exact`` is the target's
known log Z, null where unknown; ``warnings`` when the importance weights' ESS is tiny); otherwise a short table. Methods come from
:data:`ebmlab.experiments.logz_methods.LOGZ_METHODS`, so a new method needs no change here.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

from ebmlab.cli._args import positive_int, seed_int
from ebmlab.cli.health import report_warnings, weights_warnings
from ebmlab.cli.limits import check_memory, check_time
from ebmlab.errors import ConfigError

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
        type=positive_int,
        default=None,
        help="size knob: grid points per dimension (quadrature), draws (is), chains (ais); default per method",
    )
    parser.add_argument("--seed", type=seed_int, default=0, help="random seed in [0, 2**63) (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)
    return parser


def _finite_or_none(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _check_size(method: str, samples: int | None, dim: int) -> None:
    """Memory and time bounds of the size knob: a grid of samples**dim points (quadrature), 8-byte log weights
    per draw and ~50 float operations per coordinate (is), or chains of 1000 annealing steps (other methods)."""
    if samples is None:
        return
    if method == "quadrature":
        points = float(samples) ** dim
        check_memory("--samples", samples, 48.0 * points / samples)
    elif method == "is":
        check_memory("--samples", samples, 16.0)
        check_time("--samples", samples, 50.0 * dim)
    elif method != "enumerate":
        check_memory("--samples", samples, 64.0 * dim)
        check_time("--samples", samples, 1000 * 100.0 * dim)


def run(args: argparse.Namespace) -> int:
    from ebmlab.experiments.logz_methods import LOGZ_METHODS, estimate_log_z
    from ebmlab.targets import get_target

    if args.method not in LOGZ_METHODS:
        raise ConfigError(f"--method: expected one of {', '.join(LOGZ_METHODS)}, got {args.method!r}.")
    target = get_target(args.target)
    _check_size(args.method, args.samples, math.prod(getattr(target, "event_shape", (1,))))
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
    warnings = weights_warnings(est.ess, est.n or 0) if args.method in ("is", "flow") else []
    if warnings:
        out["warnings"] = warnings
    if args.json:
        print(json.dumps(out))
        report_warnings("logz", warnings)
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
    report_warnings("logz", warnings)
    return 0
