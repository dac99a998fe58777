"""Mutual-information lower bounds on correlated Gaussians, I = −½ d log(1 − ρ²).

A trained critic gives a *lower* bound: the estimate must not exceed the truth by more than 4 SE (this
fails for a wrong bound, e.g. joint pairs leaking into the marginal term), and must come within
4 SE + 10 % of the truth (the allowance is the gap of a finite critic after a small training budget).
"""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators import (
    ConcatCritic,
    SeparableCritic,
    correlated_gaussian_pairs,
    dv_bound,
    estimate_mi,
    gaussian_mi,
    infonce_bound,
    nwj_bound,
    train_critic,
)


def _data(dim: int, rho: float, seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    x, y = correlated_gaussian_pairs(8192, dim, rho, gen)
    xt, yt = correlated_gaussian_pairs(8192, dim, rho, gen)
    return x, y, xt, yt


@pytest.mark.parametrize(
    ("bound", "dim", "rho", "steps"),
    [("nwj", 2, 0.795, 800), ("mine", 2, 0.795, 800), ("nwj", 4, 0.795, 1500), ("mine", 4, 0.795, 1500)],
)
def test_nwj_and_mine_at_one_and_two_nats(bound: str, dim: int, rho: float, steps: int) -> None:
    truth = gaussian_mi(rho, dim)  # ≈ 1.0 nat (d = 2) and 2.0 nats (d = 4)
    x, y, xt, yt = _data(dim, rho, seed=dim)
    torch.manual_seed(0)
    critic = SeparableCritic(dim, dim, hidden=(64, 64), embed=16)
    trained = train_critic(x, y, bound, critic, steps=steps, batch_size=128, seed=0)
    est = estimate_mi(trained.critic, xt, yt, bound, batch_size=128)
    assert 0 < est.stderr < 0.05
    assert est.value < truth + 4 * est.stderr
    assert est.value > truth - 4 * est.stderr - 0.1 * truth


def test_infonce_saturates_at_log_batch_size() -> None:
    """True MI ≈ 19.6 nats ≫ log K = log 64 ≈ 4.16: InfoNCE sits just below log K and far below the truth."""
    truth = gaussian_mi(0.99, 10)
    x, y, xt, yt = _data(10, 0.99, seed=5)
    torch.manual_seed(0)
    trained = train_critic(x, y, "infonce", SeparableCritic(10, 10, (64, 64), 16), steps=300, batch_size=64, seed=0)
    est = estimate_mi(trained.critic, xt, yt, "infonce", batch_size=64)
    log_k = math.log(64)
    assert est.details["log_batch_size"] == log_k
    assert est.value <= log_k + 1e-9
    assert est.value > log_k - 0.2  # saturated: the bound cannot say more than log K
    assert truth > 4 * log_k


def test_bounds_on_a_known_critic() -> None:
    """With the optimal critic T* = 1 + log r(x, y) on 1-D Gaussians, NWJ is unbiased for I (exact in expectation)."""
    rho = 0.6
    truth = gaussian_mi(rho)

    class Oracle(torch.nn.Module):
        def scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            a, b = x[:, :1], y[:, 0][None, :]
            q = (rho**2 * a**2 - 2 * rho * a * b + rho**2 * b**2) / (2 * (1 - rho**2))
            return 1.0 + truth - q

    x, y = correlated_gaussian_pairs(64 * 400, 1, rho, torch.Generator().manual_seed(0))
    for bound in ("nwj", "mine", "infonce"):
        est = estimate_mi(Oracle(), x, y, bound, batch_size=64)
        if bound == "infonce":
            assert est.value < truth and est.value <= math.log(64)
        else:
            assert abs(est.value - truth) < 4 * est.stderr
    s = torch.randn(8, 8, generator=torch.Generator().manual_seed(1))
    assert infonce_bound(s) <= math.log(8)
    assert dv_bound(s) >= nwj_bound(s) - 1e-6  # DV ≥ NWJ for the same critic (log u ≤ u/e)


def test_concat_critic_scores_layout() -> None:
    torch.manual_seed(0)
    critic = ConcatCritic(2, 3, hidden=(8,))
    x, y = torch.randn(5, 2), torch.randn(5, 3)
    s = critic.scores(x, y)
    assert s.shape == (5, 5)
    assert torch.allclose(s.diagonal(), critic(x, y), atol=1e-6)
    assert torch.allclose(s[1, 3], critic(x[1:2], y[3:4])[0], atol=1e-6)


def test_mi_bad_input() -> None:
    x, y = torch.randn(100, 2), torch.randn(90, 2)
    with pytest.raises(ShapeError):
        train_critic(x, y, steps=1)
    with pytest.raises(ConfigError, match="unknown MI bound"):
        train_critic(x, x, "jsd", steps=1, batch_size=10)
    with pytest.raises(ConfigError, match="2 batches"):
        estimate_mi(SeparableCritic(2, 2), x, x, batch_size=64)
    with pytest.raises(ConfigError):
        gaussian_mi(1.0)
