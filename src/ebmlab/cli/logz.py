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
import sys
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
    parser.add_argument(
        "target", help="target name (see ebmlab.targets.TARGET_NAMES) or your energy as FILE.py:NAME (with --dim)"
    )
    parser.add_argument("--dim", type=positive_int, default=None, help="dimension of one sample of FILE.py:NAME")
    parser.add_argument("--method", default="ais", help=f"one of: {', '.join(LOGZ_METHODS)} (default: ais)")
    parser.add_argument(
        "--samples",
        type=positive_int,
        default=None,
        help="size knob: grid points per dimension (quadrature), draws (is), chains (ais); default per method",
    )
    parser.add_argument(
        "--proposal",
        choices=("user", "exact-samples"),
        default="user",
        help="is/ais on a built-in target: 'user' (default; only the energy, as for FILE.py:NAME) or "
        "'exact-samples' (fitted to exact samples of the target: an oracle, labelled)",
    )
    parser.add_argument("--seed", type=seed_int, default=0, help="random seed in [0, 2**63) (default 0)")
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device of the draws and chains: cpu (default), cuda, cuda:1, ... or auto (is, ais, pt, and "
        "every method for FILE.py:NAME; a device gives its own random stream)",
    )
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


def _run_user(args: argparse.Namespace) -> int:
    """log Z of a user's energy with user-realistic defaults, a bracket where asked, and a verdict."""
    import torch

    from ebmlab.cli.user_energy import load_user_energy
    from ebmlab.estimators.user import USER_DEFAULT_N, USER_METHODS, log_z
    from ebmlab.experiments.spec import resolve_device

    if args.method not in USER_METHODS:
        raise ConfigError(f"--method: for FILE.py:NAME expected one of {', '.join(USER_METHODS)}, got {args.method!r}.")
    device = resolve_device(args.device)
    energy, shape = load_user_energy(args.target, args.dim)
    if isinstance(energy, torch.nn.Module):
        energy = energy.to(device)
    draws = args.method in ("is", "flow")
    _check_size("is" if draws else "ais", args.samples, math.prod(shape))
    n = args.samples if args.samples is not None else USER_DEFAULT_N[args.method]
    start = time.perf_counter()
    est = log_z(energy, shape, args.method, n=n, seed=args.seed, progress=sys.stderr.isatty(), device=device)
    d = est.details
    bracket = None
    if "lower" in d:
        keys = ("lower", "lower_se", "upper", "upper_se", "width", "reverse_samples", "reverse_validated", "tempering")
        bracket = {k: d[k] for k in keys if k in d}
    out = {
        "target": args.target,
        "method": args.method,
        "log_z": est.value,
        "stderr": _finite_or_none(est.stderr),
        "exact": None,
        "ess": _finite_or_none(est.ess),
        "bracket": bracket,
        "diagnostics": {k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in d["checks"].items()},
        "verdict": d["verdict"],
        "proposal": d["proposal"],
        "seconds": round(time.perf_counter() - start, 4),
    }
    warnings = [] if d["verdict"] == "trustworthy" else [f"the standard error cannot be trusted: {d['verdict']}"]
    if args.json:
        print(json.dumps(out))
    else:
        print(f"log Z  {est.value:.6f} ± {est.stderr:.2g}  ({args.method}; {d['proposal']})")
        if bracket is not None:
            print(
                f"bracket  [{bracket['lower']:.6f}, {bracket['upper']:.6f}]  ({bracket['reverse_samples']} reverse samples"
                f"{'' if bracket.get('reverse_validated') else ', not validated'})"
            )
        print(f"verdict  {d['verdict']}")
    report_warnings("logz", warnings)
    return 0


def run(args: argparse.Namespace) -> int:
    from ebmlab.cli.user_energy import is_user_energy
    from ebmlab.experiments.logz_methods import LOGZ_METHODS, ORACLE_LABEL, ORACLE_METHODS, estimate_log_z
    from ebmlab.experiments.spec import resolve_device
    from ebmlab.targets import get_target

    if is_user_energy(args.target):
        return _run_user(args)
    if args.dim is not None:
        raise ConfigError("--dim applies only to an energy given as FILE.py:NAME; a named target knows its shape.")

    if args.method not in LOGZ_METHODS:
        raise ConfigError(f"--method: expected one of {', '.join(LOGZ_METHODS)}, got {args.method!r}.")
    method = args.method
    if args.proposal == "exact-samples":
        oracle = {v: k for k, v in ORACLE_METHODS.items()}
        if method not in oracle and method not in ORACLE_METHODS:
            raise ConfigError(f"--proposal exact-samples applies to --method is or ais, not {method!r}.")
        method = oracle.get(method, method)
    device = resolve_device(args.device)
    target = get_target(args.target)
    _check_size(method.removesuffix("-oracle"), args.samples, math.prod(getattr(target, "event_shape", (1,))))
    start = time.perf_counter()
    est = estimate_log_z(target, method, samples=args.samples, seed=args.seed, device=device)
    seconds = time.perf_counter() - start
    exact = _finite_or_none(float(target.log_z())) if getattr(target, "has_exact_log_z", False) else None
    out: dict[str, Any] = {
        "target": args.target,
        "method": method,
        "log_z": est.value,
        "stderr": _finite_or_none(est.stderr),
        "exact": exact,
        "ess": _finite_or_none(est.ess),
        "seconds": round(seconds, 4),
    }
    d = est.details or {}
    if method in ORACLE_METHODS:
        out["proposal"] = ORACLE_LABEL
    elif "verdict" in d:
        out |= {"proposal": d["proposal"], "verdict": d["verdict"]}
        out["diagnostics"] = {k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in d["checks"].items()}
    warnings = weights_warnings(est.ess, est.n or 0) if method in ("is-oracle", "flow") else []
    if out.get("verdict", "trustworthy") != "trustworthy":
        warnings.append(f"the standard error cannot be trusted: {out['verdict']}")
    if warnings:
        out["warnings"] = warnings
    if args.json:
        print(json.dumps(out))
        report_warnings("logz", warnings)
        return 0
    rows = [
        ("target", args.target),
        ("method", method),
        ("log Z", f"{est.value:.6f} ± {est.stderr:.2g}"),
        ("exact", "unknown" if exact is None else f"{exact:.6f}"),
    ]
    if exact is not None:
        rows.append(("error", f"{est.value - exact:+.4f} ({est.z_score(exact):+.2f} SE)"))
    if est.ess is not None:
        rows.append(("ESS", f"{est.ess:.1f} of {est.n}"))
    if "proposal" in out:
        rows.append(("proposal", out["proposal"]))
    if "verdict" in out:
        rows.append(("verdict", out["verdict"]))
    rows.append(("seconds", f"{seconds:.2f}"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    report_warnings("logz", warnings)
    return 0
