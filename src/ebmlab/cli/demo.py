"""``ebmlab demo``: a tour of the library on defaults, written up as a report.

    ebmlab demo [--out DIR] [--quick] [--seed S]

Each section runs one capability against ground truth and records its numbers and a figure;
the report (``report.html``, ``report.md``, ``summary.json``) says for each number what it is
compared with. ``--quick`` shrinks every section (used by the tests).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the demo and write a report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="report directory (default runs/demo)")
    p.add_argument("--quick", action="store_true", help="smaller settings, for a smoke test")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ebmlab.demo_sections import SECTIONS
    from ebmlab.report import run_demo

    report = run_demo(args.out, SECTIONS, quick=args.quick, seed=args.seed, progress=sys.stderr.isatty())
    print(f"wrote {report}")
    return 0
