"""Around the Boltzmann generator: training through ``fit``, the choice of D (seed Remark 2), U recovered
from samples (seed Fig. 1), many-well mode statistics, ``ebmlab logz --method flow`` and the ``flow-logz``
evaluator. The method and its maths are in :mod:`ebmlab.methods.boltzmann_generator`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ebmlab.device_copies import device_of
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators.base import Estimate, log_mean_exp
from ebmlab.methods.boltzmann_generator import BoltzmannGenerator, check_n_samples
from ebmlab.training import Run, TrainConfig, fit

__all__ = [
    "LatentDimSelection",
    "PotentialCurves",
    "log_z_flow",
    "logz_evaluator",
    "many_well_mode_stats",
    "recover_potential",
    "select_latent_dim",
    "train_boltzmann_generator",
]


def _generator_of(method: nn.Module, seed: int) -> torch.Generator:
    """A generator seeded ``seed`` on ``method``'s device, where its draws are made (the same numbers on the CPU)."""
    return torch.Generator(device=device_of(method)).manual_seed(int(seed))


# -- training ------------------------------------------------------------------------------------------
def train_boltzmann_generator(
    bg: BoltzmannGenerator,
    steps: int,
    lr: float = 1e-3,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
    data: Tensor | None = None,
    grad_clip: float | None = 100.0,
    log_every: int = 10,
    run_dir: str | None = None,
) -> Run:
    """Minimise ``bg.objective(...)["loss"]`` with Adam through :func:`ebmlab.training.fit`; returns the Run.

    ``batch_size`` sets the latent draws per step (``bg.batch_size``) and the mini-batch of ``data``
    (target samples for the forward-KL term). Gradients are clipped to norm ``grad_clip`` (quartic
    energies have large gradients far out). All randomness is derived from ``seed``.
    """
    if batch_size is not None:
        bg.batch_size = int(batch_size)
    config = TrainConfig(
        steps=int(steps),
        lr=float(lr),
        seed=int(seed),
        batch_size=bg.batch_size if data is None else min(bg.batch_size, int(data.shape[0])),
        grad_clip=grad_clip,
        log_every=int(log_every),
        progress=progress,
    )
    bg.train()
    return fit(bg, data, config, run_dir=run_dir)


# -- choice of D (seed Remark 2) -----------------------------------------------------------------------
@dataclass
class LatentDimSelection:
    """Result of :func:`select_latent_dim`: the chosen D and L ± SE (nats) for every candidate."""

    best: int
    bounds: dict[int, Estimate]
    models: dict[int, BoltzmannGenerator] = field(default_factory=dict, repr=False)

    def table(self) -> list[dict[str, Any]]:
        """Rows ``{"D", "L", "se"}`` (JSON-ready)."""
        return [{"D": d, "L": e.value, "se": e.stderr} for d, e in sorted(self.bounds.items())]


def select_latent_dim(
    energy: EnergyFn,
    dim: int,
    latent_dims: Sequence[int] = (1, 2, 3, 4),
    steps: int = 2000,
    lr: float = 1e-3,
    n_eval: int = 100_000,
    seed: int = 0,
    progress: bool = False,
    train_kwargs: dict[str, Any] | None = None,
    **bg_kwargs: Any,
) -> LatentDimSelection:
    """Train one generator per D and pick the D with the smallest bound L = J_R − log C (seed Remark 2).

    L is in nats and comparable across D (see the module docstring); each is estimated on ``n_eval``
    fresh latents with its standard error. Every candidate uses the same ``seed``; ``bg_kwargs`` go to
    :class:`BoltzmannGenerator` (e.g. ``anneal_steps``), ``train_kwargs`` to :func:`train_boltzmann_generator`.
    """
    if not latent_dims or min(latent_dims) < dim:
        raise ConfigError(f"select_latent_dim: latent_dims must be non-empty and >= dim={dim}, got {latent_dims}.")
    bounds: dict[int, Estimate] = {}
    models: dict[int, BoltzmannGenerator] = {}
    for d_lat in latent_dims:
        bg = BoltzmannGenerator(energy, dim=dim, latent_dim=int(d_lat), seed=seed, **bg_kwargs)
        train_boltzmann_generator(bg, steps, lr=lr, seed=seed, progress=progress, **(train_kwargs or {}))
        bounds[int(d_lat)] = bg.free_energy_bound(n_eval, _generator_of(bg, seed + 10_000))
        models[int(d_lat)] = bg
    best = min(bounds, key=lambda k: bounds[k].value)
    return LatentDimSelection(best, bounds, models)


