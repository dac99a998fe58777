"""Variational lower bounds on mutual information I(X; Y) from paired samples, with a trainable critic.

For a critic T(x, y) and a batch of K pairs (xᵢ, yᵢ) ~ p(x, y), the score matrix Sᵢⱼ = T(xᵢ, yⱼ) holds
joint pairs on its diagonal and, off the diagonal, pairs distributed as p(x)p(y) (xᵢ, yⱼ independent, i ≠ j):

* NWJ / f-divergence (seed 000, eq. 9):  I ≥ E_p[T] − E_{p⊗p}[exp(T − 1)];  tight at T* = 1 + log p(x,y)/(p(x)p(y)).
  Its variance grows like exp(I) (the second term averages a weight e^{T−1} of mean 1 whose variance
  is ≈ e^{I} − 1), so it is unusable beyond a few nats with batches of hundreds.
* MINE / Donsker–Varadhan:  I ≥ E_p[T] − log E_{p⊗p}[exp T];  tight at T* + any constant. MINE's
  moving-average correction (``ema``) replaces E[e^T] in the *gradient's* denominator by an exponential
  moving average, reducing the bias of minibatch gradients; the reported value is the plain DV bound.
  Same exponential-variance limit as NWJ.
* InfoNCE:  I ≥ E[(1/K) Σᵢ (Sᵢᵢ − log (1/K) Σⱼ exp Sᵢⱼ)] ≤ log K: low variance, but it can never exceed
  log K, so it saturates (and is a loose bound) once I ≳ log K.

:func:`train_critic` maximises a bound on training pairs; :func:`estimate_mi` evaluates it on held-out
pairs, in batches of K, and returns an Estimate whose SE is the spread over independent batches.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators.base import Estimate

__all__ = [
    "BOUNDS",
    "ConcatCritic",
    "SeparableCritic",
    "TrainResult",
    "correlated_gaussian_pairs",
    "dv_bound",
    "estimate_mi",
    "gaussian_mi",
    "infonce_bound",
    "nwj_bound",
    "train_critic",
]


def _mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    widths = [n_in, *hidden]
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.SiLU()]
    layers.append(nn.Linear(widths[-1], n_out))
    return nn.Sequential(*layers)


class SeparableCritic(nn.Module):
    """T(x, y) = g(x)ᵀ h(y) with MLPs g, h into ℝ^embed; the K×K score matrix costs 2K forward passes."""

    def __init__(self, dim_x: int, dim_y: int, hidden: Sequence[int] = (128, 128), embed: int = 32) -> None:
        super().__init__()
        self.g = _mlp(dim_x, hidden, embed)
        self.h = _mlp(dim_y, hidden, embed)

    def scores(self, x: Tensor, y: Tensor) -> Tensor:
        """Sᵢⱼ = T(xᵢ, yⱼ), shape ``(K, K)``."""
        return self.g(x.flatten(1)) @ self.h(y.flatten(1)).T

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """T(xᵢ, yᵢ) for aligned pairs, shape ``(K,)``."""
        return (self.g(x.flatten(1)) * self.h(y.flatten(1))).sum(1)


class ConcatCritic(nn.Module):
    """T(x, y) = f([x, y]) with one MLP; the K×K score matrix costs K² forward passes."""

    def __init__(self, dim_x: int, dim_y: int, hidden: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        self.f = _mlp(dim_x + dim_y, hidden, 1)

    def scores(self, x: Tensor, y: Tensor) -> Tensor:
        k = x.shape[0]
        xx = x.flatten(1)[:, None, :].expand(k, k, -1)
        yy = y.flatten(1)[None, :, :].expand(k, k, -1)
        return self.f(torch.cat((xx, yy), dim=-1)).squeeze(-1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.f(torch.cat((x.flatten(1), y.flatten(1)), dim=1)).squeeze(-1)


def _off_diagonal(scores: Tensor) -> Tensor:
    k = scores.shape[0]
    return scores.masked_select(~torch.eye(k, dtype=torch.bool, device=scores.device))


def nwj_bound(scores: Tensor) -> Tensor:
    """E_p[T] − E_{p⊗p}[exp(T − 1)] on a K×K score matrix (off-diagonal = product of marginals)."""
    return scores.diagonal().mean() - (_off_diagonal(scores) - 1.0).exp().mean()


def dv_bound(scores: Tensor) -> Tensor:
    """Donsker–Varadhan (MINE): E_p[T] − log E_{p⊗p}[exp T]."""
    off = _off_diagonal(scores)
    return scores.diagonal().mean() - (torch.logsumexp(off, 0) - math.log(off.numel()))


def infonce_bound(scores: Tensor) -> Tensor:
    """InfoNCE: mean over rows of Sᵢᵢ − log (1/K) Σⱼ exp Sᵢⱼ; never exceeds log K."""
    k = scores.shape[0]
    return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(k)


BOUNDS: dict[str, Callable[[Tensor], Tensor]] = {"nwj": nwj_bound, "mine": dv_bound, "infonce": infonce_bound}


def _bound(name: str) -> Callable[[Tensor], Tensor]:
    try:
        return BOUNDS[name]
    except KeyError:
        raise ConfigError(f"unknown MI bound {name!r}; valid: {', '.join(BOUNDS)}.") from None


def _check_pairs(x: Tensor, y: Tensor, batch_size: int) -> None:
    if x.dim() < 2 or y.dim() < 2 or x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"expected paired samples x (n, *event_x), y (n, *event_y) with the same n, got {tuple(x.shape)} and "
            f"{tuple(y.shape)}."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ConfigError(f"batch_size must be an int >= 2, got {batch_size!r}.")
    if x.shape[0] < batch_size:
        raise ConfigError(f"need at least batch_size = {batch_size} pairs, got {x.shape[0]}.")


@dataclass
class TrainResult:
    """A trained critic and its training curve (bound value per step on training batches)."""

    critic: nn.Module
    bound: str
    history: list[float] = field(default_factory=list)


def train_critic(
    x: Tensor,
    y: Tensor,
    bound: str = "nwj",
    critic: nn.Module | None = None,
    *,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 1e-3,
    ema: float | None = 0.01,
    seed: int = 0,
    progress: bool = False,
) -> TrainResult:
    """Maximise ``bound`` (``nwj``, ``mine``, ``infonce``) over the critic with Adam on random batches of pairs.

    Args:
        x, y: paired training samples ``(n, …)``.
        critic: any module with ``scores(x, y) -> (K, K)``; default a :class:`SeparableCritic`.
        ema: for ``mine``, the rate of the moving average of E[e^T] used in the gradient (bias correction);
            ``None`` trains on the plain DV bound. Ignored by the other bounds.
        seed: seeds the batch order and the default critic's initialisation.
    """
    _check_pairs(x, y, batch_size)
    fn = _bound(bound)
    gen = torch.Generator(device="cpu").manual_seed(seed)  # the batch order, on the host: the same on every device
    if critic is None:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            critic = SeparableCritic(x[0].numel(), y[0].numel()).to(x.device)
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    history: list[float] = []
    moving: Tensor | None = None
    bar = _progress(steps, bound) if progress else None
    for _ in range(steps):
        idx = torch.randperm(x.shape[0], generator=gen, device="cpu")[:batch_size].to(x.device)
        s = critic.scores(x[idx], y[idx])  # type: ignore[operator]
        value = fn(s)
        objective = value
        if bound == "mine" and ema is not None:
            batch_mean = _off_diagonal(s).exp().mean()
            moving = batch_mean.detach() if moving is None else (1 - ema) * moving + ema * batch_mean.detach()
            objective = s.diagonal().mean() - batch_mean / moving
        opt.zero_grad()
        (-objective).backward()
        opt.step()
        history.append(float(value.detach()))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return TrainResult(critic, bound, history)


def _progress(total: int, bound: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"critic ({bound})", unit="step", leave=False)


@torch.no_grad()
def estimate_mi(critic: nn.Module, x: Tensor, y: Tensor, bound: str = "nwj", batch_size: int = 128) -> Estimate:
    """Evaluate a bound on held-out pairs, in ⌊n/K⌋ disjoint batches of K = ``batch_size`` pairs.

    NWJ and InfoNCE: the mean of the per-batch bounds, SE = their standard deviation / √(#batches).
    MINE/DV: E_p[T] and E_{p⊗p}[e^T] pooled over batches, SE by the delta method on the per-batch means
    (log of a mean is not a mean of logs). InfoNCE's value depends on K (≤ log K); ``details`` records K.
    """
    _check_pairs(x, y, batch_size)
    fn = _bound(bound)
    n_batches = x.shape[0] // batch_size
    if n_batches < 2:
        raise ConfigError(f"need at least 2 batches of {batch_size} held-out pairs for a SE, got {x.shape[0]} pairs.")
    per_batch, joint, marg = [], [], []
    for b in range(n_batches):
        sl = slice(b * batch_size, (b + 1) * batch_size)
        s = critic.scores(x[sl], y[sl]).to(torch.float64)  # type: ignore[operator]
        per_batch.append(float(fn(s)))
        joint.append(float(s.diagonal().mean()))
        marg.append(float(_off_diagonal(s).exp().mean()))
    details = {"batch_size": batch_size, "n_batches": n_batches, "log_batch_size": math.log(batch_size)}
    n = n_batches * batch_size
    if bound == "mine":
        a, c = torch.tensor(joint, dtype=torch.float64), torch.tensor(marg, dtype=torch.float64)
        c_bar = float(c.mean())
        value = float(a.mean()) - math.log(c_bar)
        cov = torch.cov(torch.stack((a, c)))
        var = float(cov[0, 0] + cov[1, 1] / c_bar**2 - 2 * cov[0, 1] / c_bar) / n_batches
        return Estimate(value, math.sqrt(max(var, 0.0)), n=n, method="mine", details=details)
    v = torch.tensor(per_batch, dtype=torch.float64)
    return Estimate(float(v.mean()), float(v.std() / math.sqrt(n_batches)), n=n, method=bound, details=details)


def gaussian_mi(rho: float, dim: int = 1) -> float:
    """I(X; Y) = −½ d log(1 − ρ²) for d independent pairs (Xᵢ, Yᵢ) of unit Gaussians with correlation ρ."""
    if not -1 < rho < 1:
        raise ConfigError(f"rho must lie in (−1, 1), got {rho!r}.")
    return -0.5 * dim * math.log1p(-rho * rho)


def correlated_gaussian_pairs(
    n: int, dim: int, rho: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """n pairs: x ~ N(0, I_d), y = ρ x + √(1 − ρ²) ε; I(X; Y) = :func:`gaussian_mi` (ρ, d)."""
    gaussian_mi(rho, dim)
    x = torch.randn(n, dim, generator=generator)
    y = rho * x + math.sqrt(1 - rho * rho) * torch.randn(n, dim, generator=generator)
    return x, y
