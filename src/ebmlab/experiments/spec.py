"""``ExperimentConfig``: one YAML file describing a whole run.

.. code-block:: yaml

    name: moons-cd
    device: cpu
    data:    {name: target, target: moons, n: 5000}
    energy:  {name: mlp, hidden: [64, 64]}
    sampler: {name: ula, step_size: 0.01}
    method:  {name: cd, n_steps: 20}
    train:   {steps: 2000, batch_size: 256, lr: 1e-3, checkpoint_every: 500}
    eval:    {name: sample-quality, n_samples: 1000}

Each component section is ``name`` (a registered class or function) plus its keyword arguments;
a method's parts may instead sit inside its section (``method: {name: cd, energy: {name: mlp}}``, see
:mod:`ebmlab.experiments.registry`); ``train`` is a :class:`~ebmlab.training.TrainConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ebmlab.errors import ConfigError
from ebmlab.experiments.registry import SECTIONS, UNKNOWN, check, registered
from ebmlab.schema import from_dict, meta, validate
from ebmlab.training.options import TrainConfig
from ebmlab.yaml_io import apply_overrides, load_yaml

__all__ = ["ComponentConfig", "ExperimentConfig", "check_components", "load_experiment_config", "resolve_device"]


@dataclass
class ComponentConfig:
    """A registered component: ``name`` plus its factory's keyword arguments (``params``).

    In YAML the parameters sit next to the name (``{name: ula, step_size: 0.01}``); a bare string
    (``sampler: ula``) means no parameters.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _from_mapping(cls, data: Any, path: str) -> ComponentConfig:
        if isinstance(data, str):
            return cls(data)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a mapping with a 'name' key (or just the name), got {data!r}")
        if "name" not in data:
            raise ConfigError(f"{path}.name: missing required key (the registered name of the component)")
        if not isinstance(data["name"], str):
            raise ConfigError(f"{path}.name: expected a string, got {data['name']!r}")
        return cls(data["name"], {str(k): v for k, v in data.items() if k != "name"})

    def _to_mapping(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}


@dataclass
class ExperimentConfig:
    """A whole experiment: components built by name, the training settings, an optional evaluator."""

    name: str | None = field(default=None, metadata=meta(help="experiment name (used for the default run directory)"))
    device: str = field(default="cpu", metadata=meta(help="torch device of the run: cpu, cuda, cuda:1, ... or auto"))
    data: ComponentConfig | None = field(default=None, metadata=meta(help="data source; null for energy-only methods"))
    energy: ComponentConfig | None = field(
        default=None, metadata=meta(help="energy: a neural energy, or an analytic target")
    )
    sampler: ComponentConfig | None = field(default=None, metadata=meta(help="MCMC kernel used by the method"))
    method: ComponentConfig | None = field(default=None, metadata=meta(help="learning method (required)"))
    train: TrainConfig = field(default_factory=TrainConfig, metadata=meta(help="training loop settings"))
    eval: ComponentConfig | None = field(
        default=None, metadata=meta(help="evaluator run every train.eval_every steps and at the end")
    )

    def __post_init__(self) -> None:
        validate(self)
        if self.method is None:
            raise ConfigError(
                "method: missing required section, e.g. `method: {name: cd}`; registered methods: "
                + ", ".join(registered("method"))
            )
        resolve_device(self.device)

    def _to_mapping(self) -> dict[str, Any]:
        from ebmlab.schema import to_dict

        out: dict[str, Any] = {"name": self.name, "device": self.device}
        for kind in ("data", "energy", "sampler", "method", "train", "eval"):
            value = getattr(self, kind)
            if value is not None:
                out[kind] = to_dict(value)
        return out


def resolve_device(device: str) -> torch.device:
    """``auto`` → cuda when available, else cpu; anything else must parse as a torch device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device: expected a torch device (cpu, cuda, cuda:0, mps) or auto, got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else "a CUDA build, but no GPU is visible"
        raise ConfigError(
            f"device: {device!r} asked for, but this torch {torch.__version__} is {build}; use cpu or auto."
        )
    return dev


def check_components(config: ExperimentConfig) -> None:
    """Resolve every component's name and check its keys and values (nested components included),
    without building anything."""
    context: dict[str, Any] = {"event_shape": None}
    for kind in (*SECTIONS, "method", "eval"):
        section = getattr(config, kind)
        if section is not None:
            check(kind, section.name, section.params, kind, context)
            if kind in SECTIONS:
                context |= {kind: UNKNOWN, "event_shape": UNKNOWN}


def load_experiment_config(
    path: str | Path | Mapping[str, Any], overrides: Sequence[str] = (), *, check: bool = True
) -> ExperimentConfig:
    """Read an experiment YAML (or a mapping), apply ``key.path=value`` overrides, validate everything."""
    data = dict(path) if isinstance(path, Mapping) else load_yaml(path)
    data = apply_overrides(data, overrides)
    config = from_dict(ExperimentConfig, data)
    if check:
        check_components(config)
    return config
