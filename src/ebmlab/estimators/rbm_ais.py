"""AIS for Boltzmann machines on the general :func:`ebmlab.estimators.ais`, and the RBM's v-marginal path.

The path of Salakhutdinov & Murray (2008) tempers the joint of a base-rate model A (visible biases b_A, no
couplings) and the RBM B: p_β(v, h) ∝ exp(−(1 − β) E_A(v) − β E_B(v, h)). On x = [v, h] this is the
geometric path between q₀(v, h) = Bernoulli(σ(b_A))(v)·2^(−n_h) and exp(−E(v, h)) — linear in β, so it
runs on the general AIS as it is (:func:`joint_path`, :func:`rbm_ais`), with exact block Gibbs on the two
layers (``BlockGibbs`` reading the joint's ``conditional_logits`` through ``PathEnergy``):

    h_j ~ Bernoulli(σ(β (vW + c)_j)),   v_i ~ Bernoulli(σ((1 − β) b_A,i + β (Wh + b)_i)).

Summing out h gives the v-marginal energy (:class:`RBMPath`)

    E_β(v) = −(1 − β) log q(v) − β bᵀv − Σ_j softplus(β (vW + c)_j) + (1 − β) n_h log 2,

(Z_0 = 1, E_1 = F) with the same Gibbs sweep as its kernel (:class:`RBMGibbs`, reading ``energy.path`` and
``energy.beta``). S&M accumulate AIS weights on this marginal (Rao–Blackwellised over h, lower variance).
E_β(v) is not linear in β; ``ais`` gives such a path (one with ``base``/``energy``/``at`` but no ``point``) the
increments E_{β_{t−1}}(v) − E_{β_t}(v) from two evaluations: ``rbm_ais(..., marginal=True)``.
b_A from the data's pixel means is the usual base; any logits work (a worse base only costs variance).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from ebmlab.densities import Bernoulli, Density
from ebmlab.energies.base import EnergyFn
from ebmlab.energies.binary import RBM, FullyVisibleBM, bernoulli_draw
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators.base import Estimate
from ebmlab.estimators.bracket import Bracket
from ebmlab.samplers.base import Sampler, SamplerState, StepInfo
from ebmlab.samplers.path import AnnealingPath

__all__ = ["RBMGibbs", "RBMPath", "RBMPathEnergy", "fvbm_ais", "joint_path", "rbm_ais", "rbm_bracket", "rbm_path"]


def _col(beta: float | Tensor, like: Tensor) -> float | Tensor:
    """β as a float, or a per-chain tensor shaped ``(n, 1)`` for broadcasting over units."""
    if isinstance(beta, Tensor):
        if beta.dim() == 0:
            return float(beta)
        if beta.shape != (like.shape[0],):
            raise ShapeError(f"RBMPath: per-chain beta must have shape ({like.shape[0]},), got {tuple(beta.shape)}.")
        return beta.to(like.dtype)[:, None]
    return float(beta)


class RBMPath:
    """Annealing path from a Bernoulli base on v to an RBM's v-marginal (see the module docstring).

    Args:
        rbm: the target :class:`~ebmlab.energies.binary.RBM`.
        base: the base q = Bernoulli(σ(b_A)) over v (default: all logits 0, the uniform distribution).
    """

    def __init__(self, rbm: RBM, base: Bernoulli | None = None) -> None:
        self.rbm = rbm
        bern = base if base is not None else Bernoulli(torch.zeros(rbm.n_visible))
        self.base: Density = bern
        self.base_logits: Tensor = bern.logits
        if tuple(self.base.event_shape) != (rbm.n_visible,):
            raise ShapeError(f"RBMPath: base event shape {self.base.event_shape} != ({rbm.n_visible},) visible units.")

    @torch.no_grad()
    def energy(self, x: Tensor, beta: float | Tensor) -> Tensor:
        """E_β(v), shape ``(n,)``."""
        b, r = _col(beta, x), self.rbm
        bf = b.squeeze(1) if isinstance(b, Tensor) else b
        v = x.to(r.weight.dtype)
        soft = F.softplus(b * (v @ r.weight + r.h_bias)).sum(1)
        return -(1.0 - bf) * self.base.log_prob(v) - bf * (v @ r.v_bias) - soft + (1.0 - bf) * r.n_hidden * math.log(2)

    def at(self, beta: float | Tensor) -> RBMPathEnergy:
        """E_β as a plain energy callable with ``.beta`` and ``.path``."""
        return RBMPathEnergy(self, beta)

    @torch.no_grad()
    def gibbs(self, v: Tensor, beta: float | Tensor, generator: torch.Generator | None) -> Tensor:
        """One exact block-Gibbs sweep h | v, v | h of the tempered joint at β."""
        b, r = _col(beta, v), self.rbm
        v = v.to(r.weight.dtype)
        h = bernoulli_draw(torch.sigmoid(b * (v @ r.weight + r.h_bias)), generator)
        logits = (1.0 - b) * self.base_logits + b * (h @ r.weight.T + r.v_bias)
        return bernoulli_draw(torch.sigmoid(logits), generator)

    @torch.no_grad()
    def log_z(self, beta: float) -> float:
        """Exact log Z_β of the path by enumerating v (n_v ≤ 24): the ground truth for tests (Z_0 = Z_1/Z = 1)."""
        from ebmlab.estimators.spaces import BinarySpace

        space = BinarySpace(self.rbm.n_visible, device=self.rbm.weight.device)
        parts = [torch.logsumexp(-self.energy(s, beta).double(), 0) for s in space.chunks(1 << 16)]
        return float(torch.logsumexp(torch.stack(parts), 0))


class RBMPathEnergy:
    """E_β of an :class:`RBMPath` at one β (a float or per-chain tensor): ``energy(v) -> (n,)``."""

    def __init__(self, path: RBMPath, beta: float | Tensor) -> None:
        self.path = path
        self.beta = beta

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.path.rbm.n_visible,)

    def __call__(self, x: Tensor) -> Tensor:
        return self.path.energy(x, self.beta)


class RBMGibbs(Sampler):
    """Block-Gibbs kernel for AIS along an :class:`RBMPath`: ``n_sweeps`` exact sweeps at ``energy.beta``.

    ``energy`` must carry ``.path`` (an RBMPath) and ``.beta`` (what ``RBMPath.at(beta)`` returns).
    Gibbs moves are always accepted.
    """

    name = "rbm-gibbs"
    uses_gradient = False
    metropolis_adjusted = False
    #: each sweep leaves π_β exactly invariant (what AIS requires of its kernel)
    exact = True

    def __init__(self, n_sweeps: int = 1) -> None:
        super().__init__(step_size=1.0)
        if isinstance(n_sweeps, bool) or not isinstance(n_sweeps, int) or n_sweeps < 1:
            raise ConfigError(f"RBMGibbs: n_sweeps must be an int >= 1, got {n_sweeps!r}.")
        self.n_sweeps = n_sweeps

    @staticmethod
    def _path(energy: EnergyFn) -> tuple[RBMPath, float | Tensor]:
        path, beta = getattr(energy, "path", None), getattr(energy, "beta", None)
        if not isinstance(path, RBMPath) or beta is None:
            raise ConfigError(
                f"RBMGibbs needs an energy from RBMPath.at(beta) (with .path and .beta), got {type(energy).__name__}; "
                "use a generic Gibbs kernel (samplers.BlockGibbs) for other energies."
            )
        return path, beta

    def init(self, energy: EnergyFn, x0: Tensor, step_size: float | None = None) -> SamplerState:
        self._path(energy)
        return super().init(energy, x0, step_size)

    def step(
        self, energy: EnergyFn, state: SamplerState, generator: torch.Generator | None = None
    ) -> tuple[SamplerState, StepInfo]:
        path, beta = self._path(energy)
        v = state.x
        for _ in range(self.n_sweeps):
            v = path.gibbs(v, beta, generator)
        e = energy(v)
        ones, false = torch.ones_like(e), torch.zeros_like(e, dtype=torch.bool)
        info = StepInfo(accept_prob=ones, accepted=~false, nonfinite=false, divergent=false)
        return SamplerState(v, e, None, state.step_size, state.iteration + 1), info


# -- log Z of Boltzmann machines by the one general AIS ------------------------------------------------------


def joint_path(rbm: RBM, v_logits: Tensor | None = None):
    """The tempered joint of S&M 2008 on x = [v, h]: E_β(x) = −(1 − β) log q₀(x) + β E(v, h), q₀ = Bernoulli(b_A) on
    v times uniform h (so Z₀ = 1). Linear in β, hence a :class:`~ebmlab.samplers.GeometricPath`; its v-marginal is
    :class:`RBMPath`'s E_β."""
    from ebmlab.samplers import GeometricPath

    w = rbm.weight
    logits = w.new_zeros(rbm.n_visible) if v_logits is None else torch.as_tensor(v_logits).reshape(-1).to(w)
    if logits.numel() != rbm.n_visible:
        raise ShapeError(f"joint_path: v_logits must hold {rbm.n_visible} values, got {logits.numel()}.")
    base = Bernoulli(torch.cat((logits, w.new_zeros(rbm.n_hidden))))  # on the RBM's device, in its dtype
    return GeometricPath(base, rbm.joint())


