"""Boltzmann machines over binary units (seed 003 §2.1.3): fully visible and restricted.

Both use units in {0, 1} (not ±1 spins; an Ising model with spins s = 2x − 1 is the same family with
reparameterised W, b). At inverse temperature β the distribution is p_β ∝ exp(−β E) (eq. 2.1).

* :class:`FullyVisibleBM` — E(x) = −½ xᵀWx − bᵀx, W symmetric with zero diagonal, so each unit's
  conditional is p(x_i = 1 | x_rest) = σ(β((Wx)_i + b_i)) (single-site Gibbs; ``conditional_logits``).
* :class:`RBM` — E(v, h) = −vᵀWh − bᵀv − cᵀh. The layers are conditionally independent:
  p(h_j = 1 | v) = σ(β(vW + c)_j), p(v_i = 1 | h) = σ(β(Wh + b)_i) (block Gibbs). Summing out h gives the
  free energy F(v) = −bᵀv − Σ_j softplus(vW + c)_j with p(v) = exp(−F(v)) / Z (``forward`` returns F, so
  the RBM is an energy on v); by symmetry F_h(h) = −cᵀh − Σ_i softplus(Wh + b)_i, and log Z is exact by
  enumerating the smaller layer: log Z_β = log Σ_h exp(−F_h^β(h)), F_h^β(h) = −β cᵀh − Σ softplus(β(Wh + b)).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ebmlab.energies.states import MAX_ENUMERATION_STATES, BinarySpace
from ebmlab.errors import ConfigError, ShapeError

__all__ = ["RBM", "FullyVisibleBM", "bernoulli_draw"]


def _check_units(name: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"{name} must be a positive int, got {n!r}.")
    return n


def _check_x(x: Tensor, d: int, who: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != d:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{who}: expected binary units of shape (n, {d}), got {got}.")


def bernoulli_draw(p: Tensor, generator: torch.Generator | None) -> Tensor:
    """x ~ Bernoulli(p) elementwise, all randomness from ``generator``."""
    u = torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device)
    return (u < p).to(p.dtype)


def _log_sum_states(fn, dim: int, like: Tensor, chunk: int = 1 << 16) -> float:
    """log Σ_s exp(fn(s)) over all s ∈ {0,1}^dim (chunked, float64), the states in ``like``'s dtype and device."""
    if 2**dim > MAX_ENUMERATION_STATES:
        raise ConfigError(
            f"exact log Z needs 2^{dim} states (> 2^24); use AIS (ebmlab.estimators.rbm_ais) for a model this size."
        )
    space = BinarySpace(dim, dtype=like.dtype, device=like.device)
    parts = [torch.logsumexp(fn(s).to(torch.float64), 0) for s in space.chunks(chunk)]
    return float(torch.logsumexp(torch.stack(parts), 0))


