"""Generalized energy-based model (GEBM; seed 002, Arbel, Zhou & Gretton, ICLR 2021) trained with KALE.

**Model.** A base 𝔾_θ: x = G_θ(z), z ~ η (any :class:`~ebmlab.densities.Density`; default N(0, I)),
reweighted by an energy E:  dℚ(x) = Z⁻¹ exp(−E(x)) d𝔾_θ(x),  Z = E_{𝔾_θ}[exp(−E)].

**Energy (and c).** Since log u ≤ u − 1, for every scalar c:  −log Z ≥ −c − e^{−c} Z + 1, so

    L(E) = −E_P[E] − log Z  ≥  F(E, c) = −E_P[E + c] − E_{𝔾_θ}[e^{−(E+c)}] + 1,   tight iff c = log Z.

The energy step minimises −F(E, c) + λ·E_P[‖∇ₓE‖²] over (E, c) (λ = ``gradient_penalty``).
(The poster writes F without the "+1"; the paper's F has it, so F = 0 at constant E and max F ≤ KL(P‖𝔾).)

**Base.** KALE(P‖𝔾_θ) = max_{E,c} F =: 𝒦(θ), with the generalised gradient (paper, Prop. 2 / poster theorem)

    ∇𝒦(θ) = Z⁻¹ ∫ ∇ₓE(G_θ(z)) ∇_θG_θ(z) e^{−E(G_θ(z))} η(z) dz.

Surrogate loss s(θ) = Σᵢ w̄ᵢ E(G_θ(zᵢ)), w̄ = softmax(−E(G_θ(zᵢ))) detached: ∇s = Σᵢ w̄ᵢ ∇ₓE ∇_θG, the
self-normalised Monte Carlo estimate of ∇𝒦 (Z⁻¹ from the batch). ``base_weights="learned_c"`` uses
w̄ᵢ = e^{−(Eᵢ+c)}/n instead (Z⁻¹ ≈ e^{−c}: the envelope gradient of F). With a flow base,
``mle_weight`` w adds w·E_P[−log g_θ(x)] (off by default: pure KALE).

**Schedule.** ``stages = (("energy",), ("base",))``: E and c step every training step, the base every
``n_energy_steps``-th step (``ctx.every``), i.e. n energy steps per base step.

**Sampling.** Latent posterior ν(z) ∝ η(z) exp(−β E(G(z))) (:class:`LatentTarget`, an ordinary energy, so
every sampler of :mod:`ebmlab.samplers` runs on it), x = G(z). β = 1 (``sharpen``) samples ℚ itself; the
official code multiplies the energy by 100, which samples a sharpened ℚ_β ∝ e^{−βE}𝔾 — an explicit option
here, reported with the samples. ``latent_sampler``: base (β = 0), ula, mala, hmc, kinetic, sir, imh.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ebmlab.densities import Density, StandardNormal
from ebmlab.energies.base import evaluate_energy
from ebmlab.errors import ConfigError
from ebmlab.methods.gebm_parts import FlowBase, LatentTarget, MLPGenerator
from ebmlab.samplers import get_sampler, sample
from ebmlab.samplers.independent import independent_metropolis_hastings, sampling_importance_resampling
from ebmlab.training.method import Losses, Method, StepContext

__all__ = ["GEBM", "LATENT_SAMPLERS", "FlowBase", "LatentTarget", "MLPGenerator"]

LATENT_SAMPLERS = ("base", "ula", "mala", "hmc", "kinetic", "sir", "imh")
BASE_WEIGHTS = ("self_normalized", "learned_c")
SAMPLING_OPTIONS = ("latent_sampler", "n_steps", "step_size", "sharpen", "friction", "n_leapfrog", "n_proposals")


class GEBM(Method):
    """Base G_θ with prior η, energy E, learned c; KALE training (see module doc).

    Config: ``method: {name: gebm, base: {name: mlp-generator, latent_dim: 2}, n_energy_steps: 5, sampling:
    {latent_sampler: ula, n_steps: 100, step_size: 0.05, sharpen: 1.0}}``; ``base`` is a GEBM base component
    (``mlp-generator``, ``realnvp``, ``nice``); ``prior`` η defaults to N(0, I) over the base's ``latent_dim``;
    ``event_shape`` (injected from the data) is checked to be flat.
    """

    stages = (("energy",), ("base",))
    component_kinds: ClassVar[dict[str, str]] = {"base": "gebm-base", "prior": "density"}

    def __init__(
        self,
        base: nn.Module,
        energy: nn.Module,
        prior: Density | None = None,
        n_energy_steps: int = 5,
        gradient_penalty: float = 0.0,
        base_weights: str = "self_normalized",
        mle_weight: float = 0.0,
        sampling: dict[str, Any] | None = None,
        event_shape: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(n_energy_steps, bool) or int(n_energy_steps) != n_energy_steps or n_energy_steps < 1:
            raise ConfigError(f"gebm: n_energy_steps must be an integer >= 1, got {n_energy_steps!r}.")
        if gradient_penalty < 0 or mle_weight < 0:
            raise ConfigError(
                f"gebm: gradient_penalty and mle_weight must be >= 0, got {gradient_penalty}, {mle_weight}."
            )
        if base_weights not in BASE_WEIGHTS:
            raise ConfigError(f"gebm: base_weights must be one of {BASE_WEIGHTS}, got {base_weights!r}.")
        if mle_weight > 0 and not hasattr(base, "log_prob"):
            raise ConfigError(
                "gebm: mle_weight > 0 needs a base with a density (base: {name: realnvp} or {name: nice})."
            )
        if event_shape is not None and len(event_shape) != 1:
            raise ConfigError(f"gebm needs flat vector data (n, d), got event shape {tuple(event_shape)}.")
        if prior is None:
            latent_dim = getattr(base, "latent_dim", None)
            if not isinstance(latent_dim, int):
                raise ConfigError("gebm: give a prior density; the base has no integer latent_dim to derive N(0, I).")
            prior = StandardNormal(latent_dim)
        unknown = set(sampling or {}) - set(SAMPLING_OPTIONS)
        if unknown:
            raise ConfigError(
                f"gebm: unknown sampling options {sorted(unknown)}; valid: {', '.join(SAMPLING_OPTIONS)}."
            )
        self.base, self.energy, self.prior = base, energy, prior
        self.c = nn.Parameter(torch.zeros(()))
        self.n_energy_steps, self.gradient_penalty = int(n_energy_steps), float(gradient_penalty)
        self.base_weights, self.mle_weight = base_weights, float(mle_weight)
        self.sampling: dict[str, Any] = {"latent_sampler": "ula", "n_steps": 100, "step_size": 0.05, "sharpen": 1.0} | (
            sampling or {}
        )

    def param_groups(self) -> dict[str, Any]:
        return {"energy": [*self.energy.parameters(), self.c], "base": list(self.base.parameters())}

    def latent_target(self, sharpen: float = 1.0) -> LatentTarget:
        return LatentTarget(self.energy, self.base, self.prior, sharpen)

    def kale(self, e_data: Tensor, e_base: Tensor) -> Tensor:
        """F(E, c) = −mean(E_P + c) − mean(e^{−(E_G + c)}) + 1 from energies at data and base draws."""
        return -(e_data + self.c).mean() - torch.exp(-(e_base + self.c)).mean() + 1.0

    def losses(self, batch: Any, ctx: StepContext) -> Losses:
        if not isinstance(batch, Tensor):
            raise ConfigError("gebm needs data: add a `data:` section (the base and energy are fitted to it).")
        z = self.prior.sample(batch.shape[0], ctx.generator).to(batch)
        if ctx.updates("energy"):
            with torch.no_grad():
                x_base = self.base(z)
            x = batch.detach().requires_grad_(self.gradient_penalty > 0)
            e_data, e_base = evaluate_energy(self.energy, x), evaluate_energy(self.energy, x_base)
            f = self.kale(e_data, e_base)
            loss = -f
            log: dict[str, Tensor | float] = {"kale": f.detach(), "c": self.c.detach()}
            if self.gradient_penalty > 0:
                (g,) = torch.autograd.grad(e_data.sum(), x, create_graph=True)
                penalty = g.reshape(g.shape[0], -1).square().sum(1).mean()
                loss = loss + self.gradient_penalty * penalty
                log["grad_penalty"] = penalty.detach()
            log["log_z_batch"] = torch.logsumexp(-e_base.detach(), 0) - math.log(len(e_base))
            return Losses(minimize={"energy": loss}, log=log)
        if not ctx.every(self.n_energy_steps):
            return Losses(minimize={})
        e = evaluate_energy(self.energy, self.base(z))
        if self.base_weights == "self_normalized":
            w = torch.softmax(-e.detach(), 0)
        else:
            w = torch.exp(-(e.detach() + self.c.detach())) / e.shape[0]
        loss = (w * e).sum()
        if self.mle_weight > 0:
            loss = loss - self.mle_weight * self.base.log_prob(batch).mean()  # type: ignore[operator]
        return Losses(minimize={"base": loss}, log={"base_ess": w.sum().square() / w.square().sum().clamp_min(1e-30)})

    def sample_latent(self, n: int, generator: torch.Generator, **options: Any) -> tuple[Tensor, dict[str, Any]]:
        """``(z, info)``: n latents from ν (or from η for ``latent_sampler="base"``); options override
        ``self.sampling`` (latent_sampler, n_steps, step_size, sharpen, friction, n_leapfrog, n_proposals)."""
        opts: dict[str, Any] = self.sampling | {k: v for k, v in options.items() if v is not None}
        unknown = set(opts) - set(SAMPLING_OPTIONS)
        if unknown:
            raise ConfigError(f"gebm sampling: unknown options {sorted(unknown)}.")
        name, beta = opts["latent_sampler"], float(opts["sharpen"])
        if name not in LATENT_SAMPLERS:
            raise ConfigError(f"unknown latent sampler {name!r}; valid: {', '.join(LATENT_SAMPLERS)}.")
        info: dict[str, Any] = {"latent_sampler": name, "sharpen": beta, "temperature": 1.0 / beta}
        if name == "base":
            return self.prior.sample(n, generator), info
        target = self.latent_target(beta)

        def log_w(z: Tensor) -> Tensor:
            return -beta * evaluate_energy(self.energy, self.base(z))

        if name == "sir":
            n_prop = int(opts.get("n_proposals", 100_000))
            res = sampling_importance_resampling(self.prior.sample, log_w, n, n_prop, generator)
            return res.samples, info | {"ess": res.ess, "n_proposals": n_prop}
        steps = int(opts["n_steps"])
        if name == "imh":
            imh = independent_metropolis_hastings(self.prior.sample, log_w, n, steps, generator, thin=steps)
            return imh.state, info | {"accept_rate": imh.accept_rate, "n_steps": steps}
        kwargs: dict[str, Any] = {"step_size": float(opts["step_size"])}
        if name == "kinetic":
            kwargs["friction"] = float(opts.get("friction", 1.0))
        if name == "hmc":
            kwargs["n_leapfrog"] = int(opts.get("n_leapfrog", 5))
        kernel = get_sampler(name, **kwargs)
        chains = sample(target, kernel, self.prior.sample(n, generator), steps, thin=steps, generator=generator)
        return chains.final_state.x.detach(), info | {"accept_rate": chains.accept_rate, "n_steps": steps, **kwargs}

    def sample(self, n: int, generator: torch.Generator, **options: Any) -> Tensor:
        """n draws x = G(z), z from :meth:`sample_latent` (default: the config's latent sampler, β = 1)."""
        z, _ = self.sample_latent(n, generator, **options)
        with torch.no_grad():
            return self.base(z)
