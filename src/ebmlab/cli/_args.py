"""Argument types that fail with one clear line."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(text: str, cast: Callable[[str], float], ok: Callable[[float], bool], expected: str) -> float:
    try:
        value = cast(text)
    except ValueError:
        value = math.nan
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return int(_number(text, int, lambda v: v >= 1, "a positive integer"))


def non_negative_int(text: str) -> int:
    return int(_number(text, int, lambda v: v >= 0, "an integer >= 0"))


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < math.inf, "a positive finite number")
