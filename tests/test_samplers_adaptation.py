"""Step-size adaptation that reaches its target acceptance when acceptance is not monotone in the step size.

HMC with L = 5 leapfrog steps on a 4-D quadratic with scales (1, 0.5, 0.2, 0.1): acceptance against ε (fixed ε,
256 chains, seed 0) is 0.918 at 0.10, 0.978 at 0.12, 0.787 at 0.14, 0.923 at 0.16, 0.517 at 0.18, 0.908 at 0.19
and 0.123 at 0.20 (the leapfrog stability limit 2/ω_max): not monotone, with a cliff. Dual averaging alone
oscillates across the cliff; its iterates average to the target acceptance, but the averaged step size it keeps
gave 0.91–0.92 after warm-up (the issue's 0.90). The second half of the warm-up now bisects on measured
acceptance (docs/samplers.md).
"""

from __future__ import annotations

import pytest
import torch

from ebmlab.samplers import HMC, MALA, sample
from ebmlab.samplers.adaptation import REACHED_TOLERANCE, DualAveraging, WindowedBisection

SCALES = torch.tensor([1.0, 0.5, 0.2, 0.1], dtype=torch.float64)


def quadratic(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x / SCALES).square().sum(-1)


def cliff(eps: float) -> float:
    """A deterministic acceptance curve: a plateau at 0.95, a resonance dip on (0.5, 0.55), a cliff at 0.9–1."""
    if eps >= 1.0:
        return 0.0
    base = 0.95 if eps < 0.9 else 0.95 * (1.0 - eps) / 0.1
    return base * (0.3 if 0.5 < eps < 0.55 else 1.0)


def test_bisection_reaches_the_target_where_dual_averaging_alone_keeps_a_step_on_the_plateau() -> None:
    da_rule = DualAveraging(0.65)
    da = da_rule.init(0.1)
    for _ in range(250):
        da = da_rule.update(da, cliff(da.step_size))
    assert cliff(da.final_step_size) == 0.95  # the root cause, reproduced without noise
    rule = WindowedBisection(0.65, window=8)
    state = rule.init(da.final_step_size)
    for _ in range(250):
        state = rule.update(state, cliff(state.step_size))
    assert state.done and abs(cliff(state.final_step_size) - 0.65) <= rule.tol


@pytest.mark.parametrize("kernel", ["hmc", "mala"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_post_warmup_acceptance_is_within_tolerance_of_the_target(kernel: str, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(256, 4, generator=g, dtype=torch.float64)
    sampler = HMC(0.1) if kernel == "hmc" else MALA(0.1)
    result = sample(quadratic, sampler, x0, 300, warmup=500, generator=g, diagnostics=False)
    target = sampler.default_target_accept
    assert abs(result.accept_rate - target) <= REACHED_TOLERANCE, result.accept_rate
    summary = result.summary()
    assert summary["target_accept"] == target and summary["adaptation_reached"] is True
    assert summary["adaptation"] == "dual averaging + windowed bisection"


def test_negative_control_without_adaptation_the_acceptance_is_far_from_the_target() -> None:
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(256, 4, generator=g, dtype=torch.float64)
    result = sample(quadratic, HMC(0.1), x0, 300, warmup=500, adapt_step_size=False, generator=g, diagnostics=False)
    assert result.accept_rate > 0.85 and result.summary()["adaptation_reached"] is None
    assert result.summary()["adaptation"] == "off"
