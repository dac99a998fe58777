"""A flow proposal for a user's energy, built only from the energy: a RealNVP trained by reverse KL in
coordinates whitened by a Gaussian fitted to the mode search, used inside a *defensive* mixture.

**Whitening.** With the mean μ and Cholesky factor L of a Gaussian that covers the modes found (the wide base of
:mod:`ebmlab.estimators.user`), the flow models u = L⁻¹(x − μ); in x its density is

    log q_flow(x) = log P(L⁻¹(x − μ)) − log|det L|,

so the flow starts (at the identity) as that Gaussian and only has to learn the shape.

**Training.** Reverse KL, KL(P ‖ π_β) = E_P[β E + log P] + const, by the reparametrisation gradient, with β rising
geometrically from ``beta0`` to 1 over the first half of the steps (flatter targets early keep modes populated).
Reverse KL drops modes it did not start near, so the flow alone is not a safe proposal.

**Defensive mixture** (Hesterberg 1995): q = α·q_flow + (1 − α)·q_laplace. Every weight is then at most
exp(−E)/((1 − α) q_laplace): the Laplace mixture guards the modes found, the flow fits their shape.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.densities import Density
from ebmlab.device_copies import copies_on
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError
from ebmlab.flows import FlowDistribution, make_flow

__all__ = ["DefensiveMixture", "WhitenedFlow", "train_flow"]

_F64 = torch.float64


class WhitenedFlow:
    """q_flow(x) of x = μ + L u, u ~ P (a flow on ℝ^d): ``sample`` and ``log_prob`` in float64."""

    def __init__(self, flow: FlowDistribution, mean: Tensor, chol: Tensor, event_shape: tuple[int, ...]) -> None:
        self.flow, self.mean, self.chol = flow, mean.to(_F64).reshape(-1), chol.to(_F64)
        self._event = tuple(event_shape)
        self._log_det = float(torch.log(torch.diagonal(self.chol)).sum())

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event

    def to_x(self, u: Tensor) -> Tensor:
        mean, chol = copies_on(self, ("mean", "chol"), u.device, u.dtype)
        return (mean + u @ chol.T).reshape(u.shape[0], *self._event)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.to_x(self.flow.sample(n, generator).to(_F64))

    @torch.no_grad()
    def log_prob(self, x: Tensor) -> Tensor:
        mean, chol = copies_on(self, ("mean", "chol"), x.device)
        flat = x.to(_F64).reshape(x.shape[0], -1) - mean
        u = torch.linalg.solve_triangular(chol, flat.T, upper=False).T
        dtype = next(self.flow.parameters()).dtype
        return self.flow.log_prob(u.to(dtype)).to(_F64) - self._log_det


class DefensiveMixture:
    """α·a + (1 − α)·b for two densities a, b (``sample`` picks a component per draw; ``log_prob`` is exact)."""

    def __init__(self, a: Density, b: Density, alpha: float) -> None:
        if not 0.0 < alpha < 1.0:
            raise ConfigError(f"DefensiveMixture: alpha must be in (0, 1), got {alpha!r}.")
        self.a, self.b, self.alpha = a, b, float(alpha)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.a.event_shape)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = generator.device if generator is not None else torch.device("cpu")
        pick = torch.rand(n, generator=generator, dtype=_F64, device=device) < self.alpha
        k = int(pick.sum())
        x = torch.empty((n, *self.event_shape), dtype=_F64, device=device)
        if k:
            x[pick] = self.a.sample(k, generator).to(_F64)  # type: ignore[arg-type]
        if k < n:
            x[~pick] = self.b.sample(n - k, generator).to(_F64)  # type: ignore[arg-type]
        return x

    def log_prob(self, x: Tensor) -> Tensor:
        la = self.a.log_prob(x).to(_F64) + math.log(self.alpha)
        lb = self.b.log_prob(x).to(_F64) + math.log1p(-self.alpha)
        return torch.logaddexp(la, lb)


def train_flow(
    energy: EnergyFn,
    mean: Tensor,
    chol: Tensor,
    event_shape: tuple[int, ...],
    *,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    beta0: float = 0.1,
    n_couplings: int = 6,
    hidden: int = 64,
    seed: int = 0,
) -> tuple[WhitenedFlow, dict[str, float]]:
    """Train a RealNVP on u = L⁻¹(x − μ) by reverse KL to exp(−βE) (module docstring); returns the flow in x and
    ``{"loss": final loss, "energy_evaluations": steps·batch_size}``."""
    d = math.prod(event_shape)
    flow = make_flow("realnvp", d, n_couplings, hidden, seed=seed).to(mean.device)  # built on the CPU: same weights
    wf = WhitenedFlow(flow, mean, chol, event_shape)
    gen = torch.Generator(device=mean.device).manual_seed(seed)
    opt = torch.optim.Adam(flow.parameters(), lr=lr)
    anneal = steps // 2
    loss_value = math.nan
    for t in range(steps):
        beta = beta0 ** (1.0 - t / anneal) if t < anneal else 1.0
        u, log_p = flow.sample_and_log_prob(batch_size, gen)
        e = energy(wf.to_x(u.to(_F64))).to(log_p.dtype)
        terms = beta * e + log_p
        ok = torch.isfinite(terms)
        if not bool(ok.any()):
            continue
        loss = terms[ok].mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 100.0)
        opt.step()
        loss_value = float(loss.detach())
    flow.eval()
    return wf, {"loss": loss_value, "energy_evaluations": float(steps * batch_size)}
