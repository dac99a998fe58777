"""``ebmlab train CONFIG [--set key=value ...] [--out RUN_DIR]`` and ``ebmlab train --resume RUN_DIR``."""

from __future__ import annotations

import argparse
import datetime
import os
import re
from pathlib import Path
from typing import Any

from ebmlab.errors import ConfigError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a method from an experiment YAML (or resume a run)",
        description=(
            "Train the method an experiment config describes, writing config.yaml, metrics.jsonl, metrics.csv, "
            "checkpoints/ and summary.json to the run directory. A killed run continues exactly with --resume."
        ),
    )
    parser.add_argument("config", nargs="?", help="experiment YAML file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.lr=1e-4 (value parsed as YAML; repeatable)",
    )
    parser.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/<name>-<timestamp>)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its latest checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    return parser


def _default_run_dir(config_path: str, name: str | None) -> Path:
    stem = name or Path(config_path).stem
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "run"
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stem}-{stamp}"


def _check_targets(config: Any) -> None:
    """An evaluator (or analytic energy) that names a target must name the data's target."""
    data = config.data.params.get("target") if config.data is not None else None
    for kind in ("eval", "energy"):
        section = getattr(config, kind)
        other = section.params.get("target") if section is not None else None
        if data is not None and other is not None and other != data:
            raise ConfigError(
                f"{kind}.target: {other!r} differs from data.target {data!r}; the {kind} would measure against "
                f"another distribution than the one trained on. Set both to the same target."
            )


def run(args: argparse.Namespace) -> int:
    from ebmlab.experiments import load_experiment_config, run_experiment
    from ebmlab.training import run_config

    if (args.config is None) == (args.resume is None):
        raise ConfigError("give either a CONFIG file to start a run or --resume RUN_DIR to continue one (not both).")
    if args.resume is not None:
        if args.out is not None:
            raise ConfigError("--out cannot be combined with --resume (the run continues in RUN_DIR).")
        run_dir = Path(args.resume)
        if not run_dir.is_dir():
            raise ConfigError(
                f"--resume {run_dir}: no config.yaml there; pass the directory of a run started by `ebmlab train`."
            )
        config = load_experiment_config(run_config(run_dir), args.overrides)  # the checkpoint's copy wins
    else:
        config = load_experiment_config(args.config, args.overrides)
        run_dir = Path(args.out) if args.out else _default_run_dir(args.config, config.name)
        if run_dir.exists() and not run_dir.is_dir():
            raise ConfigError(f"--out {run_dir}: a file of that name exists; choose a directory path for the run.")
    _check_targets(config)
    if args.no_progress:
        config.train.progress = False
    result = run_experiment(config, run_dir, resume=args.resume is not None)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    print(f"run directory: {run_dir}")
    shown = ", ".join(f"{k}={v:.5g}" for k, v in result.final_metrics.items() if isinstance(v, float))
    print(f"{result.status}: {result.step} steps in {result.summary['wall_time_s']:.1f} s; {shown}")
    return 0
