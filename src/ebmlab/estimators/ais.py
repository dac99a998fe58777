"""Annealed importance sampling (Neal 2001) for log Z on the geometric path from a tractable base.

Intermediate densities f_t(x) = q(x)^{1−β_t} exp(−β_t E(x)), 0 = β_0 < … < β_T = 1, i.e. energies

    E_t(x) = (1 − β_t) E₀(x) + β_t E(x),   E₀ = −log q (q normalised, so Z₀ = 1).

Each chain starts at x₀ ~ q; at every t it gains log-weight log f_t(x) − log f_{t−1}(x) =
(β_t − β_{t−1})(E₀(x) − E(x)) and then takes MCMC transitions (MALA or HMC from ``ebmlab.samplers``)
that leave f_t invariant. E[exp(log w)] = Z for every chain, so over n independent chains

    log Ẑ = log (1/n Σ wᵢ),  SE = s_w / (w̄ √n) (delta method),  ESS = (Σw)²/Σw².

The step size is shared by all chains and adapted between transitions toward a target acceptance rate
(log ε ← log ε + γ (ᾱ − α*)). Because it is shared, each chain's kernel depends on the other chains only
through one mean acceptance, an O(1/n) dependence that the independence assumption of the SE ignores.
Like any importance sampler, AIS is biased low in log space by ≈ SE²/2 and its SE is only honest when
the weights are not heavy-tailed (check ``ess`` and ``details["pareto_k"]``): chains that never reach a
mode (too few temperatures, a base that misses it) bias log Ẑ low without showing it in the SE.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, energy_and_grad
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.estimators.base import Estimate, log_mean_exp, pareto_k
from ebmlab.estimators.logz import check_count, make_generator
from ebmlab.estimators.proposals import Proposal
from ebmlab.samplers import HMC, MALA, Sampler, SamplerState

__all__ = [
    "AISResult",
    "GeometricPath",
    "ais",
    "geometric_schedule",
    "linear_schedule",
    "log_z_ais",
    "make_schedule",
    "sigmoid_schedule",
]


# ------------------------------------------------------------------------------------------- schedules


def linear_schedule(n_temperatures: int) -> Tensor:
    """β_t = t/T, t = 0..T (``n_temperatures`` = T + 1 values)."""
    return torch.linspace(0.0, 1.0, check_count(n_temperatures, "n_temperatures"), dtype=torch.float64)


def geometric_schedule(n_temperatures: int, beta_min: float = 1e-4) -> Tensor:
    """β_0 = 0, then β log-spaced from ``beta_min`` to 1 (dense near 0, where log Z_β changes fastest)."""
    n = check_count(n_temperatures, "n_temperatures", 3)
    if not 0 < beta_min < 1:
        raise ConfigError(f"geometric_schedule: beta_min must lie in (0, 1), got {beta_min!r}.")
    tail = torch.logspace(math.log10(beta_min), 0.0, n - 1, dtype=torch.float64)
    return torch.cat((torch.zeros(1, dtype=torch.float64), tail))


def sigmoid_schedule(n_temperatures: int, delta: float = 4.0) -> Tensor:
    """Sigmoid schedule (Grosse, Maddison & Salakhutdinov 2013): β̃_t = σ(δ(2t/T − 1)) rescaled to [0, 1]."""
    n = check_count(n_temperatures, "n_temperatures")
    s = torch.sigmoid(delta * (2.0 * torch.linspace(0.0, 1.0, n, dtype=torch.float64) - 1.0))
    return (s - s[0]) / (s[-1] - s[0])


_SCHEDULES = {"linear": linear_schedule, "geometric": geometric_schedule, "sigmoid": sigmoid_schedule}


def make_schedule(schedule: str | Tensor, n_temperatures: int) -> Tensor:
    """A schedule by name (``linear``, ``geometric``, ``sigmoid``) or a given increasing tensor from 0 to 1."""
    if isinstance(schedule, str):
        try:
            return _SCHEDULES[schedule](n_temperatures)
        except KeyError:
            raise ConfigError(f"unknown AIS schedule {schedule!r}; valid: {', '.join(_SCHEDULES)}.") from None
    betas = torch.as_tensor(schedule, dtype=torch.float64).flatten()
    if betas.numel() < 2 or betas[0] != 0 or betas[-1] != 1 or not bool((betas.diff() > 0).all()):
        raise ConfigError("an AIS schedule must increase strictly from β=0 to β=1 (at least 2 values).")
    return betas


# ------------------------------------------------------------------------------------------- path energy


class _NegLogProb:
    """E₀ = −log q(x); analytic gradient from ``q.energy_and_grad`` when q has one (e.g. GaussianProposal)."""

    def __init__(self, base: Proposal) -> None:
        self.base = base
        self._analytic = getattr(base, "energy_and_grad", None)

    def __call__(self, x: Tensor) -> Tensor:
        return -self.base.log_prob(x)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self._analytic is not None:
            with torch.no_grad():
                e = -self.base.log_prob(x)
            return e, self._analytic(x)[1]
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            e = -self.base.log_prob(xg)
            (g,) = torch.autograd.grad(e.sum(), xg)
        return e.detach(), g


class GeometricPath:
    """The energy E_β(x) = (1 − β) E₀(x) + β E₁(x) with analytic ``energy_and_grad`` from its parts.

    ``energy_and_grad`` remembers the parts (E₀, ∇E₀, E₁, ∇E₁) at the last point it was evaluated at
    (``last``), so AIS can update its weights without evaluating the energies again.
    """

    def __init__(self, base_energy: EnergyFn, target_energy: EnergyFn, beta: float = 0.0) -> None:
        self.base_energy = base_energy
        self.target_energy = target_energy
        self.beta = float(beta)
        self.last: tuple[Tensor, Tensor, Tensor, Tensor, Tensor] | None = None

    def parts(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        e0, g0 = energy_and_grad(self.base_energy, x)
        e1, g1 = energy_and_grad(self.target_energy, x)
        return e0, g0, e1, g1

    def combine(self, e0: Tensor, g0: Tensor, e1: Tensor, g1: Tensor) -> tuple[Tensor, Tensor]:
        b = self.beta
        return (1.0 - b) * e0 + b * e1, (1.0 - b) * g0 + b * g1

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        e0, g0, e1, g1 = self.parts(x)
        self.last = (x, e0, g0, e1, g1)
        return self.combine(e0, g0, e1, g1)

    def __call__(self, x: Tensor) -> Tensor:
        return (1.0 - self.beta) * self.base_energy(x) + self.beta * self.target_energy(x)


# ------------------------------------------------------------------------------------------- AIS


@dataclass
class AISResult:
    """Output of :func:`ais`.

    Attributes:
        log_weights: AIS log-weights, float64 ``(n_chains,)``; log Ẑ = log-mean-exp of them.
        samples: final states ``(n_chains, *event)``, distributed as the target after weighting.
        betas: the schedule ``(T + 1,)``.
        accept_rate: mean acceptance probability per temperature ``(T − 1,)``.
        step_sizes: step size used at each temperature ``(T − 1,)``.
        seconds: wall time.
    """

    log_weights: Tensor
    samples: Tensor
    betas: Tensor
    accept_rate: Tensor
    step_sizes: Tensor
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    def estimate(self) -> Estimate:
        """log Ẑ with delta-method SE and Kish ESS."""
        value, se, ess = log_mean_exp(self.log_weights)
        details = {
            "pareto_k": pareto_k(self.log_weights),
            "accept_rate": float(self.accept_rate.mean()) if self.accept_rate.numel() else math.nan,
            "final_step_size": float(self.step_sizes[-1]) if self.step_sizes.numel() else math.nan,
            "n_temperatures": int(self.betas.numel()),
            "seconds": self.seconds,
            **self.info,
        }
        return Estimate(value, se, ess=ess, n=int(self.log_weights.numel()), method="ais", details=details)


def _make_kernel(transition: str | Sampler, step_size: float, n_leapfrog: int) -> Sampler:
    if isinstance(transition, Sampler):
        if not transition.metropolis_adjusted:
            raise ConfigError(f"AIS needs a Metropolis-adjusted kernel (mala, hmc), got {transition.name!r}.")
        return transition
    if transition == "mala":
        return MALA(step_size)
    if transition == "hmc":
        return HMC(step_size, n_leapfrog=n_leapfrog)
    raise ConfigError(f"unknown AIS transition {transition!r}; valid: 'mala', 'hmc' (or a MALA/HMC instance).")


def _default_step(x0: Tensor, transition: str | Sampler) -> float:
    """Initial step from the base samples' scale: λ ≈ ½ σ² d^(−1/3) (MALA), ε ≈ ½ σ d^(−1/4) (HMC)."""
    flat = x0.reshape(x0.shape[0], -1).to(torch.float64)
    d = flat.shape[1]
    var = float(flat.var(0).mean()) if flat.shape[0] > 1 else 1.0
    var = var if math.isfinite(var) and var > 0 else 1.0
    is_hmc = transition == "hmc" or isinstance(transition, HMC)
    return 0.5 * math.sqrt(var) * d**-0.25 if is_hmc else 0.5 * var * d ** (-1 / 3)


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="AIS", unit="temp", leave=False)


