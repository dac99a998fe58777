"""Annealed importance sampling (Neal 2001) along any :class:`~ebmlab.samplers.path.AnnealingPath`.

For the path π_β ∝ exp(−E_β), 0 = β_0 < … < β_T = 1, with π_0 = q the exactly sampled normalised base, each
chain starts at x₀ ~ q; at every t it gains log-weight −(E_{β_t}(x) − E_{β_{t−1}}(x)), which on the geometric
path E_β = (1 − β)E₀ + βE is (β_t − β_{t−1})(E₀(x) − E(x)), E₀ = −log q, and then takes ``n_steps`` transitions
of a kernel that leaves π_{β_t} invariant (MALA, HMC, or Gibbs on binary units). E[exp(log w)] = Z for every
chain, so over n independent chains

    log Ẑ = log (1/n Σ wᵢ),  SE = s_w / (w̄ √n) (delta method),  ESS = (Σw)²/Σw².

For Metropolis kernels the step size is shared by all chains and adapted between transitions toward a target
acceptance rate (log ε ← log ε + γ (ᾱ − α*)): each chain's kernel depends on the others only through one mean
acceptance, an O(1/n) dependence that the independence assumption of the SE ignores. Like any importance
sampler, AIS is biased low in log space by ≈ SE²/2 and its SE is only honest when the weights are not
heavy-tailed (check ``ess`` and ``details["pareto_k"]``): chains that never reach a mode (too few
temperatures, a base that misses it) bias log Ẑ low without showing it in the SE.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ebmlab.densities import Density
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.estimators.base import Estimate, log_mean_exp, pareto_k
from ebmlab.estimators.logz import check_count, make_generator
from ebmlab.samplers import HMC, MALA, Sampler, SamplerState
from ebmlab.samplers.base import finite_rows
from ebmlab.samplers.chains import run_chains
from ebmlab.samplers.finite_watch import BlockCheck, deferred, queued, read_checks
from ebmlab.samplers.path import (
    AnnealingPath,
    GeometricPath,
    make_betas,
    raise_untracked,
    track,
    track_on_device,
    tracks_on_device,
)

__all__ = ["AISResult", "ais", "log_z_ais"]


@dataclass
class AISResult:
    """Output of :func:`ais`.

    Attributes:
        log_w: AIS log-weights, float64 ``(n_chains,)``; log Ẑ = log-mean-exp of them.
        x: final states ``(n_chains, *event)``, distributed as the target after weighting.
        betas: the schedule ``(T + 1,)``.
        accept_rate: mean acceptance probability per intermediate temperature ``(T − 1,)``, on the chains' device.
        step_sizes: step size used at each intermediate temperature ``(T − 1,)`` (on the chains' device when
            adapted on the GPU path).
        nonfinite: proposals rejected for non-finite values, per chain ``(n_chains,)``.
        seconds: wall time.
    """

    log_w: Tensor
    x: Tensor
    betas: Tensor
    accept_rate: Tensor
    step_sizes: Tensor
    nonfinite: Tensor
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def log_weights(self) -> Tensor:
        return self.log_w

    @property
    def samples(self) -> Tensor:
        return self.x

    @property
    def log_z(self) -> Estimate:
        return self.estimate()

    def estimate(self) -> Estimate:
        """log Ẑ with delta-method SE and Kish ESS."""
        value, se, ess = log_mean_exp(self.log_w)
        details = {
            "pareto_k": pareto_k(self.log_w),
            "accept_rate": float(self.accept_rate.mean()) if self.accept_rate.numel() else math.nan,
            "final_step_size": float(self.step_sizes[-1]) if self.step_sizes.numel() else math.nan,
            "n_temperatures": int(self.betas.numel()),
            "nonfinite": int(self.nonfinite.sum()),
            "seconds": self.seconds,
            **self.info,
        }
        return Estimate(value, se, ess=ess, n=int(self.log_w.numel()), method="ais", details=details)


def _kernel(kernel: Sampler | str, x0: Tensor, n_leapfrog: int) -> Sampler:
    """A kernel instance; ``"mala"``/``"hmc"`` get a step from the base samples' scale: λ ≈ ½ σ² d^(−1/3) (MALA),
    ε ≈ ½ σ d^(−1/4) (HMC)."""
    if isinstance(kernel, Sampler):
        if not kernel.exact:
            raise ConfigError(
                f"AIS needs a kernel that leaves every π_β exactly invariant (mala, hmc, gibbs), got {kernel.name!r}."
            )
        return kernel
    if kernel not in ("mala", "hmc"):
        raise ConfigError(f"unknown AIS transition {kernel!r}; valid: 'mala', 'hmc' (or an exact kernel instance).")
    flat = x0.reshape(x0.shape[0], -1).to(torch.float64)
    d = flat.shape[1]
    var = float(flat.var(0).mean()) if flat.shape[0] > 1 else 1.0
    var = var if math.isfinite(var) and var > 0 else 1.0
    if kernel == "hmc":
        return HMC(0.5 * math.sqrt(var) * d**-0.25, n_leapfrog=n_leapfrog)
    return MALA(0.5 * var * d ** (-1 / 3))


def _mean_accept(accept: Tensor) -> Tensor:
    """``ChainResult.accept_rate`` as a float64 0-d tensor on the chains' device (NaN after zero steps)."""
    if not accept.numel():
        return torch.tensor(math.nan, dtype=torch.float64, device=accept.device)
    return accept.mean().to(torch.float64)  # float32 → float64 is exact, as float() of it is


