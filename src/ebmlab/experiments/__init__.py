"""Experiments: YAML configs → typed, validated dataclasses → built objects → ``fit`` → a run directory.

>>> from ebmlab.experiments import load_experiment_config
>>> cfg = load_experiment_config({"method": {"name": "gaussian-mle", "dim": 2}}, ["train.lr=0.01"])
>>> cfg.train.lr
0.01

Components are registered by name in :mod:`ebmlab.experiments.builtin` (one line each, e.g.
``register_method("cd", ContrastiveDivergence)``); see :mod:`ebmlab.experiments.registry` for how a
class receives its config keys, its nested components and the injected ``data``, ``energy``,
``sampler``, ``event_shape``, ``generator``, ``seed``, ``device``, ``config``.
"""

from ebmlab.experiments.registry import (
    allow_import,
    get_factory,
    register,
    register_data,
    register_density,
    register_energy,
    register_evaluator,
    register_kind,
    register_method,
    register_negatives,
    register_sampler,
    registered,
)
from ebmlab.experiments.run import Experiment, build_experiment, load_experiment, load_run, run_experiment
from ebmlab.experiments.spec import (
    ComponentConfig,
    ExperimentConfig,
    check_components,
    load_experiment_config,
    resolve_device,
)

__all__ = [
    "ComponentConfig",
    "Experiment",
    "ExperimentConfig",
    "allow_import",
    "build_experiment",
    "check_components",
    "get_factory",
    "load_experiment",
    "load_experiment_config",
    "load_run",
    "register",
    "register_data",
    "register_density",
    "register_energy",
    "register_evaluator",
    "register_kind",
    "register_method",
    "register_negatives",
    "register_sampler",
    "registered",
    "resolve_device",
    "run_experiment",
]
