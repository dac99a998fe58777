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


#: seeds are 63-bit: torch generators take signed 64-bit values
MAX_SEED = 2**63 - 1


def seed_int(text: str) -> int:
    return int(_number(text, int, lambda v: 0 <= v <= MAX_SEED, f"a seed in [0, 2**63 - 1] = [0, {MAX_SEED}]"))


#: largest initial step size accepted: far beyond any target's scale, still far from float overflow
MAX_STEP = 1e4


def step_size(text: str) -> float:
    return _number(text, float, lambda v: 0 < v <= MAX_STEP, f"a positive step size <= {MAX_STEP:g} (try 0.01 to 1)")
