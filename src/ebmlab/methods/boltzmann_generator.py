"""Boltzmann generator with NICE (seed 004): x = S·F(z), z ~ N(0, I), trained by reverse KL.

**Target.** μ(x) = exp(−U(x)) / C on ℝ^d.

**Model (D = d).** x = S·F(z), F a NICE network (|∂F/∂z| ≡ 1), S an invertible matrix
(:class:`~ebmlab.flows.LULinear`), so log P(x) = log N(z) − log|det S|. The reverse KL is

    J = KL(P ‖ μ) = E_z[U(x)] − log|det S| − H(z) + log C ≥ 0,    H(z) = (D/2)(1 + log 2π),

and the seed's stochastic objective is  Ĵ = −log|det S| + (1/B) Σ_b U(x_b).
*Correction:* the seed writes ``log U(x_b)``; the KL needs U itself (log μ = −U − log C), which is what
is implemented. Hence Ĵ ≥ H(z) − log C; for the double well of seed 004 (log C = 5.032284, D = 1) the
floor is 1.418939 − 5.032284 = −3.613345.

**Redundant latents (D > d).** (x, y) = S·F(z), y ∈ ℝ^{D−d}, with a Gaussian head
P̂(y|x) = N(y | M(x), Σ(x)) (Σ = LLᵀ, L lower-triangular with positive diagonal, all from one MLP).
Seed eq. (11):

    J_R = KL(P(x, y) ‖ μ(x) P̂(y|x)) = J + E_x KL(P(y|x) ‖ P̂(y|x)) ≥ J,
    Ĵ_R = −log|det S| + (1/B) Σ_b [U(x_b) + ½ log det Σ(x_b) + ½ (y_b − M)ᵀ Σ⁻¹ (y_b − M)].

Ĵ_R drops the constant ½(D−d) log 2π of −log P̂, so its floor, (D/2)(1 + log 2π) − ½(D−d) log 2π − log C,
depends on D (seed eq. (11) omits the constant as well, so J_R as printed there is off by ½(D−d) log 2π
unless it is restored). To compare different D we also report the fully normalised quantity (in nats)

    L = E[U(x)] − H(P(x, y)) + E[−log P̂(y|x)] = J_R − log C ≥ −log C,

estimated per sample as ℓ_b = U(x_b) + log N(z_b) − log|det ∂(x,y)/∂z| − log P̂(y_b|x_b) (same mean as
Ĵ_R − H(z) + ½(D−d) log 2π, smaller variance: ℓ_b is constant when P = μ·P̂). −L is an ELBO: L ≥ −log C
for every D, so the smallest L picks D (seed Remark 2) and L + log C = J_R is the KL bound when C is known.

**log C by importance sampling.** exp(−ℓ_b) are importance weights of the extended target
μ(x)·P̂(y|x) — normalised to C in y for every x — under the joint proposal P(x, y), whose density is
tractable even though the marginal P(x) is not. So E[exp(−ℓ)] = C exactly, for any D: log Ĉ =
log mean exp(−ℓ_b), with delta-method SE and Kish ESS. With D = d this is plain IS with proposal P(x).
A proposal that misses part of μ's mass (reverse KL drops modes) makes log Ĉ biased low, and the SE,
computed from the weights that were seen, does not show it.

**Annealing (optional, not in seed 004).** With ``anneal_steps`` T > 0 the first T training steps target
μ_β ∝ exp(−βU), β rising geometrically from ``beta0`` to 1. Plain reverse KL on the double well drops the
right well (6.6 % of the mass) from the start; the flatter early targets keep it populated.

**Training.** :func:`~ebmlab.methods.boltzmann_generator_tools.train_boltzmann_generator` runs :func:`ebmlab.training.fit` (Adam); the method itself
owns no loop, and ``method: {name: boltzmann-generator, ...}`` builds it from an experiment YAML.

**Forward KL (optional).** With target samples x (``batch``) and ``forward_kl_weight`` w > 0, the loss adds
w·(−(1/B) Σ log P(x_b)); for D > d, log P(x) is bounded below by log P(x, y) − log P̂(y|x) with
y ~ P̂(y|x) (reparametrised), so the term is an upper bound on the forward-KL cross-entropy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, evaluate_energy
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators.base import Estimate
from ebmlab.estimators.logz import log_z_importance
from ebmlab.flows import FLOW_KINDS, Compose, FlowDistribution, LULinear, make_flow
from ebmlab.methods.conditional_gaussian import LOG_2PI, ConditionalGaussian
from ebmlab.training.method import DEFAULT_GROUP, Losses, Method, StepContext

__all__ = ["BoltzmannGenerator", "ConditionalGaussian", "check_n_samples"]

#: moved to :mod:`ebmlab.methods.boltzmann_generator_tools`; still importable from here (lazily, no cycle)
_MOVED = (
    "LatentDimSelection",
    "PotentialCurves",
    "log_z_flow",
    "logz_evaluator",
    "many_well_mode_stats",
    "recover_potential",
    "select_latent_dim",
    "train_boltzmann_generator",
)

_EVAL_CHUNK = 65536


class BoltzmannGenerator(Method):
    """Seed-004 Boltzmann generator for the energy U (see the module docstring for the math).

    Args:
        energy: U, any energy ``(n, *event_shape) -> (n,)`` (its parameters are *not* trained here).
        dim: d = prod(event_shape), or pass ``event_shape``.
        latent_dim: D ≥ d (default d). D > d adds the Gaussian head P̂(y|x) and trains J_R.
        flow: ``"nice"`` (additive couplings, seed 004) or ``"realnvp"`` (affine couplings, for comparison).
        n_couplings, hidden, depth: coupling stack and its MLPs.
        head_hidden, head_depth: the MLP of P̂(y|x).
        init_scale: initial S = init_scale · I.
        batch_size: B, latent draws per ``losses`` call.
        forward_kl_weight: weight of the forward-KL term (needs target samples as ``batch``).
        log_z: the exact log C when known (default: ``energy.log_z()`` when the energy is an analytic target
            with ``has_exact_log_z``); then ``losses`` also reports ``kl_bound`` = L + log C (nats).
        event_shape: shape of one x passed to ``energy`` (default ``(dim,)``).
        seed: initialises all parameters (same seed → same model).
    """

    energy: EnergyFn

    def __init__(
        self,
        energy: EnergyFn,
        dim: int | None = None,
        latent_dim: int | None = None,
        flow: str = "nice",
        n_couplings: int = 4,
        hidden: int = 64,
        depth: int = 2,
        head_hidden: int = 64,
        head_depth: int = 2,
        init_scale: float = 1.0,
        batch_size: int = 256,
        forward_kl_weight: float = 0.0,
        anneal_steps: int = 0,
        beta0: float = 1.0,
        log_z: float | None = None,
        event_shape: Sequence[int] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if event_shape is None:
            event_shape = getattr(energy, "event_shape", None) or ((dim,) if dim is not None else None)
        if event_shape is None:
            raise ConfigError("BoltzmannGenerator: give dim or event_shape (the shape of one x).")
        self.event_shape = tuple(int(s) for s in event_shape)
        self.dim = math.prod(self.event_shape)
        if dim is not None and dim != self.dim:
            raise ConfigError(f"BoltzmannGenerator: dim={dim} does not match event_shape {self.event_shape}.")
        self.latent_dim = self.dim if latent_dim is None else int(latent_dim)
        if self.latent_dim < self.dim:
            raise ConfigError(
                f"BoltzmannGenerator: latent_dim D={self.latent_dim} < data dim d={self.dim}; "
                "D must be >= d (D = d: plain reverse KL, D > d: redundant latents)."
            )
        if flow not in FLOW_KINDS:
            raise ConfigError(f"BoltzmannGenerator: flow must be one of {FLOW_KINDS}, got {flow!r}.")
        if batch_size < 2 or forward_kl_weight < 0:
            raise ConfigError(
                f"BoltzmannGenerator: need batch_size >= 2 and forward_kl_weight >= 0, "
                f"got {batch_size}, {forward_kl_weight}."
            )
        if not 0 < beta0 <= 1 or anneal_steps < 0:
            raise ConfigError(
                f"BoltzmannGenerator: need 0 < beta0 <= 1 and anneal_steps >= 0, got {beta0}, {anneal_steps}."
            )
        self.__dict__["energy"] = energy  # kept out of the module tree: U's parameters are not trained
        self.flow_kind = flow
        self.batch_size = int(batch_size)
        self.forward_kl_weight = float(forward_kl_weight)
        if log_z is None and getattr(energy, "has_exact_log_z", False):
            log_z = energy.log_z()  # type: ignore[attr-defined]
        self.log_z = None if log_z is None else float(log_z)
        self.anneal_steps, self.beta0 = int(anneal_steps), float(beta0)
        self.flow: FlowDistribution = make_flow(
            flow, self.latent_dim, n_couplings, hidden, depth, seed=seed, init_scale=init_scale
        )
        self.head = (
            ConditionalGaussian(self.dim, self.latent_dim - self.dim, head_hidden, head_depth, seed=seed + 1)
            if self.latent_dim > self.dim
            else None
        )

    # -- pieces ---------------------------------------------------------------------------------------
    @property
    def linear(self) -> LULinear:
        """The matrix S (the flow's :class:`~ebmlab.flows.LULinear` layer)."""
        layers = [m for m in cast(Compose, self.flow.transform).layers if isinstance(m, LULinear)]
        assert len(layers) == 1
        return layers[0]

    def _energy(self, x: Tensor) -> Tensor:
        return evaluate_energy(self.energy, x.reshape(x.shape[0], *self.event_shape))

    def extended_energy(self, xy: Tensor) -> Tensor:
        """E_ext(x, y) = U(x) − log P̂(y|x) (just U(x) when D = d); ∫∫ exp(−E_ext) = C."""
        x = xy[:, : self.dim]
        u = self._energy(x)
        return u if self.head is None else u - self.head.log_prob(xy[:, self.dim :], x)

    def current_beta(self, t: int) -> float:
        """β of the training target μ_β ∝ exp(−βU) at training call t = 0, 1, …:
        beta0^(1 − t/anneal_steps) for t < anneal_steps, else 1 (a pure function of the step)."""
        return self.beta0 ** (1.0 - t / self.anneal_steps) if t < self.anneal_steps else 1.0

    def _terms(self, n: int, generator: torch.Generator | None, beta: float = 1.0) -> dict[str, Tensor]:
        z, xy, log_det = self.flow.sample_latent(n, generator)
        x, y = xy[:, : self.dim], xy[:, self.dim :]
        u = self._energy(x) if beta == 1.0 else beta * self._energy(x)
        out = {"z": z, "x": x, "y": y, "U": u, "log_det": log_det, "seed_terms": u}
        if self.head is not None:
            half_logdet, half_maha = self.head.terms(y, x)
            out["seed_terms"] = u + half_logdet + half_maha
            out["neg_log_head"] = half_logdet + half_maha + 0.5 * (self.latent_dim - self.dim) * LOG_2PI
        else:
            out["neg_log_head"] = torch.zeros_like(u)
        out["ell"] = u + self.flow.base.log_prob(z) - log_det + out["neg_log_head"]
        return out

    # -- objective ------------------------------------------------------------------------------------
    def losses(self, batch: Tensor | None, ctx: StepContext) -> Losses:
        """Ĵ (or Ĵ_R) on ``batch_size`` fresh latents, plus logged scalars (see :meth:`objective`).

        In training mode, step ``ctx.step`` uses the target μ_β with β = :meth:`current_beta` (ctx.step − 1).
        """
        beta = self.current_beta(ctx.step - 1) if self.training else 1.0
        out = self.objective(batch, ctx.generator, beta)
        loss = out.pop("loss")
        return Losses({DEFAULT_GROUP: loss}, {k: v.detach() for k, v in out.items()})

    def objective(
        self, batch: Tensor | None = None, generator: torch.Generator | None = None, beta: float = 1.0
    ) -> dict[str, Tensor]:
        """Ĵ (or Ĵ_R) on ``batch_size`` fresh latents at target μ_β, plus scalars.

        Keys: ``loss`` (minimised: J_hat + forward_kl_weight·forward_kl), ``J_hat`` (seed convention, U in
        place of log U), ``free_energy_bound`` (L ≥ −log C, nats, comparable across D), ``mean_U``,
        ``log_det_S``, ``log_det`` (all layers; = log_det_S for NICE), ``head_nll`` (E[−log P̂(y|x)], D > d),
        ``kl_bound`` (L + log C, only when ``log_z`` is known and β = 1), ``forward_kl`` (when used), ``beta``.

        Annealing (not in seed 004; off by default): training step t uses β = :meth:`current_beta` (from
        ``beta0`` up to 1 over ``anneal_steps`` steps), and U in every key is then β·U. Flatter early targets
        keep every well populated, which plain reverse KL otherwise tends to drop. Non-finite values are
        left to the training loop's divergence monitor.
        """
        t = self._terms(self.batch_size, generator, beta)
        j_hat = -t["log_det"].mean() + t["seed_terms"].mean()
        out = {
            "J_hat": j_hat,
            "free_energy_bound": t["ell"].mean(),
            "mean_U": t["U"].mean(),
            "log_det_S": self.linear.log_abs_det(),
            "log_det": t["log_det"].mean(),
            "beta": torch.tensor(beta, device=j_hat.device),  # logged values stay on the chains' device
        }
        if self.head is not None:
            out["head_nll"] = t["neg_log_head"].mean()
        if self.log_z is not None and beta == 1.0:
            out["kl_bound"] = out["free_energy_bound"] + self.log_z
        loss = j_hat
        if self.forward_kl_weight > 0:
            if batch is None:
                raise ConfigError(
                    "BoltzmannGenerator.losses: forward_kl_weight > 0 needs target samples as `batch`; "
                    "pass them, or set forward_kl_weight=0 for energy-only (reverse-KL) training."
                )
            out["forward_kl"] = self.forward_nll(batch, generator)
            loss = loss + self.forward_kl_weight * out["forward_kl"]
        out["loss"] = loss
        return out

    def forward_nll(self, batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """−mean log P(x) over target samples (D = d); for D > d the bound −mean[log P(x, y) − log P̂(y|x)]."""
        x = batch.reshape(batch.shape[0], -1).to(self.linear.log_s.dtype)
        if x.shape[1] != self.dim:
            raise ShapeError(
                f"BoltzmannGenerator: batch must hold samples of shape (n, *{self.event_shape}), "
                f"got {tuple(batch.shape)}."
            )
        if self.head is None:
            return -self.flow.log_prob(x).mean()
        y = self.head.sample(x, generator)
        return -(self.flow.log_prob(torch.cat([x, y], dim=1)) - self.head.log_prob(y, x)).mean()

    # -- evaluation -----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws of P(x), shape ``(n, *event_shape)``."""
        xy = self.flow.sample(n, generator)
        return xy[:, : self.dim].reshape(n, *self.event_shape)

    @torch.no_grad()
    def log_weights(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(x, log w)``: n draws x ~ P and log w = −ℓ (importance log-weights of μ·P̂ under P(x, y))."""
        xs, logs = [], []
        for m in _chunks(n):
            t = self._terms(m, generator)
            xs.append(t["x"])
            logs.append(-t["ell"])
        x = torch.cat(xs).reshape(n, *self.event_shape)
        return x, torch.cat(logs)

    def free_energy_bound(self, n: int = 100_000, generator: torch.Generator | None = None) -> Estimate:
        """L = E[ℓ] ≥ −log C with its standard error (sample std / √n)."""
        _, log_w = self.log_weights(n, generator)
        ell = -log_w.double()
        return Estimate(float(ell.mean()), float(ell.std() / math.sqrt(n)), n=n, method="flow-free-energy-bound")

    def estimate_log_z(self, n: int = 100_000, generator: torch.Generator | None = None) -> Estimate:
        """log C by importance sampling with the flow as proposal (the extended target for D > d).

        Calls :func:`ebmlab.estimators.logz.log_z_importance` with energy :meth:`extended_energy` and proposal
        P(x, y) (``self.flow``): log mean exp(−ℓ), delta-method SE, Kish ESS, Pareto k̂ in ``details``.
        """
        est = log_z_importance(self.extended_energy, self.flow, check_n_samples(n), generator)
        details = {**est.details, "latent_dim": self.latent_dim, "flow": self.flow_kind}
        return replace(est, method="flow-is", details=details)


def check_n_samples(n: int) -> int:
    """``n`` if it is an int ≥ 2 (a number of samples), else a one-line ConfigError."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError(f"need an int number of samples n >= 2, got {n!r}.")
    return n


def _chunks(n: int) -> list[int]:
    check_n_samples(n)
    return [min(_EVAL_CHUNK, n - i) for i in range(0, n, _EVAL_CHUNK)]


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from ebmlab.methods import boltzmann_generator_tools

        return getattr(boltzmann_generator_tools, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
