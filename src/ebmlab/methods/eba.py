"""EBA (seed 000, Li, Kim & Guyot): rate–distortion with one energy-based model, and its BA-style variant.

The optimal channel is p*(x|y) ∝ p*(x) e^{−βρ(x, y)}, so one EBM p_φ(x) ∝ e^{−E_φ(x)} gives the output
marginal and, tilted, the conditional p_φ(x|y) ∝ e^{−E_φ(x) − βρ(x, y)}. Each step: persistent chains, one
y per chain (a fraction ``refresh`` of the y's redrawn from the source), advance x ~ p_φ(x|y) and
x′ ~ p_φ(x) by ``n_steps`` Langevin steps (any :mod:`ebmlab.samplers` kernel; ULA is the seed's eq. 8);
discrete alphabets are sampled exactly by enumeration. Then (``stages``) the critic T_ω ascends the NWJ
bound L_MI = E_{p(y)p_φ(x|y)}[T] − E_{p(y)p_φ(x′)}[e^{T−1}] (eq. 9), and φ descends L′_RD = L_MI + βE[ρ] (eq. 10).

Gradient through the sampling distributions (the seed does not spell it out). For an EBM density
p_φ ∝ e^{−E_φ}, ∇_φ E_{p_φ}[f] = −Cov_{p_φ}(f, ∇_φ E_φ) (the covariance identity). Hence, at fixed ω,

    ∇_φ L′_RD = −E_y Cov_{p_φ(x|y)}(T(x, y) + βρ(x, y), ∇_φE_φ(x)) + E_y Cov_{p_φ(x′)}(e^{T(x′, y) − 1}, ∇_φE_φ(x′)).

The first covariance is per y: chains come in ``pairs`` sharing a y, and ½(f_a − f_b)(E_a − E_b) is its
unbiased one-pair estimate; the second is centred per y over all marginal chains. At the optimal critic
T* = 1 − βρ − ln Z_φ(y), Z_φ(y) = E_{p_φ}[e^{−βρ(x, y)}], the first term vanishes and the gradient equals
that of L_RD(φ) = −E_y ln Z_φ(y) (= L′_RD at T*): E_y E_{p_φ(x|y)}[∇E_φ] − E_{p_φ}[∇E_φ].

``variant="ba"`` uses that last form directly, with no critic: it is the maximum-likelihood gradient of
p_φ fitted to the tilted chains' samples (the BA marginal update q ← E_y Q(·|y), one gradient step at a
time), and an unbiased gradient of the upper bound L_RD(φ). Logged: ``rate_critic`` (the NWJ value: a
bound on the learned channel's information, unreliable above ~10–15 nats), ``distortion``, ``l_rd`` (L′_RD).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ebmlab.errors import ConfigError
from ebmlab.estimators.mi import SeparableCritic
from ebmlab.ratedistortion.distortions import Distortion, get_distortion, pairwise
from ebmlab.ratedistortion.mixture import MixtureEnergy
from ebmlab.ratedistortion.model import DiscreteEnergy, RDEnergy, sample_alphabet, whitened_chains
from ebmlab.ratedistortion.sources import Source
from ebmlab.samplers.base import Sampler
from ebmlab.samplers.independent import independent_metropolis_hastings
from ebmlab.samplers.langevin import ULA
from ebmlab.training.method import Losses, Method, StepContext

__all__ = ["EBA", "independence_jumps"]

VARIANTS = ("eba", "ba")


class EBA(Method):
    """EBA / BA-style EBM rate–distortion at one slope β (module doc); ``energy`` defaults by source."""

    def __init__(
        self,
        source: Source,
        distortion: str | Distortion,
        beta: float,
        energy: nn.Module | None = None,
        variant: str = "eba",
        sampler: Sampler | None = None,
        n_chains: int = 1024,
        n_steps: int = 10,
        refresh: float = 0.1,
        critic_hidden: tuple[int, ...] = (64, 64),
        burn_in: int | None = None,
        init_from_source: bool = True,
        jumps: int = 1,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(f"EBA: variant must be one of {VARIANTS}, got {variant!r}.")
        if not beta > 0:
            raise ConfigError(f"EBA: beta must be > 0, got {beta!r}.")
        if n_chains < 4 or n_chains % 2 or not 0.0 <= refresh <= 1.0:
            raise ConfigError(
                f"EBA: n_chains must be an even int >= 4 and refresh in [0, 1], got {n_chains}, {refresh}."
            )
        self.source, self.beta, self.variant = source, float(beta), variant
        self.rho = get_distortion(distortion) if isinstance(distortion, str) else distortion
        #: ∂²ρ/∂x_k², preconditions the conditional chains (0 when unknown); for |x − y| the kernel e^{−β|x−y|}
        #: has variance 2/β², i.e. the precision β·κ of a quadratic with κ = β/2
        known = {"squared": 2.0, "mse": 2.0 / source.dim, "abs": self.beta / 2}
        self.curvature = known.get(distortion, 0.0) if isinstance(distortion, str) else 0.0
        if energy is None:
            alphabet = torch.tensor([[0.0], [1.0]]) if source.discrete and source.dim == 1 else None
            energy = DiscreteEnergy(alphabet) if alphabet is not None else RDEnergy(source.dim)
        self.energy = energy
        self.sampler = sampler or ULA(step_size=0.01)
        self.n_chains, self.n_steps, self.refresh = int(n_chains), int(n_steps), float(refresh)
        #: extra kernel steps for conditional chains whose y was just redrawn (they start at x = y)
        self.burn_in = 2 * self.n_steps if burn_in is None else int(burn_in)
        self.init_from_source = bool(init_from_source)
        #: independence-MH steps (proposal: exact draws of a normalised marginal) after each Langevin run
        self.jumps = int(jumps)
        self.critic = SeparableCritic(source.dim, source.dim, critic_hidden) if variant == "eba" else None
        self.stages = (("critic",), ("energy",)) if variant == "eba" else None
        self.chains: dict[str, Tensor] = {}
        self._advanced = -1

    def param_groups(self) -> Mapping[str, Any]:
        groups: dict[str, Any] = {"energy": list(self.energy.parameters())}
        if self.critic is not None:
            groups["critic"] = list(self.critic.parameters())
        return groups

    def score(self, x: Tensor, y: Tensor) -> Tensor:
        """T(x_j, y_i) matrix (n_y, n_x): separable MLP critic plus the fixed feature −βρ."""
        assert self.critic is not None
        return self.critic.h(y) @ self.critic.g(x).T - self.beta * pairwise(self.rho, x, y)

    def _draw(
        self, n: int, g: torch.Generator, y: Tensor | None = None, x0: Tensor | None = None, steps: int = 0
    ) -> Tensor:
        if isinstance(self.energy, DiscreteEnergy):
            return sample_alphabet(self.energy, n, g, y, self.rho, self.beta)
        assert isinstance(self.energy, RDEnergy | MixtureEnergy) and x0 is not None
        if isinstance(self.energy, MixtureEnergy) and y is None:
            return self.energy.sample(n, g)  # a normalised marginal: exact draws
        k = steps or self.n_steps
        x = whitened_chains(self.energy, self.sampler, x0, k, g, y, self.rho, self.beta, self.curvature)
        if isinstance(self.energy, MixtureEnergy) and y is not None and self.jumps:
            x = independence_jumps(self.energy, x, y, self.rho, self.beta, self.jumps, g)
        return x

    def init_energy(self, g: torch.Generator, n: int = 4096) -> None:
        """Start the quadratic energy at the source's per-component mean and spread (r = the source's moments).

        The optimal marginal of every component lies below it (s*² = σ² − θ or 0), and components far below
        the water level start small instead of at s = 1, from where their slow shrinking dominates the rate error.
        A mixture's components all start at the source's mean, their scales multiplied by its spread (Laplace
        scales by spread/√2, the Laplace of that standard deviation).
        """
        if not (self.init_from_source and isinstance(self.energy, RDEnergy | MixtureEnergy)):
            return
        y = self.source.sample(n, g).float()
        if isinstance(self.energy, MixtureEnergy):
            lap = self.energy.is_laplace[:, None]
            with torch.no_grad():
                self.energy.loc.copy_(y.mean(0).expand_as(self.energy.loc))
                spread = y.std(0).clamp_min(1e-3).log() - torch.where(lap, 0.5 * math.log(2.0), 0.0)
                self.energy.log_scale.add_(spread)
            return
        self.energy.set_moments(y.mean(0), y.std(0).clamp_min(1e-3))

    def advance(self, g: torch.Generator) -> None:
        """Redraw a fraction of the y's (pairs share one), then advance both chain populations.

        Chains of a redrawn y start at x = y and get ``burn_in`` extra steps before they are used: a chain
        fresh from y carries a bias towards y (its tilted mean is reached at rate (1 − λ)^k) into the gradient.
        """
        half = self.n_chains // 2
        if not self.chains:
            self.init_energy(g)
            y = self.source.sample(half, g).float()
            self.chains = {"y": y, "x": torch.cat((y, y)), "xm": self.source.sample(self.n_chains, g).float()}
            if not isinstance(self.energy, DiscreteEnergy):
                yy0 = torch.cat((y, y))
                self.chains["x"] = self._draw(self.n_chains, g, yy0, self.chains["x"], self.burn_in or 1)
                self.chains["xm"] = self._draw(self.n_chains, g, None, self.chains["xm"], self.burn_in or 1)
        y = self.chains["y"]
        # exact draws on an alphabet keep no chain state, so every y can be fresh
        refresh = 1.0 if isinstance(self.energy, DiscreteEnergy) else self.refresh
        fresh = torch.rand(half, generator=g, device=g.device) < refresh
        any_fresh = bool(fresh.any())  # one host read
        if any_fresh:
            y = torch.where(fresh[:, None], self.source.sample(half, g).float(), y)
        yy = torch.cat((y, y))
        fresh2 = torch.cat((fresh, fresh))
        x = torch.where(fresh2[:, None], yy, self.chains["x"])
        if self.burn_in and any_fresh and not isinstance(self.energy, DiscreteEnergy):
            x = x.clone()
            x[fresh2] = self._draw(int(fresh2.sum()), g, yy[fresh2], x[fresh2], self.burn_in)
        self.chains = {
            "y": y,
            "x": self._draw(self.n_chains, g, yy, x),
            "xm": self._draw(self.n_chains, g, None, self.chains["xm"]),
        }

    def losses(self, batch: Any, ctx: StepContext) -> Losses:
        if self._advanced != ctx.step:
            self.advance(ctx.generator)
            self._advanced = ctx.step
        y, x, xm = self.chains["y"], self.chains["x"], self.chains["xm"]
        yy = torch.cat((y, y))
        rho_x = self.rho(x, yy)
        log: dict[str, Tensor | float] = {"distortion": rho_x.mean().detach()}
        if self.critic is None:  # BA-style: ML gradient of p_φ towards the tilted chains = ∇ L_RD
            loss = self.energy(x).mean() - self.energy(xm).mean()
            return Losses(minimize={"energy": loss}, log=log)
        t_joint = (self.critic.h(yy) * self.critic.g(x)).sum(1) - self.beta * rho_x
        t_prod = self.score(xm, y)
        l_mi = t_joint.mean() - (t_prod - 1.0).exp().mean()
        log |= {"rate_critic": l_mi.detach(), "l_rd": (l_mi + self.beta * rho_x.mean()).detach()}
        if ctx.updates("critic"):
            return Losses(minimize={"critic": -l_mi}, log=log)
        n = y.shape[0]
        f = (t_joint + self.beta * rho_x).detach()
        e_x = self.energy(x)
        term1 = -0.5 * ((f[:n] - f[n:]) * (e_x[:n] - e_x[n:])).mean()
        w = (t_prod.detach() - 1.0).exp()
        term2 = ((w - w.mean(1, keepdim=True)).mean(0) * self.energy(xm)).mean()
        return Losses(minimize={"energy": term1 + term2}, log=log)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Draws x′ ~ p_φ: the current marginal chains (n ≤ n_chains)."""
        if not self.chains:
            self.advance(generator)
        return self.chains["xm"][:n]

    def extra_state(self) -> dict[str, Tensor]:
        return {f"chains.{k}": v for k, v in self.chains.items()}

    def load_extra_state(self, state: Mapping[str, Tensor]) -> None:
        self.chains = {k.removeprefix("chains."): v for k, v in state.items() if k.startswith("chains.")}


def independence_jumps(
    energy: MixtureEnergy, x: Tensor, y: Tensor, rho: Distortion, beta: float, n: int, g: torch.Generator
) -> Tensor:
    """``n`` independence-MH steps on p_φ(x|y) ∝ p_φ(x) e^{−βρ(x, y)}, one y per chain, proposing x′ ~ p_φ.

    Acceptance min(1, e^{−β(ρ(x′, y) − ρ(x, y))}) (the proposal's density cancels the marginal's): exact for
    p_φ(x|y), and it moves chains between components of very different widths (an atom-like spike and the
    bulk), which Langevin steps scaled for the bulk cannot. Its acceptance falls like e^{−I} at high rates.
    """
    return independent_metropolis_hastings(energy.sample, lambda xp: -beta * rho(xp, y), x.shape[0], n, g, x0=x).state
