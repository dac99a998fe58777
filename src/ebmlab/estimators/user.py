"""log Z of a user's own energy, with defaults built only from what a user has, and a verdict.

``log_z(energy, event_shape, method)`` never looks at exact samples of a target unless they are passed
(``exact_samples``, used only for the reverse run of a bracket and labelled). The defaults:

* ``"is"``: importance sampling from :func:`~ebmlab.estimators.laplace.laplace_proposal` (mode search,
  Laplace covariances, Student-t components), with the proposal's tails probed against the energy's far beyond
  the draws (:mod:`~ebmlab.estimators.tails`);
* ``"ais"``: AIS (HMC transitions) from the defensive base below; each temperature applies HMC at the adapted
  step ε and then at 0.3ε and 0.1ε (``AIS_STEP_LADDER``): one step size adapted on the chains' mean acceptance
  is too large where the energy's curvature is higher than at its typical point (the arms of a curved valley),
  chains there are rejected and never reach that mass, and log Ẑ is biased low with an SE that cannot show it
  (banana-10 at 300 temperatures: 9 of 10 errors negative, mean −0.069 nats against a mean SE of 0.046; 1000
  temperatures without the ladder still −0.038; with it −0.022 and mean z² 1.18 over 10 seeds, docs/estimators.md).
  It costs three HMC transitions per temperature. Where the wide component's covariance has a condition number
  above ``WHITEN_CONDITION`` (1000: scales more than ≈ 32× apart) the chains run in coordinates whitened by it
  (:mod:`~ebmlab.estimators.whiten`: u = L⁻¹(x − μ), log Z = log Z_u + log|det L|): one isotropic step must fit
  the narrowest scale and then barely moves the widest (gauss-100, κ = 10⁴: ESS 32 of 256 unwhitened, 124
  whitened). Not below it: the Laplace covariance describes the mode, not a curved energy's arms, and whitening
  by it made banana-10 (κ = 4) stiffer there (seeds 0–3: ESS 190, 169, 47, 153 of 256 and k̂ up to 0.65, three
  runs judged not trustworthy; unwhitened ESS 202–222, k̂ ≤ 0.46, all trusted), and unwhitened AIS did well up to
  κ = 100 (the built-in gaussian-50: error 0.022 at SE 0.037; funnel-10 is 69). The bracket does the same;
* ``"bracket"``: replica exchange from one wide diagonal Gaussian (:func:`ladder_base`: the mixture's means and
  standard deviations, each floored at their RMS over coordinates; on many-well-32 the full covariance of the
  32 modes kept gave split-R̂ 1.28–1.32 at β = 1, the plain diagonal 1.06–1.14 with one coordinate left at sd
  0.74 where its minor well sits 4.5 sd from the mean) gives diagnosed
  samples of p; forward AIS starts from a Gaussian fitted to their moments and reverse AIS from those samples,
  along the same path (:mod:`~ebmlab.estimators.bracket`, :mod:`~ebmlab.estimators.tempered_start`); the
  reverse end counts as an upper bound only when the tempered chains pass their checks (else the verdict says
  so); ``reverse="forward"`` restarts it from the forward run's samples instead (never validated);
* ``"stepping-stone"``: the stepping-stone identity on a replica-exchange ladder from the same base
  (:mod:`~ebmlab.estimators.stepping_stone`), with per-rung mixing (split-half drift) and tail coverage (k̂ of
  each rung's ratio weights) in the verdict;
* ``"flow"``: importance sampling from a defensive mixture of a RealNVP trained by reverse KL in coordinates
  whitened by the wide base and the Laplace mixture (:mod:`~ebmlab.estimators.user_flow`).

The AIS and stepping-stone base is *defensive*: half the Laplace mixture (the modes found, in
proportion to their Laplace masses) and half one wide Student-t with the mixture's mean and covariance (so mode
regions the search missed are still reachable). The mode search's starts grow with the dimension
(:func:`default_starts`). ``details["energy_evaluations"]`` counts the points at which E (or E and ∇E) was
evaluated, the mode search included.

The reported SE is the larger of the delta-method SE and the batch-means SE from ``n_groups`` disjoint
groups (the delta method is too small when the weights are skewed; ``benchmarks/logz_calibration.py``).
Every result carries ``details["verdict"]`` ("trustworthy" or "not trustworthy: …"), the reasons, the
checks behind them (:mod:`~ebmlab.estimators.verdict`: ESS, Pareto k̂, agreement of ``n_groups``
independent groups, the bracket, per-rung drift and tail coverage, unseen modes — the last for IS and the
flow only, whose proposal *is* the modes found; the annealing methods report the count in
``details["modes"]``), and ``details["proposal"]`` saying what was used.

>>> import torch, math
>>> energy = lambda x: 0.5 * (x**2).sum(1)  # N(0, I₂): log Z = log 2π
>>> est = log_z(energy, (2,), "is", n=20000, seed=0)
>>> abs(est.value - math.log(2 * math.pi)) < 4 * est.stderr, est.details["verdict"]
(True, 'trustworthy')
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ebmlab.densities import Density
from ebmlab.densities.base import event_shape_of
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError
from ebmlab.estimators.ais import ais
from ebmlab.estimators.base import Estimate, groups_se, log_mean_exp, pareto_k
from ebmlab.estimators.bracket import bidirectional_log_z
from ebmlab.estimators.laplace import MixtureProposal, laplace_proposal
from ebmlab.estimators.logz import Proposal, importance_log_weights
from ebmlab.estimators.proposals import GaussianProposal
from ebmlab.estimators.tails import tail_growth
from ebmlab.estimators.verdict import chao1, judge
from ebmlab.estimators.whiten import Whitened, condition_number, whiten_mixture
from ebmlab.samplers import GeometricPath, make_betas

__all__ = [
    "AIS_STEP_LADDER",
    "USER_DEFAULT_N",
    "USER_METHODS",
    "WHITEN_CONDITION",
    "CountedEnergy",
    "default_starts",
    "defensive_base",
    "ladder_base",
    "log_z",
    "wide_base",
]

USER_METHODS = ("is", "ais", "bracket", "stepping-stone", "flow")
#: the default ``n`` of each method: draws (is, flow), chains (ais, bracket), chains per rung (stepping stone)
USER_DEFAULT_N = {"is": 20_000, "ais": 256, "bracket": 256, "stepping-stone": 128, "flow": 20_000}
#: step-size factors of the HMC transitions at each AIS temperature (the first is the adapted step)
AIS_STEP_LADDER = (1.0, 0.3, 0.1)
#: AIS and the bracket anneal in whitened coordinates when the wide component's covariance is this
#: ill-conditioned (module doc)
WHITEN_CONDITION = 1000.0


def wide_base(q: MixtureProposal) -> GaussianProposal:
    """One Gaussian with the mixture's mean and covariance (Student-t components: Σ·ν/(ν − 2))."""
    w = q.log_weights.exp()
    mean = (w[:, None] * q.locs).sum(0)
    factor = q.df / (q.df - 2) if q.df is not None and q.df > 2 else 1.0
    cov_k = factor * q.scales @ q.scales.transpose(1, 2)
    diff = q.locs - mean
    cov = (w[:, None, None] * (cov_k + diff[:, :, None] * diff[:, None, :])).sum(0)
    return GaussianProposal(mean.reshape(q.event_shape), cov=cov)