@torch.no_grad()
def ais(
    energy: EnergyFn,
    base: Proposal,
    n_chains: int = 256,
    n_temperatures: int = 1000,
    *,
    transition: str | Sampler = "hmc",
    n_steps: int = 1,
    step_size: float | None = None,
    n_leapfrog: int = 5,
    schedule: str | Tensor = "sigmoid",
    adapt: bool = True,
    target_accept: float | None = None,
    adapt_rate: float = 0.1,
    step_ladder: tuple[float, ...] = (1.0,),
    generator: torch.Generator | None = None,
    seed: int | None = None,
    progress: bool = False,
) -> AISResult:
    """Run annealed importance sampling from ``base`` to exp(−E); see the module docstring for the math.

    Args:
        energy: target energy E (callable ``(n, *event) -> (n,)``; analytic ``energy_and_grad`` used if any).
        base: normalised tractable q with ``sample(n, generator)`` and ``log_prob(x)``.
        n_chains: independent AIS chains (the SE shrinks as 1/√n_chains).
        n_temperatures: T + 1 values of β, from 0 to 1.
        transition: ``"hmc"`` (default), ``"mala"``, or a MALA/HMC kernel instance.
        n_steps: MCMC transitions per intermediate temperature.
        step_size: initial step (default from the base samples' scale).
        n_leapfrog: leapfrog steps per HMC transition.
        schedule: ``"sigmoid"`` (default), ``"geometric"``, ``"linear"`` or a tensor of βs.
        adapt: adapt the shared step size toward ``target_accept`` (default: the kernel's).
        adapt_rate: γ in log ε ← log ε + γ (ᾱ − α*).
        generator / seed: source of randomness.
        progress: show a tqdm bar over temperatures.
    """
    n_chains = check_count(n_chains, "n_chains")
    n_steps = check_count(n_steps, "n_steps", 1)
    betas = make_schedule(schedule, n_temperatures)
    ladder = tuple(float(f) for f in step_ladder)
    if not ladder or ladder[0] != 1.0 or any(not 0 < f <= 1 for f in ladder):
        raise ConfigError(f"step_ladder must start with 1.0 and hold factors in (0, 1], got {step_ladder!r}.")
    generator = make_generator(generator, seed)
    start = time.perf_counter()
    x = base.sample(n_chains, generator)
    if x.shape[0] != n_chains:
        raise ShapeError(f"base.sample({n_chains}) returned shape {tuple(x.shape)}; expected ({n_chains}, *event).")
    kernel = _make_kernel(transition, step_size or _default_step(x, transition), n_leapfrog)
    alpha_star = target_accept or kernel.default_target_accept
    path = GeometricPath(_NegLogProb(base), energy, 0.0)
    e0, g0, e1, g1 = path.parts(x)
    _check_finite(-e0, e1, "the base samples")
    log_w = torch.zeros(n_chains, dtype=torch.float64)
    eps = kernel.step_size
    n_inner = betas.numel() - 2
    accept = torch.zeros(max(n_inner, 0), dtype=torch.float64)
    steps = torch.zeros(max(n_inner, 0), dtype=torch.float64)
    recomputed = 0
    bar = _progress(n_inner, progress)
    for t in range(1, betas.numel()):
        log_w += float(betas[t] - betas[t - 1]) * (e0 - e1).to(torch.float64)  # −inf where E = +inf
        if t == betas.numel() - 1:
            break
        path.beta = float(betas[t])
        e, g = path.combine(e0, g0, e1, g1)
        state = SamplerState(x=x, energy=e, grad=g, step_size=eps)
        acc_sum = 0.0
        for k in range(n_steps * len(ladder)):
            factor = ladder[k % len(ladder)]
            state = state.replace(step_size=eps * factor)
            state, info = kernel.step(path, state, generator)
            (e0, g0, e1, g1), fresh = _track_parts(path, state, info.accepted, (e0, g0, e1, g1))
            recomputed += int(fresh)
            if factor != 1.0:
                continue
            rate = float(info.accept_prob.mean())
            acc_sum += rate
            if adapt:
                eps = math.exp(math.log(eps) + adapt_rate * (rate - alpha_star))
        x = state.x
        accept[t - 1] = acc_sum / n_steps
        steps[t - 1] = eps
        if bar is not None:
            bar.update(1)
            if t % 50 == 0:
                bar.set_postfix(accept=f"{float(accept[t - 1]):.2f}", step=f"{eps:.3g}", refresh=False)
    if bar is not None:
        bar.close()
    _check_finite(log_w, None, "the AIS log-weights")
    info_out = {
        "transition": kernel.name,
        "n_steps": n_steps,
        "schedule": schedule if isinstance(schedule, str) else "custom",
    }
    if recomputed:
        info_out["recomputed_parts"] = recomputed
    return AISResult(log_w, x, betas, accept, steps, time.perf_counter() - start, info_out)


