"""Why the NWJ critic's φ-gradient fails at high rate: the effective sample size of its weights (exact).

    PYTHONPATH=src python experiments/rd_critic_ess.py

At the optimal critic, e^{T(x′, y) − 1} = e^{−βρ(x′, y)} / Z_r(y) for x′ ~ r = p_φ: the critic-based gradient's
marginal term (and the NWJ value) is an importance-weighted average over the marginal chains. For a Gaussian
source and r = r* it is exact per component: E_r[w²]/E_r[w]² = √(a₁²/a₂) exp(2βy²(1/a₁ − 1/a₂)) with
a₁ = 1 + 2βs², a₂ = 1 + 4βs². Its mean over y is printed beside e^{R}; 1/it is the fraction of marginal
chains that effectively carry the gradient for one y.
"""

from __future__ import annotations

import math

import torch

from ebmlab.ratedistortion import gaussian_rd

CASES = [
    ("scalar", [1.0], 0.61),
    ("scalar", [1.0], 5.0),
    ("scalar", [1.0], 200.0),
    ("10d", [4 * math.exp(-0.5 * k) for k in range(10)], 0.5),
    ("10d", [4 * math.exp(-0.5 * k) for k in range(10)], 2.0),
    ("40d", [4 * math.exp(-k) for k in range(40)], 30.0),
]


def weight_second_moment(variances: list[float], beta: float, n_y: int = 200_000) -> float:
    """E_y[E_r w² / (E_r w)²] for w = e^{−β‖x′ − y‖²}, r = r* (reverse water-filling)."""
    g = torch.Generator().manual_seed(0)
    theta = 1 / (2 * beta)
    s2 = torch.tensor([max(v - theta, 0.0) for v in variances], dtype=torch.float64)
    y = torch.randn(n_y, len(variances), generator=g, dtype=torch.float64) * torch.tensor(variances).sqrt()
    a1, a2 = 1 + 2 * beta * s2, 1 + 4 * beta * s2
    log_ratio = (-0.5 * a2.log() - 2 * beta * y**2 / a2) - 2 * (-0.5 * a1.log() - beta * y**2 / a1)
    return float(log_ratio.sum(1).exp().mean())


def main() -> None:
    print("| source | β | R* (nats) | e^{R*} | E_y[E w² / (E w)²] | ESS fraction |")
    print("|---|---|---|---|---|---|")
    for name, v, beta in CASES:
        m2, r = weight_second_moment(v, beta), gaussian_rd(v, beta).rate
        print(f"| {name} | {beta:g} | {r:.3f} | {math.exp(r):.3g} | {m2:.3g} | {1 / m2:.2g} |")


if __name__ == "__main__":
    main()