def ladder_base(q: MixtureProposal) -> GaussianProposal:
    """The hot end of the bracket's replica-exchange ladder: a diagonal Gaussian with the mixture's means and
    standard deviations, each floored at their root mean square over coordinates. The full covariance of at most
    32 modes is noisy between them, and a coordinate in which the modes kept happen to agree gets a spread too
    narrow to reach its other wells (module doc)."""
    wide = wide_base(q)
    sd = torch.diagonal(wide.chol @ wide.chol.T).sqrt()
    sd = sd.clamp_min(float(sd.square().mean().sqrt()))
    return GaussianProposal(wide.mean, std=sd.reshape(wide.mean.shape))


def defensive_base(q: MixtureProposal, wide_weight: float = 0.5) -> MixtureProposal:
    """(1 − w)·q + w·(one Student-t with q's mean and covariance): the modes found, and a wide component that
    reaches what the search missed."""
    wide = wide_base(q)
    locs = torch.cat([q.locs, wide.mean.reshape(1, -1)])
    scales = torch.cat([q.scales, wide.chol.unsqueeze(0)])
    log_w = torch.cat(
        [
            q.log_weights + math.log1p(-wide_weight),
            torch.tensor([math.log(wide_weight)], dtype=torch.float64, device=q.log_weights.device),
        ]
    )
    note = f"defensive base: {1 - wide_weight:g} × the Laplace mixture + {wide_weight:g} × one wide component"
    return MixtureProposal(locs, scales, log_w, q.df, q.event_shape, note)