class _StepSize:
    """AIS's shared step size ε, adapted after each transition at factor 1 by log ε ← log ε + rate·(ᾱ − α*).

    A Python float, adapted on the host (one read of the acceptance per transition); or, on the GPU path
    (``device``), one float64 value per chain on the chains' device, adapted there without a host read (MALA and
    HMC take per-chain step sizes; the kernel gets them in the chains' dtype)."""

    def __init__(self, eps: float, rate: float, alpha_star: float, adapting: bool, device: torch.device | None,
                 n: int, dtype: torch.dtype) -> None:  # fmt: skip
        self.rate, self.alpha_star, self.adapting, self.dtype = rate, alpha_star, adapting, dtype
        self.eps: float | Tensor = eps if device is None else torch.full((n,), eps, dtype=torch.float64, device=device)

    def at(self, factor: float) -> float | Tensor:
        """ε · factor, for the kernel."""
        return self.eps * factor if isinstance(self.eps, float) else (self.eps * factor).to(self.dtype)

    def book(self, run: Any) -> float | Tensor:
        """The mean acceptance of a transition at factor 1 (float64), after adapting ε to it when asked."""
        if not self.adapting:
            return _mean_accept(run.accept)  # on the device: no host read
        if isinstance(self.eps, float):
            accepted = run.accept_rate
            self.eps = math.exp(math.log(self.eps) + self.rate * (accepted - self.alpha_star))
            return accepted
        mean = _mean_accept(run.accept)
        self.eps = (self.eps.log() + self.rate * (mean - self.alpha_star)).exp()
        return mean

    def value(self) -> float | Tensor:
        """ε now (one value)."""
        return self.eps if isinstance(self.eps, float) else self.eps[0]


def _check(t: Tensor, bad_inf: float, what: str) -> None:
    """No NaN and no ``bad_inf``-signed infinity (a +inf energy is zero density: allowed)."""
    if bool(torch.isnan(t).any() | (t == bad_inf).any()):
        raise NonFiniteError(
            f"AIS: non-finite energies or log-weights at {what}; expected finite values. Check that the base "
            "covers the target's support and that the energy does not overflow there."
        )