# -- recovering the potential (seed Fig. 1) ------------------------------------------------------------
@dataclass
class PotentialCurves:
    """U(x) recovered on histogram bins (seed Fig. 1), both curves offset by the IS estimate log Ĉ (no fit).

    With p̂ the fraction of (weighted) samples in a bin of width h,

    * direct:     u_direct = −log(p̂ / h) − log Ĉ from x ~ P (consistent only if P = μ);
    * importance: u_importance = −log(p̂_w / h) − log Ĉ, weights w ∝ exp(−ℓ) (consistent for μ).

    Both estimate the bin-averaged potential −log((1/h)∫_bin exp(−U)) (≈ U at the centre for narrow bins).
    ``*_se`` are per-bin standard errors of the log-density (binomial for direct; delta method for the
    self-normalised ratio Σ_bin w / Σ w), not including the SE of log Ĉ (``log_z.stderr``). Empty bins are nan.
    """

    centers: np.ndarray
    edges: np.ndarray
    u_direct: np.ndarray
    u_direct_se: np.ndarray
    u_importance: np.ndarray
    u_importance_se: np.ndarray
    counts: np.ndarray
    log_z: Estimate


def recover_potential(
    bg: BoltzmannGenerator,
    n: int = 200_000,
    bins: int = 80,
    value_range: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> PotentialCurves:
    """Seed Fig. 1: U recovered from P(x) by direct sampling and by importance reweighting (d = 1 only)."""
    if bg.dim != 1:
        raise ConfigError(f"recover_potential: needs a 1-D target (d = 1), got d = {bg.dim}.")
    samples, log_w = bg.log_weights(n, generator)
    x = samples.reshape(-1).double().cpu().numpy()  # the histograms: on the CPU, wherever the flow ran
    log_w = log_w.double().cpu()
    value, stderr, ess = log_mean_exp(log_w)
    w = (log_w - log_w.max()).exp().numpy()
    lo, hi = value_range if value_range is not None else (float(x.min()), float(x.max()))
    edges = np.linspace(lo, hi, bins + 1)
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    inside = (x >= lo) & (x <= hi)
    counts = np.bincount(which[inside], minlength=bins).astype(float)
    p_direct = counts / n
    b = w / w.mean()
    u_is, se_is = np.full(bins, np.nan), np.full(bins, np.nan)
    for k in np.flatnonzero(counts > 0):
        a = np.where(inside & (which == k), w, 0.0)
        p_w = a.sum() / w.sum()
        u_is[k] = -math.log(p_w)
        se_is[k] = float(np.std(a / a.mean() - b, ddof=1) / math.sqrt(n))
    h = edges[1] - edges[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        u_direct = np.where(counts > 0, -np.log(p_direct), np.nan) + math.log(h) - value
        se_direct = np.where(counts > 0, np.sqrt((1 - p_direct) / (n * p_direct)), np.nan)
    est = Estimate(value, stderr, ess=ess, n=n, method="flow-importance")
    return PotentialCurves(
        0.5 * (edges[1:] + edges[:-1]), edges, u_direct, se_direct, u_is + math.log(h) - value, se_is, counts, est
    )


# -- modes of many-well --------------------------------------------------------------------------------
def many_well_mode_stats(samples: Tensor, target: Any) -> dict[str, Any]:
    """Left/right well occupancy of a many-well target's double-well coordinates x[0::2].

    Each pair's x₁ is "left" when below the barrier of x⁴ + b x² + c x. Returns the per-pair left-well
    fraction of the samples, the exact left-well mass (quadrature), their mean absolute difference, the
    number of pairs whose two wells are both visited, and the number of distinct modes (left/right patterns
    over all pairs) among the samples, out of 2^n_pairs.
    """
    from ebmlab.targets.double_well import DoubleWell

    n_pairs = int(target.n_pairs)
    x1 = samples.detach().reshape(samples.shape[0], -1)[:, 0::2].double()
    if x1.shape[1] != n_pairs:
        raise ShapeError(f"many_well_mode_stats: expected samples (n, {2 * n_pairs}), got {tuple(samples.shape)}.")
    well = DoubleWell(b=target.b, c=target.c)
    left = x1 < well.barrier
    frac = left.double().mean(dim=0)
    exact = well.left_well_mass()
    bits = left.long() * (2 ** torch.arange(n_pairs, dtype=torch.long))
    return {
        "left_fraction": frac.tolist(),
        "left_mass_exact": exact,
        "occupancy_mae": float((frac - exact).abs().mean()),
        "pairs_both_wells": int(((frac > 0) & (frac < 1)).sum()),
        "n_pairs": n_pairs,
        "distinct_modes": int(torch.unique(bits.sum(dim=1)).numel()),
        "total_modes": 2**n_pairs,
    }


# -- `ebmlab logz TARGET --method flow` ----------------------------------------------------------------
def log_z_flow(
    target: Any,
    samples: int | None = None,
    seed: int = 0,
    *,
    steps: int = 2000,
    lr: float = 1e-3,
    progress: bool = False,
    **bg_kwargs: Any,
) -> Estimate:
    """``ebmlab logz TARGET --method flow``: train a NICE Boltzmann generator by reverse KL, then IS for log Z.

    The signature is the log Z registry's ``run(target, samples, seed)``: ``samples`` is the number of
    importance-sampling draws after training (default 100 000). 1-D targets default to seed 004's setting
    (D = 2, annealed from β = 0.1 over the first half of the steps); others to D = d, no annealing.
    ``bg_kwargs`` override any :class:`BoltzmannGenerator` argument; with ``forward_kl_weight > 0`` the
    forward-KL term is fed 100 000 exact target samples (``target.sample``). The SE is the delta-method SE
    of the weights seen: it does not cover modes the flow missed (see the module docstring).
    """
    n = 100_000 if samples is None else check_n_samples(samples)
    dim = math.prod(target.event_shape)
    defaults: dict[str, Any] = {"latent_dim": 2, "anneal_steps": steps // 2, "beta0": 0.1} if dim == 1 else {}
    bg = BoltzmannGenerator(target, seed=seed, **{**defaults, **bg_kwargs})
    data = None
    if bg.forward_kl_weight > 0:
        if not callable(getattr(target, "sample", None)):
            raise ConfigError("log_z_flow: forward_kl_weight > 0 needs a target with exact samples (target.sample).")
        data = target.sample(100_000, torch.Generator(device="cpu").manual_seed(seed + 2)).reshape(100_000, -1).float()
    t0 = time.perf_counter()
    train_boltzmann_generator(bg, steps, lr=lr, seed=seed, progress=progress, data=data)
    bg.eval()
    est = bg.estimate_log_z(n, _generator_of(bg, seed + 1))
    details = {**est.details, "steps": steps, "train_seconds": time.perf_counter() - t0}
    return replace(est, method="flow", details=details)


# -- experiment evaluator `eval: {name: flow-logz, ...}` ----------------------------------------------
def logz_evaluator(n: int = 100_000, sample_seed: int = 1) -> Callable[[nn.Module, int], dict[str, float]]:
    """``evaluate(method, step)``: IS log C (value, SE, ESS) and the bound L on ``n`` draws (seed ``sample_seed``)."""
    seed = int(sample_seed)

    def evaluate(method: nn.Module, step: int) -> dict[str, float]:
        if not isinstance(method, BoltzmannGenerator):
            raise ConfigError(f"eval: flow-logz needs method boltzmann-generator, got {type(method).__name__}.")
        est = method.estimate_log_z(n, _generator_of(method, seed))
        out = {"log_z": est.value, "log_z_se": est.stderr, "ess": float(est.ess or 0.0)}
        out["free_energy_bound"] = method.free_energy_bound(n, _generator_of(method, seed + 1)).value
        if method.log_z is not None:
            out["log_z_error"] = est.value - method.log_z
        return out

    return evaluate
