"""Experiments: YAML configs → typed, validated dataclasses → built objects → ``fit`` → a run directory.

>>> from ebmlab.experiments import load_experiment_config
>>> cfg = load_experiment_config({"method": {"name": "gaussian-mle", "dim": 2}}, ["train.lr=0.01"])
>>> cfg.train.lr
0.01

Other modules register components by name (``register_method("cd", factory)``); see
:mod:`ebmlab.experiments.registry` for how factories receive their config keys and the injected
``data``, ``energy``, ``sampler``, ``event_shape``, ``generator``, ``seed``, ``device``, ``config``.
"""

from ebmlab.experiments.config import (
    ComponentConfig,
    ExperimentConfig,
    check_components,
    load_experiment_config,
    resolve_device,
)
from ebmlab.experiments.registry import (
    get_factory,
    register,
    register_data,
    register_energy,
    register_evaluator,
    register_method,
    register_sampler,
    registered,
)
from ebmlab.experiments.run import Experiment, build_experiment, load_experiment, load_run, run_experiment

__all__ = [
    "ComponentConfig",
    "Experiment",
    "ExperimentConfig",
    "build_experiment",
    "check_components",
    "get_factory",
    "load_experiment",
    "load_experiment_config",
    "load_run",
    "register",
    "register_data",
    "register_energy",
    "register_evaluator",
    "register_method",
    "register_sampler",
    "registered",
    "resolve_device",
    "run_experiment",
]
