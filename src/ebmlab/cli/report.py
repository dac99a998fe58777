"""``ebmlab report``: render training runs or demo directories as one self-contained HTML page.

    ebmlab report RUN_DIR [RUN_DIR ...] [--out DIR]

Writes ``DIR/report.html`` (figures embedded, metric curves over training, final metrics, resolved
config, seed, versions and wall time) and ``DIR/summary.json`` with every number shown.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="render runs or demo directories as one HTML page",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="training run or demo directories")
    p.add_argument("--out", type=Path, default=Path("runs/report"), help="output directory (default runs/report)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ebmlab.run_report import write_report

    print(f"wrote {write_report(args.runs, args.out)}")
    return 0
