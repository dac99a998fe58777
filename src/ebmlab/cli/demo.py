"""``ebmlab demo``: every claim the library checks, run against ground truth and written up as a report.

    ebmlab demo [--out DIR] [--only NAME,...] [--quick] [--seed S]

Each section states a claim, runs it on small settings (read from the full experiment's config where
there is one, scaled down by overrides the report shows) and gives a verdict by a written rule. The
report: ``report.html`` (one self-contained page), ``report.md`` and ``summary.json``. A failing section
is marked failed and the others still run; the exit status is 1 when any failed.
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
    p.add_argument("--only", default="", metavar="NAME,...", help="comma-separated section names (default: all)")
    p.add_argument("--quick", action="store_true", help="smaller settings (about 2 minutes; used by the tests)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ebmlab.demo import select
    from ebmlab.report import run_demo

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    sections = run_demo(args.out, select(names), quick=args.quick, seed=args.seed, progress=sys.stderr.isatty())
    print(f"wrote {args.out / 'report.html'}")
    failed = [s.name for s in sections if s.error]
    if failed:
        print(f"ebmlab demo: {len(failed)} section(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
