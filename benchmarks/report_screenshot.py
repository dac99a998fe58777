"""Regenerate docs/figures/report_screenshot.png: the top of the quick demo's report in headless Chromium.

    OMP_NUM_THREADS=1 python benchmarks/report_screenshot.py [--demo-dir runs/demo_quick] [--reuse]

Runs ``ebmlab demo --quick --out DEMO_DIR`` (unless ``--reuse`` and a report is there), checks the page
(every image decoded, no errors) and writes the screenshot that README.md shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ebmlab.browser import check_page, screenshot
from ebmlab.cli import main as ebmlab

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo-dir", type=Path, default=ROOT / "runs" / "demo_quick")
    parser.add_argument("--reuse", action="store_true", help="use an existing report in --demo-dir")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures" / "report_screenshot.png")
    args = parser.parse_args()
    page = args.demo_dir / "report.html"
    if not (args.reuse and page.exists()):
        ebmlab(["demo", "--quick", "--out", str(args.demo_dir)])
    check = check_page(page)
    if check.images < 1 or check.decoded != check.images or check.errors:
        raise SystemExit(f"the report does not render cleanly: {check}")
    print(check.text)
    print(f"wrote {screenshot(page, args.out, width=1000, height=1300)}")


if __name__ == "__main__":
    main()
