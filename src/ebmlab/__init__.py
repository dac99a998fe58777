"""ebmlab: learn, sample and measure Boltzmann distributions p(x) ∝ exp(-E(x)) on PyTorch."""

from __future__ import annotations

__version__ = "0.1.0"