def rbm_path(rbm: RBM, v_logits: Tensor | None = None, marginal: bool = False) -> tuple[AnnealingPath, Sampler]:
    """The annealing path from Bernoulli(``v_logits``) to the RBM and its exact Gibbs kernel: :func:`joint_path` with
    ``BlockGibbs`` over the two layers, or (``marginal``) :class:`RBMPath` on v with :class:`RBMGibbs`."""
    from ebmlab.samplers import BlockGibbs

    if marginal:
        w = rbm.weight
        logits = w.new_zeros(rbm.n_visible) if v_logits is None else torch.as_tensor(v_logits).reshape(-1).to(w)
        return RBMPath(rbm, Bernoulli(logits)), RBMGibbs()
    return joint_path(rbm, v_logits), BlockGibbs(blocks=rbm.joint().blocks())


def rbm_ais(
    rbm: RBM,
    n_chains: int,
    betas: Tensor | int,
    generator: torch.Generator,
    v_logits: Tensor | None = None,
    n_sweeps: int = 1,
    marginal: bool = False,
) -> Estimate:
    """log Z of an RBM by :func:`ebmlab.estimators.ais` along :func:`rbm_path`.

    ``marginal=False``: along :func:`joint_path` with exact block Gibbs on the two layers (``BlockGibbs`` over
    ``rbm.joint().blocks()``). ``marginal=True``: along :class:`RBMPath`, the v-marginal (S&M's Rao–Blackwellised
    weights, increments E_{β_{t−1}}(v) − E_{β_t}(v)) with :class:`RBMGibbs`.
    """
    from ebmlab.estimators.ais import ais

    path, kernel = rbm_path(rbm, v_logits, marginal)
    with torch.no_grad():
        res = ais(path, kernel, n_chains, betas, generator, n_steps=n_sweeps)
    return res.estimate()