class FullyVisibleBM(nn.Module):
    """Fully visible Boltzmann machine E(x) = −½ xᵀWx − bᵀx on x ∈ {0, 1}^d (W symmetric, zero diagonal).

    ``weight_init`` is the std of the initial couplings (drawn from ``generator``; 0 = all zero).
    """

    def __init__(self, dim: int, weight_init: float = 0.0, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.dim = _check_units("FullyVisibleBM: dim", dim)
        a = torch.randn(dim, dim, generator=generator) * float(weight_init) if weight_init else torch.zeros(dim, dim)
        self.raw_weight = nn.Parameter(torch.triu(a, 1))
        self.bias = nn.Parameter(torch.zeros(dim))

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    @property
    def weight(self) -> Tensor:
        """W = U + Uᵀ with U the strict upper triangle of the parameter (symmetric, zero diagonal)."""
        u = torch.triu(self.raw_weight, 1)
        return u + u.T

    def forward(self, x: Tensor) -> Tensor:
        _check_x(x, self.dim, "FullyVisibleBM")
        x = x.to(self.bias.dtype)
        return -0.5 * ((x @ self.weight) * x).sum(1) - x @ self.bias

    def free_energy(self, x: Tensor) -> Tensor:
        """No hidden units: the free energy is the energy."""
        return self(x)

    def conditional_logits(self, x: Tensor, index: Tensor, beta: float = 1.0) -> Tensor:
        """logit p(x_i = 1 | x_rest) = β((Wx)_i + b_i) for i in ``index``, shape ``(n, |index|)``."""
        w = self.weight[:, index]
        return beta * (x.to(w.dtype) @ w + self.bias[index])

    @torch.no_grad()
    def gibbs(self, x: Tensor, n_sweeps: int, generator: torch.Generator | None, beta: float = 1.0) -> Tensor:
        """``n_sweeps`` systematic-scan single-site Gibbs sweeps at inverse temperature β."""
        _check_x(x, self.dim, "FullyVisibleBM.gibbs")
        x = x.clone().to(self.bias.dtype)
        w, b = self.weight, self.bias
        for _ in range(n_sweeps):
            for i in range(self.dim):
                x[:, i] = bernoulli_draw(torch.sigmoid(beta * (x @ w[:, i] + b[i])), generator)
        return x

    def space(self) -> BinarySpace:
        return BinarySpace(self.dim, dtype=self.bias.dtype, device=self.bias.device)

    @torch.no_grad()
    def log_z(self, beta: float = 1.0) -> float:
        """Exact log Z_β = log Σ_x exp(−β E(x)) by enumeration (d ≤ 24)."""
        return _log_sum_states(lambda x: -beta * self(x), self.dim, self.bias)

    def log_prob(self, x: Tensor, log_z: float | None = None) -> Tensor:
        """log p(x) = −E(x) − log Z (exact log Z unless given)."""
        return -self(x) - (self.log_z() if log_z is None else log_z)


class RBM(nn.Module):
    """Restricted Boltzmann machine E(v, h) = −vᵀWh − bᵀv − cᵀh; ``forward(v)`` is the free energy F(v)."""

    def __init__(
        self, n_visible: int, n_hidden: int, weight_init: float = 0.01, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.n_visible = _check_units("RBM: n_visible", n_visible)
        self.n_hidden = _check_units("RBM: n_hidden", n_hidden)
        self.weight = nn.Parameter(torch.randn(n_visible, n_hidden, generator=generator) * float(weight_init))
        self.v_bias = nn.Parameter(torch.zeros(n_visible))
        self.h_bias = nn.Parameter(torch.zeros(n_hidden))

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.n_visible,)

    def init_visible_bias(self, data: Tensor, eps: float = 1e-3) -> None:
        """b_i = logit of the data's mean of unit i (clipped to [eps, 1 − eps]) — Hinton's recommended start."""
        p = data.to(self.v_bias.dtype).mean(0).clamp(eps, 1 - eps)
        with torch.no_grad():
            self.v_bias.copy_(torch.log(p) - torch.log1p(-p))

    def joint_energy(self, v: Tensor, h: Tensor) -> Tensor:
        """E(v, h), shape ``(n,)``."""
        _check_x(v, self.n_visible, "RBM.joint_energy(v)")
        _check_x(h, self.n_hidden, "RBM.joint_energy(h)")
        v, h = v.to(self.weight.dtype), h.to(self.weight.dtype)
        return -((v @ self.weight) * h).sum(1) - v @ self.v_bias - h @ self.h_bias

    def joint(self) -> JointRBMEnergy:
        """E as an energy on the concatenation [v, h] ∈ {0,1}^(n_v + n_h) (for enumeration, β from μ)."""
        return JointRBMEnergy(self)

    def forward(self, v: Tensor) -> Tensor:
        return self.free_energy(v)

    def free_energy(self, v: Tensor, beta: float = 1.0) -> Tensor:
        """F_β(v) = −β bᵀv − Σ_j softplus(β(vW + c)_j): p_β(v) = exp(−F_β(v)) / Z_β."""
        _check_x(v, self.n_visible, "RBM.free_energy")
        v = v.to(self.weight.dtype)
        return -beta * (v @ self.v_bias) - F.softplus(beta * (v @ self.weight + self.h_bias)).sum(1)

    def hidden_free_energy(self, h: Tensor, beta: float = 1.0) -> Tensor:
        """F_β(h) = −β cᵀh − Σ_i softplus(β(Wh + b)_i) (the visible units summed out)."""
        _check_x(h, self.n_hidden, "RBM.hidden_free_energy")
        h = h.to(self.weight.dtype)
        return -beta * (h @ self.h_bias) - F.softplus(beta * (h @ self.weight.T + self.v_bias)).sum(1)

    def p_h(self, v: Tensor, beta: float = 1.0) -> Tensor:
        return torch.sigmoid(beta * (v.to(self.weight.dtype) @ self.weight + self.h_bias))

    def p_v(self, h: Tensor, beta: float = 1.0) -> Tensor:
        return torch.sigmoid(beta * (h.to(self.weight.dtype) @ self.weight.T + self.v_bias))

    @torch.no_grad()
    def gibbs(self, v: Tensor, k: int, generator: torch.Generator | None, beta: float = 1.0) -> Tensor:
        """k block-Gibbs sweeps v → h ~ p(h|v) → v ~ p(v|h) at inverse temperature β."""
        _check_x(v, self.n_visible, "RBM.gibbs")
        v = v.to(self.weight.dtype)
        for _ in range(k):
            v = bernoulli_draw(self.p_v(bernoulli_draw(self.p_h(v, beta), generator), beta), generator)
        return v

    @torch.no_grad()
    def log_z(self, beta: float = 1.0) -> float:
        """Exact log Z_β by enumerating the smaller layer (min(n_v, n_h) ≤ 24)."""
        if self.n_hidden <= self.n_visible:
            return _log_sum_states(lambda h: -self.hidden_free_energy(h, beta), self.n_hidden, self.weight)
        return _log_sum_states(lambda v: -self.free_energy(v, beta), self.n_visible, self.weight)

    def log_prob(self, v: Tensor, log_z: float | None = None) -> Tensor:
        """log p(v) = −F(v) − log Z (exact log Z unless given, e.g. an AIS estimate)."""
        return -self.free_energy(v) - (self.log_z() if log_z is None else log_z)

    @torch.no_grad()
    def sample_exact(self, n: int, generator: torch.Generator) -> Tensor:
        """n independent draws of v: h from its exact marginal (enumerated, n_h ≤ 20), then v ~ p(v|h)."""
        if self.n_hidden > 20:
            raise ConfigError(f"RBM.sample_exact enumerates 2^{self.n_hidden} hidden states; use Gibbs for n_h > 20.")
        states = BinarySpace(self.n_hidden, dtype=self.weight.dtype, device=self.weight.device).states()
        p = torch.softmax(-self.hidden_free_energy(states).to(torch.float64), 0)
        h = states[torch.multinomial(p, n, replacement=True, generator=generator)]
        return bernoulli_draw(self.p_v(h), generator)


class JointRBMEnergy(nn.Module):
    """E(v, h) of an :class:`RBM` as an energy on x = [v, h], shape ``(n, n_v + n_h)``."""

    def __init__(self, rbm: RBM) -> None:
        super().__init__()
        self.rbm = rbm
        self.dim = rbm.n_visible + rbm.n_hidden

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def forward(self, x: Tensor) -> Tensor:
        _check_x(x, self.dim, "JointRBMEnergy")
        return self.rbm.joint_energy(x[:, : self.rbm.n_visible], x[:, self.rbm.n_visible :])

    def conditional_logits(self, x: Tensor, index: Tensor) -> Tensor:
        """E(x; x_i = 0) − E(x; x_i = 1) for the units in ``index``: (Wh + b)_i for visible, (vW + c)_j for hidden
        units. Each layer is one block of conditionally independent units (``BlockGibbs(blocks=[v, h])``)."""
        r, nv = self.rbm, self.rbm.n_visible
        x = x.to(r.weight.dtype)
        logits = torch.cat((x[:, nv:] @ r.weight.T + r.v_bias, x[:, :nv] @ r.weight + r.h_bias), 1)
        return logits[:, index]

    def blocks(self) -> list[list[int]]:
        """The two layers as Gibbs blocks: visible units, then hidden units."""
        nv = self.rbm.n_visible
        return [list(range(nv)), list(range(nv, self.dim))]

    @torch.no_grad()
    def gibbs(self, x: Tensor, k: int, generator: torch.Generator | None, beta: float = 1.0) -> Tensor:
        """k block-Gibbs sweeps in the joint at β: h | v, then v | h (returns [v, h])."""
        v = x[:, : self.rbm.n_visible]
        h = x[:, self.rbm.n_visible :]
        for _ in range(k):
            h = bernoulli_draw(self.rbm.p_h(v, beta), generator)
            v = bernoulli_draw(self.rbm.p_v(h, beta), generator)
        return torch.cat((v, h), 1)