def _start_unread(
    kernel: Sampler, energy: EnergyFn, x: Tensor, step_size: float | Tensor
) -> tuple[SamplerState, BlockCheck]:
    """``kernel.init(energy, x)`` without a host read, and its finiteness test as a check to read later (the same
    error). For the temperatures after the first on the GPU path of a path without parts; the first runs the full
    init."""
    e, g = kernel.evaluate(energy, x)
    check = BlockCheck(finite_rows(e, g).unsqueeze(0), lambda _, ok: kernel.raise_bad_start(ok))
    return SamplerState(x, e, g, step_size), check


def ais(
    path: AnnealingPath,
    kernel: Sampler | str,
    n_chains: int,
    betas: Tensor | Sequence[float] | int,
    generator: torch.Generator | None = None,
    *,
    n_steps: int = 1,
    adapt: bool = True,
    target_accept: float | None = None,
    adapt_rate: float = 0.1,
    step_ladder: tuple[float, ...] = (1.0,),
    n_leapfrog: int = 5,
    seed: int | None = None,
    progress: bool = False,
) -> AISResult:
    """Annealed importance sampling along ``path`` (module doc).

    Args:
        path: the annealing path (e.g. ``GeometricPath(base_density, energy)``); its base is sampled exactly. Any
            object with ``base``, ``energy(x, beta)`` and ``at(beta)`` works (e.g. a model's own path); the
            increments are then −(E_{β_t}(x) − E_{β_{t−1}}(x)) from two evaluations.
        kernel: any kernel leaving π_β invariant (MALA, HMC, ``BlockGibbs`` on binary units), applied to
            ``path.at(β)``; or ``"mala"``/``"hmc"`` with a step size from the base samples' scale.
        n_chains: independent AIS chains (the SE shrinks as 1/√n_chains).
        betas: the schedule (increasing from 0 to 1), or a number of temperatures for the sigmoid schedule.
        n_steps: kernel transitions per intermediate temperature.
        adapt: adapt the shared step size of a Metropolis kernel toward ``target_accept`` (default: the kernel's),
            log ε ← log ε + ``adapt_rate``·(ᾱ − α*).
        step_ladder: step-size factors cycled within each transition (first 1.0: the adapted step), e.g.
            ``(1.0, 0.3, 0.1)`` for targets whose scale varies (each sub-step is still π_β-invariant).
        generator / seed: source of randomness.
        progress: a tqdm bar over temperatures.
    """
    n_chains = check_count(n_chains, "n_chains")
    n_steps = check_count(n_steps, "n_steps", 1)
    betas = make_betas("sigmoid", betas) if isinstance(betas, int) else make_betas(betas)
    generator = make_generator(generator, seed, like=getattr(path, "target", None))  # GeometricPath's energy
    start = time.perf_counter()
    x = path.base.sample(n_chains, generator)
    if x.shape[0] != n_chains:
        raise ShapeError(f"base.sample({n_chains}) returned shape {tuple(x.shape)}; expected ({n_chains}, *event).")
    base_kernel = _kernel(kernel, x, n_leapfrog)
    ladder = tuple(float(f) for f in step_ladder)
    if not ladder or ladder[0] != 1.0 or any(not 0 < f <= 1 for f in ladder):
        raise ConfigError(f"step_ladder must start with 1.0 and hold factors in (0, 1], got {step_ladder!r}.")
    grad = base_kernel.uses_gradient
    adapting = adapt and base_kernel.metropolis_adjusted
    alpha_star = target_accept or base_kernel.default_target_accept
    # paths with parts (GeometricPath) reuse the kernel's evaluations; any other path pays two energy evaluations
    point = path.point(x, grad=grad) if hasattr(path, "point") else None
    if point is not None:
        _check(-point.base, float("inf"), "the base samples")
        _check(point.target, -float("inf"), "the base samples")
    n_inner = betas.numel() - 2
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=x.device)
    accept = torch.zeros(max(n_inner, 0), dtype=torch.float64, device=x.device)
    nonfinite = torch.zeros(n_chains, dtype=torch.long, device=x.device)
    recomputed = 0
    on_device = point is not None and tracks_on_device(base_kernel, 1, x.device)  # the GPU path: no host reads
    untracked = torch.zeros((), dtype=torch.bool, device=x.device) if on_device else None
    adapt_on = x.device if on_device and adapting else None  # ε adapted on the device, one value per chain
    size = _StepSize(base_kernel.step_size, adapt_rate, alpha_star, adapting, adapt_on, n_chains, x.dtype)
    steps = torch.zeros(max(n_inner, 0), dtype=torch.float64, device=adapt_on)
    bar = _progress(n_inner, progress)
    unread: tuple[BlockCheck, ...] = ()  # the GPU path: Gibbs' and start finiteness checks, read 32 at a time
    bs = betas.tolist()  # float64 → Python floats once, not three reads per temperature
    for t in range(1, len(bs)):
        if point is not None:  # −Δβ·(E − E₀): −inf where E = +inf
            log_w -= (bs[t] - bs[t - 1]) * point.log_ratio.to(torch.float64)
        else:
            with torch.no_grad():
                step_up = path.energy(x, bs[t]) - path.energy(x, bs[t - 1])
            log_w -= step_up.to(torch.float64)
        if t == len(bs) - 1:
            break
        beta = bs[t]
        energy = path.at(beta)
        if point is None and t > 1 and deferred(x.device):  # the GPU path: init's finiteness test read later
            state, check = _start_unread(base_kernel, energy, x, size.at(1.0))
            unread = queued(unread, check)
        elif point is None:
            state = base_kernel.init(energy, x, size.at(1.0))  # type: ignore[arg-type]
        else:
            state = SamplerState(x, point.energy(beta), point.grad(beta) if grad else None, size.at(1.0))
        for _ in range(n_steps):
            for f in ladder:  # one transition per factor; the first (1.0) is the adapted step
                run = run_chains(base_kernel, energy, state, 1, generator, step_size=size.at(f), frozen_after=None,
                                 read_last_check=not deferred(x.device))  # fmt: skip
                state = run.state
                unread = queued(unread, run.unread)
                if untracked is not None:  # the GPU path: no host read (path.track_on_device)
                    point, missed = track_on_device(energy, state.x, point, grad)  # type: ignore[arg-type]
                    untracked |= missed
                elif point is not None:
                    point, redone = track(energy, state.x, point, grad)  # type: ignore[arg-type]
                    recomputed += redone
                nonfinite += run.nonfinite
                if f == 1.0:
                    accept[t - 1] += size.book(run) / n_steps
        x = state.x
        steps[t - 1] = size.value()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    read_checks(unread)
    raise_untracked(untracked, base_kernel.name)
    _check(log_w, float("inf"), "the AIS log-weights")
    info: dict[str, Any] = {"transition": base_kernel.name, "n_steps": n_steps}
    if recomputed:
        info["recomputed_parts"] = recomputed
    return AISResult(log_w, x, betas, accept, steps, nonfinite, time.perf_counter() - start, info)


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="AIS", unit="temp", leave=False)


def log_z_ais(
    energy: EnergyFn,
    base: Density,
    n_chains: int = 256,
    n_temperatures: int = 1000,
    *,
    transition: Sampler | str = "hmc",
    schedule: str | Tensor = "sigmoid",
    **kwargs: Any,
) -> Estimate:
    """log ∫ exp(−E) by :func:`ais` on ``GeometricPath(base, energy)`` with ``n_temperatures`` βs of ``schedule``
    (``sigmoid``, ``geometric``, ``linear`` or a tensor) and the ``transition`` kernel; other keywords go to
    :func:`ais`."""
    betas = make_betas(schedule, n_temperatures)
    result = ais(GeometricPath(base, energy), transition, n_chains, betas, **kwargs)
    result.info["schedule"] = schedule if isinstance(schedule, str) else "custom"
    return result.estimate()