_OPTIONS = {
    "bracket": {"reverse", "tempering"},
    "stepping-stone": {"n_rounds", "burn_in", "adapt_rounds", "n_rungs"},
    "flow": {"steps", "alpha", "batch_size"},
}


def default_starts(dim: int) -> int:
    """Descents per start scale of the mode search: 32·d, between 32 and 256 (a budget that grows with d)."""
    return max(32, min(256, 32 * dim))


class CountedEnergy:
    """An energy that counts the points it is evaluated at (``count``); forwards ``energy_and_grad``."""

    def __init__(self, energy: EnergyFn) -> None:
        self.energy, self.count = energy, 0
        if callable(getattr(energy, "energy_and_grad", None)):
            self.energy_and_grad = self._energy_and_grad

    def __call__(self, x: Tensor) -> Tensor:
        self.count += int(x.shape[0])
        return self.energy(x)

    def _energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self.count += int(x.shape[0])
        return self.energy.energy_and_grad(x)  # type: ignore[attr-defined]


def _groups(log_w: Tensor, n_groups: int) -> tuple[list[float], list[float]]:
    values, errors = [], []
    for part in torch.chunk(log_w, n_groups):
        if part.numel() >= 2 and torch.isfinite(part).any():
            v, se, _ = log_mean_exp(part)
            values.append(v)
            errors.append(se)
    return values, errors


