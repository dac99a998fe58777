"""Check a report page in a real headless browser (Chromium) and take its screenshot.

The page's inline self-check (see :mod:`ebmlab.report_html`) writes, on load, the number of images,
how many decoded (natural width > 0) and how many errors happened into ``#selfcheck``; Chromium's
``--dump-dom`` returns the DOM after the load, from which :func:`check_page` reads those numbers.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PageCheck", "check_page", "find_chromium", "screenshot"]

_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=5000")


@dataclass(frozen=True)
class PageCheck:
    images: int
    decoded: int
    errors: int
    text: str


def find_chromium() -> str | None:
    """The Chromium executable on PATH (chromium, chromium-browser, google-chrome), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: list[str], timeout: float) -> str:
    browser = find_chromium()
    if browser is None:
        raise FileNotFoundError("chromium not found; install it (apt-get install chromium)")
    done = subprocess.run([browser, *_FLAGS, *args], capture_output=True, text=True, timeout=timeout, check=False)
    return done.stdout


def check_page(page: Path, timeout: float = 120) -> PageCheck:
    """Load ``page`` headless and return what its self-check recorded (images = −1: it never ran)."""
    dom = _run(["--dump-dom", page.resolve().as_uri()], timeout)
    tag = re.search(r"<p id=\"selfcheck\"([^>]*)>(.*?)</p>", dom, re.S)
    if tag is None:
        return PageCheck(-1, 0, 0, "no #selfcheck element in the DOM")
    attrs = dict(re.findall(r"data-(\w+)=\"(-?\d+)\"", tag.group(1)))
    return PageCheck(
        int(attrs.get("images", -1)), int(attrs.get("decoded", 0)), int(attrs.get("errors", 0)), tag.group(2)
    )


def screenshot(page: Path, png: Path, width: int = 1000, height: int = 1400, timeout: float = 120) -> Path:
    """Write a PNG screenshot of the top of ``page`` to ``png``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--screenshot={png.resolve()}", f"--window-size={width},{height}", page.resolve().as_uri()], timeout)
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot to {png}")
    return png