def _track_parts(
    path: GeometricPath, state: SamplerState, accepted: Tensor, parts: tuple[Tensor, Tensor, Tensor, Tensor]
) -> tuple[tuple[Tensor, Tensor, Tensor, Tensor], bool]:
    """Parts at the chains' new positions: the last evaluation (the proposal) where accepted, else the old.

    Falls back to re-evaluating the parts if the kernel's last evaluation was not its proposal.
    """
    last = path.last
    if last is not None and last[0].shape == state.x.shape:
        lx = last[0]
        if not bool(accepted.any()) or torch.equal(lx[accepted], state.x[accepted]):
            mask = accepted.reshape(-1, *([1] * (state.x.dim() - 1)))
            e0, g0, e1, g1 = parts
            return (
                torch.where(accepted, last[1], e0),
                torch.where(mask, last[2], g0),
                torch.where(accepted, last[3], e1),
                torch.where(mask, last[4], g1),
            ), False
    return path.parts(state.x), True


def _check_finite(a: Tensor, b: Tensor | None, what: str) -> None:
    """No NaN, and no −inf energy / +inf log-weight (a +inf target energy is zero density: allowed)."""

    def bad(t: Tensor) -> bool:
        return bool(
            torch.isnan(t).any() or torch.isneginf(t).any()
            if t is b
            else torch.isnan(t).any() or torch.isposinf(t).any()
        )

    ok = not bad(a) and (b is None or not bad(b))
    if not bool(ok):
        raise NonFiniteError(
            f"AIS: non-finite energies or log-weights at {what}; expected finite values. Check that the base "
            "covers the target's support and that the energy does not overflow there."
        )


def log_z_ais(
    energy: EnergyFn,
    base: Proposal,
    n_chains: int = 256,
    n_temperatures: int = 1000,
    **kwargs: Any,
) -> Estimate:
    """log Z by annealed importance sampling: :func:`ais` (same arguments) summarised as an Estimate."""
    return ais(energy, base, n_chains, n_temperatures, **kwargs).estimate()
