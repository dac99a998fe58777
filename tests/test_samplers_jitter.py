"""Jittered step sizes (HMC, MALA): chains where the adapted step is too large still move, and p stays invariant."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.samplers import HMC, MALA, ULA
from ebmlab.samplers.chains import run_chains

SCALES = torch.tensor([1.0, 0.02], dtype=torch.float64)  # one wide and one narrow direction


def gauss(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x / SCALES).square().sum(1)


def _run(kernel, n: int = 400, steps: int = 150, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, 2, generator=g, dtype=torch.float64) * SCALES  # exact draws of p
    run = run_chains(kernel, gauss, x0, steps, g, keep_every=1, frozen_after=None)
    moved = (run.samples[-1] != x0).any(1).double().mean()
    return run.samples[steps // 3 :].reshape(-1, 2), float(moved)


@pytest.mark.parametrize("kind", ["hmc", "mala"])
def test_jitter_moves_chains_a_fixed_step_leaves_stuck_and_keeps_p(kind: str) -> None:
    """A step fitted to the wide direction (ε = 0.5, 25× the narrow sd): without jitter almost no proposal is
    accepted; with ε·exp(−j·U), j = log 1000, the small steps some iterations take move every chain. Invariance:
    the narrow variance stays at 0.02² (chains start at exact draws; SE of a variance from ≥ 400 chains ≈ 10 %
    at these lags, so 35 % is > 3 SE). Negative control for the variance check: ULA at a step where its
    stationary variance is far from p's fails it."""
    make = (lambda j: HMC(0.5, n_leapfrog=3, jitter=j)) if kind == "hmc" else (lambda j: MALA(0.25, jitter=j))
    _, moved_fixed = _run(make(0.0))
    xs, moved_jit = _run(make(math.log(1000.0)))
    assert moved_fixed < 0.1 and moved_jit > 0.9, (moved_fixed, moved_jit)
    rel = xs.var(0) / SCALES.square()
    assert bool(((rel - 1).abs() < 0.35).all()), rel
    ula, _ = _run(ULA(3e-4))  # λ/(2s²) = 0.375 in the narrow direction: stationary variance 1.6× p's
    assert float((ula.var(0) / SCALES.square())[1]) > 1.35


def test_jitter_is_a_one_line_error_when_negative() -> None:
    with pytest.raises(ConfigError, match="jitter"):
        HMC(0.1, jitter=-1.0)
    with pytest.raises(ConfigError, match="jitter"):
        MALA(0.1, jitter=float("nan"))