def log_z(
    energy: EnergyFn,
    event_shape: tuple[int, ...] | None = None,
    method: str = "is",
    *,
    n: int = 20_000,
    n_temperatures: int = 300,
    seed: int = 0,
    proposal: MixtureProposal | None = None,
    exact_samples: Tensor | None = None,
    n_groups: int = 8,
    progress: bool = False,
    device: str | torch.device = "cpu",
    **options: Any,
) -> Estimate:
    """Estimate log Z = log ∫ exp(−E(x)) dx of any energy (module docstring); ``n`` samples (IS, flow), chains
    (AIS, bracket) or chains per rung (stepping stone). ``options`` go to the method's runner (stepping stone:
    ``n_rounds``, ``burn_in``, ``adapt_rounds``, ``n_rungs``; flow: ``steps``, ``alpha``). Every draw, chain and
    search runs on ``device`` (the energy must accept inputs there); ``"cpu"`` gives the same bits as always, another
    device its own random stream."""
    if method not in USER_METHODS:
        raise ConfigError(f"log_z: method must be one of {USER_METHODS}, got {method!r}.")
    allowed = _OPTIONS.get(method, set())
    if set(options) - allowed:
        raise ConfigError(
            f"log_z: unknown option(s) {sorted(set(options) - allowed)} for method {method!r}; valid: "
            f"{sorted(allowed) or 'none'}."
        )
    shape = event_shape_of(energy, None if event_shape is None else tuple(event_shape))
    generator = torch.Generator(device=torch.device(device)).manual_seed(int(seed))
    counted = CountedEnergy(energy)
    q = (
        proposal
        if proposal is not None
        else laplace_proposal(counted, shape, generator, n_starts=default_starts(math.prod(shape)))
    )
    details: dict[str, Any] = {"proposal": q.describe()}
    counts = getattr(q, "mode_counts", None)
    diag: dict[str, Any] = {}
    if method in ("is", "flow"):
        diag["mode_counts"] = counts  # unseen modes are missing mass of the proposal itself
    elif counts:  # annealing moves mass between modes: reported, not a verdict by itself
        details["modes"] = {"found": sum(1 for c in counts if c > 0), "estimated_chao1": chao1(counts)}
    if method in ("is", "flow"):
        prop: Proposal = q
        probe: Density = q
        if method == "flow":
            from ebmlab.estimators.user_runs import flow_proposal

            # the flow's own random stream, drawn from the run's: seeded with ``seed`` itself, its training batches
            # were the very latents the importance draws below took from ``generator`` (the same stream a few
            # batches on), and the draws were not independent of the proposal (gauss-100: 3 of 10 seeds at z > 1.9)
            flow_seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
            mix, info = flow_proposal(counted, q, wide_base(q), shape, flow_seed, **options)
            prop, probe = mix, mix
            details |= info
        x, log_w = importance_log_weights(counted, prop, n, generator)
        # the proposal's tails against the target's, far beyond the draws (the check draws nothing); for the flow
        # the whole defensive mixture (student-5 flow seed 2, k̂ < 0.5, was trusted at z = −4.7 without it)
        wide = wide_base(q)
        top = torch.topk(torch.nan_to_num(log_w, nan=-math.inf), min(4, n)).indices  # searches start here
        diag["tail_growth"] = tail_growth(counted, probe, wide.mean, wide.chol @ wide.chol.T, starts=x[top])
        value, se, ess = log_mean_exp(log_w)
        groups = _groups(log_w, n_groups)
        diag |= {"ess": ess, "pareto_k": pareto_k(log_w), "groups": groups}
        est = Estimate(value, max(se, groups_se(groups[0])), ess=ess, n=n, method=method)
    else:
        base = defensive_base(q)
        details["base"] = base.note
        if method == "ais":
            betas = make_betas("sigmoid", n_temperatures)
            wide = wide_base(q)
            path = GeometricPath(base, counted)
            shift, kappa = 0.0, condition_number(wide.chol)
            if kappa > WHITEN_CONDITION:  # one isotropic step cannot serve scales that far apart
                white = Whitened(counted, wide.mean, wide.chol, shape)
                path, shift = GeometricPath(whiten_mixture(base, wide.mean, wide.chol), white), white.log_det
                details["base"] += (
                    f"; annealed in coordinates whitened by the wide component (u = L⁻¹(x − μ); its covariance has "
                    f"condition number {kappa:.3g} > {WHITEN_CONDITION:g})"
                )
            res = ais(path, "hmc", n, betas, generator, step_ladder=AIS_STEP_LADDER, progress=progress)
            est = res.estimate()
            groups = _groups(res.log_weights, n_groups)
            diag |= {"ess": est.ess, "pareto_k": est.details.get("pareto_k"), "groups": groups}
            se = max(est.stderr, groups_se(groups[0]))
            est = Estimate(est.value + shift, se, ess=est.ess, n=n, method="ais")
        elif method == "stepping-stone":
            from ebmlab.estimators.user_runs import stepping_stone

            est, more = stepping_stone(counted, base, shape, n, generator, progress=progress, **options)
            diag |= more
            details |= {"swap_accept": est.details["swap_accept"], "rung_drift_z": more["rung_drift_z"]}
            details |= {"rung_pareto_k": more["rung_pareto_k"]}
        else:
            wide = wide_base(q)
            target: EnergyFn = counted
            x_exact = exact_samples.to(generator.device) if exact_samples is not None else None
            hot, shift = ladder_base(q), 0.0
            kappa = condition_number(wide.chol)
            whitened = kappa > WHITEN_CONDITION
            if whitened:  # as for AIS: the ladder and both runs in u = L⁻¹(x − μ)
                white = Whitened(counted, wide.mean, wide.chol, shape)
                target, hot, shift = white, ladder_base(whiten_mixture(q, wide.mean, wide.chol)), white.log_det
                if x_exact is not None:
                    x_exact = white.to_u(x_exact)
            br = bidirectional_log_z(
                target,
                hot,
                generator,
                n_chains=n,
                n_temperatures=n_temperatures,
                exact_samples=x_exact,
                progress=progress,
                **options,
            )
            est = Estimate(
                0.5 * (br.lower.value + br.upper.value) + shift,
                0.5 * math.hypot(br.lower.stderr, br.upper.stderr) + 0.5 * abs(br.width),
                ess=br.lower.ess,
                n=n,
                method="bracket",
            )
            if whitened:
                details["whitened"] = (
                    f"condition number {kappa:.3g} > {WHITEN_CONDITION:g}: ladder and runs in u = L⁻¹(x − μ)"
                )
            details |= {"lower": br.lower.value + shift, "lower_se": br.lower.stderr, "upper": br.upper.value + shift}
            details |= {"upper_se": br.upper.stderr, "width": br.width, "reverse_samples": br.reverse_samples}
            details |= {"reverse_validated": br.validated} | br.diagnostics
            details["base"] = br.diagnostics.get(
                "forward_base", "one wide Gaussian (the mixture's mean and covariance)"
            )
            why = "; ".join(br.diagnostics.get("tempering_reasons") or []) or "forward-run samples miss what it missed"
            ends = (br.lower.value + shift, br.lower.stderr, br.upper.value + shift, br.upper.stderr)
            diag |= {"ess": br.lower.ess, "bracket": ends}
            diag["reverse_start"] = (br.reverse_samples, br.validated, why)
    verdict = judge(diag)
    details |= {"verdict": verdict.summary() if not verdict.trustworthy else "trustworthy"}
    details |= {"reasons": verdict.reasons, "checks": verdict.checks, "energy_evaluations": counted.count}
    return Estimate(est.value, est.stderr, ess=est.ess, n=est.n, method=est.method, details=details)