def rbm_bracket(
    rbm: RBM,
    samples: Tensor,
    samples_source: str,
    betas: Tensor | int,
    generator: torch.Generator,
    v_logits: Tensor | None = None,
    n_sweeps: int = 1,
    marginal: bool = False,
    diagnostics: dict | None = None,
) -> Bracket:
    """Bidirectional AIS bracket on log Z of an RBM (:func:`~ebmlab.estimators.bracket.bidirectional_ais` along
    :func:`rbm_path`): forward AIS (stochastic lower bound) with as many chains as ``samples``, reverse AIS from
    ``samples`` of v (stochastic upper bound; on the joint path h ~ p(h | v) completes them, exactly).
    ``samples_source``: ``"exact"`` (e.g. ``rbm.sample_exact``) or ``"mcmc: …"`` (how they were drawn)."""
    from ebmlab.estimators.bracket import bidirectional_ais
    from ebmlab.samplers import make_betas

    _check_visible(samples, rbm, "rbm_bracket")
    path, kernel = rbm_path(rbm, v_logits, marginal)
    v = samples.to(rbm.weight.dtype)
    with torch.no_grad():
        x = v if marginal else torch.cat((v, bernoulli_draw(rbm.p_h(v), generator)), 1)
        betas = make_betas("sigmoid", betas) if isinstance(betas, int) else make_betas(betas)
        return bidirectional_ais(
            path,
            kernel,
            betas,
            generator,
            samples=x,
            samples_source=samples_source,
            diagnostics=diagnostics,
            n_steps=n_sweeps,
        )


def _check_visible(v: Tensor, rbm: RBM, who: str) -> None:
    if v.dim() != 2 or v.shape[1] != rbm.n_visible or not bool(((v == 0) | (v == 1)).all()):
        raise ShapeError(
            f"{who}: samples must be binary of shape (n, {rbm.n_visible}) (visible units), got {tuple(v.shape)}."
        )


def fvbm_ais(
    fvbm: FullyVisibleBM,
    n_chains: int,
    betas: Tensor | int,
    generator: torch.Generator,
    logits: Tensor | None = None,
    n_sweeps: int = 1,
) -> Estimate:
    """log Z of a fully visible BM by :func:`ebmlab.estimators.ais` on the geometric path from Bernoulli(logits)
    with single-site Gibbs sweeps."""
    from ebmlab.estimators.ais import ais
    from ebmlab.samplers import BlockGibbs, GeometricPath

    b = fvbm.bias
    base = Bernoulli(b.new_zeros(fvbm.dim) if logits is None else torch.as_tensor(logits).to(b))
    with torch.no_grad():
        res = ais(GeometricPath(base, fvbm), BlockGibbs(), n_chains, betas, generator, n_steps=n_sweeps)
    return res.estimate()
