"""Build an experiment from its config, run it, and reload a finished run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ebmlab.errors import ConfigError
from ebmlab.experiments.registry import SECTIONS, build, event_shape_of
from ebmlab.experiments.spec import ExperimentConfig, load_experiment_config, resolve_device
from ebmlab.schema import to_dict
from ebmlab.training import Evaluate, Run, derive_seed, fit, load_weights, run_config

__all__ = ["Experiment", "build_experiment", "load_experiment", "load_run", "run_experiment"]


@dataclass
class Experiment:
    """The objects an :class:`ExperimentConfig` describes, built and wired together."""

    config: ExperimentConfig
    data: Any
    energy: Any
    sampler: Any
    method: nn.Module
    evaluate: Evaluate | None
    device: torch.device


def build_experiment(config: ExperimentConfig) -> Experiment:
    """Build data → energy → sampler → method → evaluator in that order, each by its registered name;
    each section is injected into the later ones by parameter name (see :mod:`ebmlab.experiments.registry`).

    Weight initialisation uses the global torch RNG seeded from ``train.seed`` inside
    ``torch.random.fork_rng``, so building is reproducible and leaves the caller's RNG untouched.
    """
    seed = config.train.seed
    device = resolve_device(config.device)
    context: dict[str, Any] = dict.fromkeys((*SECTIONS, "event_shape"))
    context |= {"seed": seed, "device": device, "config": config}
    built: dict[str, Any] = {}
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(derive_seed(seed, "init"))
        for kind in ("data", "energy", "sampler", "method", "eval"):
            section = getattr(config, kind)
            if section is None:
                built[kind] = None
                continue
            context["generator"] = torch.Generator(device="cpu").manual_seed(
                derive_seed(seed, "build", kind)
            )  # weights: CPU, moved
            obj = build(kind, section.name, section.params, context, kind)
            if isinstance(obj, nn.Module) or (kind == "data" and isinstance(obj, Tensor)):
                obj = obj.to(device)
            built[kind] = obj
            if kind in SECTIONS:
                context[kind] = obj
            context["event_shape"] = event_shape_of(context["data"], context["energy"])
    method = built["method"]
    if not isinstance(method, nn.Module) or not callable(getattr(method, "losses", None)):
        raise ConfigError(
            f"method.name: {config.method.name!r} built a {type(method).__name__}, not an nn.Module with "  # type: ignore[union-attr]
            "losses(batch, ctx) (an ebmlab.training.Method); check its factory."
        )
    return Experiment(config, built["data"], built["energy"], built["sampler"], method, built["eval"], device)


def run_experiment(config: ExperimentConfig, run_dir: str | Path, *, resume: bool = False) -> Run:
    """Build the experiment and :func:`~ebmlab.training.fit` it into ``run_dir``."""
    experiment = build_experiment(config)
    return fit(
        experiment.method,
        experiment.data,
        config.train,
        evaluate=experiment.evaluate,
        run_dir=run_dir,
        resume=resume,
        experiment_config=to_dict(config),
    )


def load_experiment(run_dir: str | Path, device: str | None = None) -> Experiment:
    """Rebuild a run's experiment from its config (the latest checkpoint's checksummed copy) and load the latest
    checkpoint into the method; on ``device`` when given (a run trained on a GPU, read on a laptop), else on the
    config's."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a run directory; pass the --out directory of a run.")
    data = run_config(run_dir)  # the checkpoint's copy wins
    experiment = build_experiment(load_experiment_config(data if device is None else {**data, "device": str(device)}))
    load_weights(experiment.method, run_dir)
    experiment.method.eval()
    return experiment


def load_run(run_dir: str | Path, device: str | None = None) -> tuple[ExperimentConfig, nn.Module]:
    """``(config, method)`` of a run directory, the method holding the latest checkpoint's weights
    (in eval mode), on ``device`` if given (else the config's). Sample from it with ``method.sample(n, generator)``
    where the method has one, the generator on the method's device."""
    experiment = load_experiment(run_dir, device)
    return experiment.config, experiment.method
