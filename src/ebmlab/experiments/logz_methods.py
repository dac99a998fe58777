"""log Z methods by name, for targets with known ground truth (the ``ebmlab logz`` CLI and the benchmark).

A method is one registry entry: ``LOGZ_METHODS[name] = LogZMethod(run, applies, ...)`` where
``run(target, samples, seed) -> Estimate``. Adding one is a call to :func:`register_logz_method`; the CLI and the
benchmark pick it up from here.

``is`` and ``ais`` use only the energy, as for a user's own (:func:`ebmlab.estimators.user.log_z`: mode search +
Laplace Student-t mixture for IS; AIS with 1000 HMC temperatures from the defensive base), and carry the verdict
in ``details``. The **oracle** variants ``is-oracle`` and ``ais-oracle`` fit their proposals to a fixed-seed
batch of the target's exact samples — information a user does not have — and are labelled so:

* ``is-oracle``: a full-covariance Gaussian with the samples' mean and covariance, standard deviations × 1.5;
* ``ais-oracle``: a diagonal Gaussian with the samples' mean and 1.5 × their standard deviation, 1000
  temperatures of HMC, with per-target overrides in :data:`AIS_SETTINGS` (the funnel).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ebmlab.errors import ConfigError
from ebmlab.estimators.ais import log_z_ais
from ebmlab.estimators.base import Estimate
from ebmlab.estimators.logz import log_z_enumerate, log_z_importance, log_z_quadrature
from ebmlab.estimators.proposals import GaussianProposal

__all__ = [
    "AIS_SETTINGS",
    "LOGZ_METHODS",
    "ORACLE_LABEL",
    "ORACLE_METHODS",
    "PT_DEFAULTS",
    "PT_SETTINGS",
    "LogZMethod",
    "ais_base",
    "applicable_methods",
    "estimate_log_z",
    "is_proposal",
    "register_logz_method",
]

_FIT_SEED = 12345  # seed of the exact samples the default proposals are fitted to (fixed: part of the method)
_FIT_SAMPLES = 4096

#: per-target AIS settings overriding the defaults (base ``std``; any :func:`ais` keyword). The funnel's
#: scale varies by e^{±7} along v, so one step size cannot serve neck and mouth: a ladder of smaller steps
#: is interleaved, and a moderate isotropic base is used instead of the fitted one (x has std ≈ 9.5 but
#: median scale ≈ 1).
AIS_SETTINGS: dict[str, dict[str, Any]] = {
    "funnel-10": {"std": 3.0, "step_ladder": (1.0, 0.3, 0.1, 0.03), "n_steps": 3},
}


@dataclass(frozen=True)
class LogZMethod:
    """A named log Z method.

    Attributes:
        name: registry key (``--method`` in the CLI).
        run: ``run(target, samples, seed) -> Estimate``; ``samples`` is the method's size knob.
        applies: whether the method can run on a target.
        requirement: what ``applies`` checks, in words (shown when it does not apply).
        default_samples: ``samples`` when none is given (None: the method's own default).
        samples_meaning: what ``samples`` counts (grid points per dimension, draws, chains, ...).
        on_device: whether ``run`` takes ``device=`` (and runs there); the others run on the CPU.
    """

    name: str
    run: Callable[..., Estimate]
    applies: Callable[[Any], bool]
    requirement: str
    default_samples: int | None
    samples_meaning: str
    on_device: bool = False


LOGZ_METHODS: dict[str, LogZMethod] = {}


def register_logz_method(method: LogZMethod) -> None:
    """Add (or replace) a method in the registry."""
    LOGZ_METHODS[method.name] = method


def applicable_methods(target: Any) -> list[str]:
    """Names of the registered methods that apply to ``target``."""
    return [name for name, m in LOGZ_METHODS.items() if m.applies(target)]


def estimate_log_z(
    target: Any, method: str, samples: int | None = None, seed: int = 0, device: str | torch.device = "cpu"
) -> Estimate:
    """Run a registered method on a target (on ``device`` where the method can); ConfigError naming the applicable
    methods if it does not apply."""
    if method not in LOGZ_METHODS:
        raise ConfigError(f"unknown log Z method {method!r}; valid: {', '.join(LOGZ_METHODS)}.")
    m = LOGZ_METHODS[method]
    if not m.applies(target):
        ok = applicable_methods(target)
        raise ConfigError(
            f"method {method!r} does not apply to target {getattr(target, 'name', target)!r} (it needs {m.requirement}); "
            f"methods that apply: {', '.join(ok) if ok else 'none'}."
        )
    n = m.default_samples if samples is None else samples
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 2):
        raise ConfigError(f"samples must be an int >= 2 ({m.samples_meaning}), got {n!r}.")
    if m.on_device:
        return m.run(target.to(device) if isinstance(target, torch.nn.Module) else target, n, seed, device=device)
    if torch.device(device).type != "cpu":
        ok = [k for k, v in LOGZ_METHODS.items() if v.on_device]
        raise ConfigError(f"--device: method {method!r} runs on the CPU only; on a device use one of {', '.join(ok)}.")
    return m.run(target, n, seed)


# ----------------------------------------------------------------------------- default proposals


def _fit_samples(target: Any) -> torch.Tensor:
    return target.sample(_FIT_SAMPLES, torch.Generator(device="cpu").manual_seed(_FIT_SEED), dtype=torch.float64)


def is_proposal(target: Any, scale: float = 1.5) -> GaussianProposal:
    """Full-covariance Gaussian fitted to exact samples, standard deviations × ``scale``."""
    prop = GaussianProposal.fit(_fit_samples(target), scale=scale)
    prop.dtype = torch.float64
    return prop


def ais_base(target: Any, scale: float = 1.5) -> GaussianProposal:
    """Diagonal Gaussian with the exact samples' mean and ``scale`` × their standard deviation (or the
    per-target ``std`` of :data:`AIS_SETTINGS`)."""
    settings = AIS_SETTINGS.get(getattr(target, "name", ""), {})
    x = _fit_samples(target).reshape(_FIT_SAMPLES, -1)
    std = settings.get("std")
    std = (
        (scale * x.std(0)).clamp_min(1e-3)
        if std is None
        else torch.full((x.shape[1],), float(std), dtype=torch.float64)
    )
    return GaussianProposal(x.mean(0).reshape(target.event_shape), std=std, dtype=torch.float64)


# ----------------------------------------------------------------------------- built-in methods


def _is_discrete(target: Any) -> bool:
    return callable(getattr(target, "states", None))


def _quad_ok(target: Any) -> bool:
    bounds = getattr(target, "bounds", None)
    return not _is_discrete(target) and bounds is not None and len(bounds) in (1, 2)


def _sampleable(target: Any) -> bool:
    return (
        not _is_discrete(target)
        and getattr(target, "has_exact_sample", False)
        and callable(getattr(target, "sample", None))
    )


def _run_quadrature(target: Any, samples: int | None, seed: int) -> Estimate:
    n = samples if samples is None or samples % 2 == 1 else samples + 1
    return log_z_quadrature(target, target.bounds, n_points=n, event_shape=tuple(target.event_shape))


def _run_enumerate(target: Any, samples: int | None, seed: int) -> Estimate:
    return log_z_enumerate(target, target.states())


def _run_is(target: Any, samples: int | None, seed: int) -> Estimate:
    assert samples is not None
    return log_z_importance(target, is_proposal(target), samples, seed=seed)


def _run_ais(target: Any, samples: int | None, seed: int) -> Estimate:
    assert samples is not None
    kwargs = {k: v for k, v in AIS_SETTINGS.get(getattr(target, "name", ""), {}).items() if k != "std"}
    kwargs = {"n_temperatures": 1000, "transition": "hmc", **kwargs}
    return log_z_ais(target, ais_base(target), n_chains=samples, seed=seed, **kwargs)


register_logz_method(
    LogZMethod(
        "quadrature",
        _run_quadrature,
        _quad_ok,
        "a 1-D or 2-D target with bounds",
        None,
        "grid points per dimension (default 4001 in 1-D, 401 in 2-D)",
    )
)
register_logz_method(
    LogZMethod(
        "enumerate", _run_enumerate, _is_discrete, "a discrete target with states()", None, "unused (all states)"
    )
)


def _user_runner(method: str) -> Callable[..., Estimate]:
    def run(target: Any, samples: int | None, seed: int, device: str | torch.device = "cpu") -> Estimate:
        from ebmlab.estimators.user import log_z

        extra: dict[str, Any] = {"n_temperatures": 1000} if method == "ais" else {}
        return log_z(target, tuple(target.event_shape), method, n=samples or 2, seed=seed, device=device, **extra)

    return run


#: the oracle variants (proposals fitted to exact samples), and what each is called in output
ORACLE_METHODS = {"is-oracle": "is", "ais-oracle": "ais"}
ORACLE_LABEL = "proposal fitted to 4096 exact samples of the built-in target (an oracle a user does not have)"

register_logz_method(
    LogZMethod(
        "is",
        _user_runner("is"),
        lambda t: _finite_on_base(t),
        "a continuous target whose energy is finite everywhere (mode search + Laplace Student-t mixture; no exact samples)",
        20_000,
        "draws",
        on_device=True,
    )
)
register_logz_method(
    LogZMethod(
        "ais",
        _user_runner("ais"),
        lambda t: _finite_on_base(t),
        "a continuous target whose energy is finite everywhere (HMC from the defensive base of the mode search; no exact samples)",
        256,
        "chains",
        on_device=True,
    )
)
register_logz_method(
    LogZMethod(
        "is-oracle",
        _run_is,
        _sampleable,
        f"a continuous target with exact samples ({ORACLE_LABEL})",
        100_000,
        "draws",
    )
)
register_logz_method(
    LogZMethod(
        "ais-oracle", _run_ais, _sampleable, f"a continuous target with exact samples ({ORACLE_LABEL})", 256, "chains"
    )
)


#: per-target settings of the ``pt`` (stepping-stone) method, overriding :data:`PT_DEFAULTS`
PT_SETTINGS: dict[str, dict[str, Any]] = {"funnel-10": {"base_scale": 3.0}}
PT_DEFAULTS: dict[str, Any] = {"n_rungs": 16, "n_rounds": 1000, "burn_in": 200, "adapt_rounds": 300}


def _run_pt(target: Any, samples: int | None, seed: int, device: str | torch.device = "cpu") -> Estimate:
    from ebmlab.estimators.stepping_stone import log_z_stepping_stone
    from ebmlab.samplers.tempering import default_base_scale

    settings = {**PT_DEFAULTS, "base_scale": default_base_scale(target), **PT_SETTINGS.get(target.name, {})}
    generator = torch.Generator(device=torch.device(device)).manual_seed(int(seed))  # the chains on the device
    return log_z_stepping_stone(target, target.event_shape, samples or 256, generator=generator, **settings)


def _run_flow(target: Any, samples: int | None, seed: int) -> Estimate:
    from ebmlab.methods.boltzmann_generator_tools import log_z_flow  # lazy: training machinery is heavy

    return log_z_flow(target, samples, seed)


def _continuous(target: Any) -> bool:
    return not _is_discrete(target) and callable(getattr(target, "energy", None))


register_logz_method(
    LogZMethod(
        "flow",
        _run_flow,
        _continuous,
        "a continuous target (trains a NICE Boltzmann generator by reverse KL, then importance-samples)",
        100_000,
        "importance-sampling draws after training",
    )
)


def _finite_on_base(target: Any) -> bool:
    """Continuous, and E finite at 64 draws of the ladder's base (not an energy infinite outside a support)."""
    if not _continuous(target):
        return False
    from ebmlab.samplers.tempering import default_base_scale

    scale = PT_SETTINGS.get(target.name, {}).get("base_scale", default_base_scale(target))
    gen = torch.Generator(device="cpu").manual_seed(0)  # asked before the run, of the target as built (on the CPU)
    x = scale * torch.randn((64, *target.event_shape), generator=gen, device="cpu")
    with torch.no_grad():
        return bool(torch.isfinite(target.energy(x)).all())


register_logz_method(
    LogZMethod(
        "pt",
        _run_pt,
        _finite_on_base,
        "a continuous target whose energy is finite everywhere (stepping-stone identity on a replica-exchange "
        "ladder from N(0, s²I), s = half its box)",
        256,
        "chains per rung",
        on_device=True,
    )
)
