"""Configs: YAML → typed dataclasses, one-line errors with key paths, overrides, registries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from ebmlab.errors import ConfigError
from ebmlab.experiments import (
    ExperimentConfig,
    build_experiment,
    get_factory,
    load_experiment_config,
    register_method,
    registered,
)
from ebmlab.schema import from_dict, to_dict
from ebmlab.training import GroupConfig, Losses, Method, TrainConfig
from ebmlab.yaml_io import apply_overrides, load_yaml, parse_override


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------ TrainConfig
def test_train_config_defaults_roundtrip_through_yaml_data():
    cfg = TrainConfig()
    data = to_dict(cfg)
    assert data["betas"] == [0.9, 0.999]  # tuples become YAML lists
    assert from_dict(TrainConfig, data, "train") == cfg


def test_wrong_type_names_full_key_path():
    assert _error(from_dict, TrainConfig, {"lr": "abc"}, "train") == "train.lr: expected a positive float, got 'abc'"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("lr", -0.1, "train.lr: expected a positive float, got -0.1"),
        ("lr", float("nan"), "train.lr: expected a positive float"),
        ("steps", 0, "train.steps: expected an integer >= 1, got 0"),
        ("steps", 2.5, "train.steps: expected an integer >= 1, got 2.5"),
        ("steps", True, "train.steps: expected an integer >= 1, got True"),
        ("progress", "yes", "train.progress: expected a boolean, got 'yes'"),
        (
            "optimizer",
            "adm",
            "train.optimizer: expected one of 'adam', 'adamw', 'sgd', got 'adm'; did you mean 'adam'?",
        ),
        ("betas", [0.9, 1.0], "train.betas: expected a list of 2 floats in [0, 1), got [0.9, 1.0]"),
        ("betas", [0.9], "train.betas: expected a list of 2 floats in [0, 1)"),
        ("max_abs", {"gap": -1}, "train.max_abs: expected a mapping of positive floats, got {'gap': -1}"),
        ("rollback_lr_factor", 0.0, "train.rollback_lr_factor: expected a float in (0, 1]"),
        ("grad_clip", "x", "train.grad_clip: expected a positive float or null, got 'x'"),
    ],
)
def test_bad_values(key, value, expected):
    assert _error(from_dict, TrainConfig, {key: value}, "train").startswith(expected)


def test_unknown_key_lists_valid_keys_with_suggestion():
    message = _error(from_dict, TrainConfig, {"lrr": 0.1}, "train")
    assert message.startswith("train.lrr: unknown key; did you mean 'lr'? valid keys: steps, batch_size")


def test_lenient_numbers_yaml_would_read_as_strings():
    cfg = from_dict(TrainConfig, {"lr": "1e-3", "steps": "1e4", "checkpoint_every": 1e3}, "train")
    assert (cfg.lr, cfg.steps, cfg.checkpoint_every) == (1e-3, 10000, 1000)
    assert isinstance(cfg.steps, int)


def test_nested_group_config_path_and_python_construction():
    cfg = from_dict(TrainConfig, {"groups": {"ebm": {"lr": 1e-4}}}, "train")
    assert cfg.groups["ebm"] == GroupConfig(lr=1e-4)
    assert _error(from_dict, TrainConfig, {"groups": {"ebm": {"lr": 0}}}, "train").startswith(
        "train.groups.ebm.lr: expected a positive float or null, got 0"
    )
    assert _error(TrainConfig, lr=-1).startswith("lr: expected a positive float")  # built in Python


# -------------------------------------------------------------------------------- YAML, overrides
def test_parse_override_values_are_yaml():
    assert parse_override("train.lr=1e-3") == (("train", "lr"), "1e-3")
    assert parse_override("train.progress=false") == (("train", "progress"), False)
    assert parse_override("energy.hidden=[64, 64]") == (("energy", "hidden"), [64, 64])
    assert parse_override("train.grad_clip=") == (("train", "grad_clip"), None)
    for bad in ("train.lr", "=3", "train..lr=1"):
        assert "--set expects key.path=value" in _error(parse_override, bad)


def test_apply_overrides_nested_and_copy():
    base = {"train": {"lr": 0.1}, "method": "gaussian-mle"}
    out = apply_overrides(base, ["train.lr=0.5", "train.groups.ebm.lr=1e-4", "method.dim=3", "name=x"])
    assert out == {
        "train": {"lr": 0.5, "groups": {"ebm": {"lr": "1e-4"}}},  # converted later by from_dict
        "method": {"name": "gaussian-mle", "dim": 3},
        "name": "x",
    }
    assert base == {"train": {"lr": 0.1}, "method": "gaussian-mle"}  # not mutated
    assert "train.lr is 0.1, not a section" in _error(apply_overrides, base, ["train.lr.x=1"])


def test_load_yaml_errors_name_file_and_line(tmp_path: Path):
    assert "not found" in _error(load_yaml, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: [1, 2\n")
    assert _error(load_yaml, bad).startswith(f"{bad}:3:1: invalid YAML")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    assert "expected a mapping of sections" in _error(load_yaml, scalar)


# ------------------------------------------------------------------------------ ExperimentConfig
def _experiment(**sections) -> dict:
    return {"method": {"name": "gaussian-mle", "dim": 2}, **sections}


def test_experiment_config_yaml_file_with_overrides(tmp_path: Path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: demo\nmethod: {name: gaussian-mle, dim: 2}\ntrain: {steps: 10, lr: 1e-2}\n")
    cfg = load_experiment_config(path, ["train.steps=20", "method.dim=3"])
    assert cfg.name == "demo" and cfg.train.steps == 20 and cfg.train.lr == 0.01
    assert cfg.method is not None and cfg.method.params == {"dim": 3}
    again = load_experiment_config(to_dict(cfg))
    assert to_dict(again) == to_dict(cfg)


def test_experiment_errors():
    assert _error(load_experiment_config, {}).startswith("method: missing required section")
    assert _error(load_experiment_config, _experiment(trian={})).startswith(
        "trian: unknown key; did you mean 'train'? valid keys: name, device, data"
    )
    assert _error(load_experiment_config, _experiment(), ["train.lr=abc"]) == (
        "train.lr: expected a positive float, got 'abc'"
    )
    assert _error(load_experiment_config, _experiment(device="gpu0")).startswith("device: expected a torch device")
    assert _error(load_experiment_config, {"method": {"dim": 2}}) == (
        "method.name: missing required key (the registered name of the component)"
    )


def test_component_names_and_keys_are_checked_against_the_registry():
    message = _error(load_experiment_config, {"method": {"name": "gaussian-mel"}})
    assert message.startswith("method.name: unknown method 'gaussian-mel'; did you mean 'gaussian-mle'?")
    assert "registered: " in message
    message = _error(load_experiment_config, _experiment(sampler={"name": "ula", "stepsize": 0.1}))
    assert message.startswith("sampler.stepsize: unknown key for sampler 'ula'; did you mean 'step_size'?")
    message = _error(load_experiment_config, _experiment(sampler={"name": "ula", "step_size": "big"}))
    assert message == "sampler.step_size: expected a float, got 'big'"
    message = _error(load_experiment_config, _experiment(sampler={"name": "ula"}))
    assert message == "sampler.step_size: missing required key for sampler 'ula'"
    message = _error(load_experiment_config, _experiment(method={"name": "cd", "event_shape": [2]}))
    assert message.startswith("method.event_shape: set by the experiment")


def test_build_experiment_injects_components_and_is_seeded():
    cfg = load_experiment_config(
        {
            "energy": {"name": "mlp", "dim": 2, "hidden": [8]},
            "sampler": {"name": "mala", "step_size": 0.1},
            "method": {"name": "gaussian-reverse-kl", "n_samples": 16},
            "train": {"seed": 3},
        }
    )
    a, b = build_experiment(cfg), build_experiment(cfg)
    assert a.method.dim == 2 and a.method.energy is a.energy and a.sampler.step_size == 0.1
    for p, q in zip(a.energy.parameters(), b.energy.parameters(), strict=True):
        assert torch.equal(p, q)  # weight init is seeded by train.seed
    state = torch.get_rng_state()
    build_experiment(load_experiment_config(to_dict(cfg), ["train.seed=4"]))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left untouched
    c = build_experiment(load_experiment_config(to_dict(cfg), ["train.seed=4"]))
    assert not torch.equal(next(a.energy.parameters()), next(c.energy.parameters()))


# ------------------------------------------------------------------------------------- registries
class _Const(Method):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(value))

    def losses(self, batch, ctx):
        return Losses({"model": self.value.square()})


def _const_factory(value: float = 1.0) -> _Const:
    return _Const(value)


def test_register_method_decorator_duplicates_and_no_import_paths():
    register_method("test-const", _const_factory)
    register_method("test-const", _const_factory)  # same factory again: idempotent
    assert get_factory("method", "test-const") is _const_factory
    assert "already registered" in _error(register_method, "test-const", lambda: None)
    cfg = load_experiment_config({"method": {"name": "test-const", "value": 2}})
    assert float(build_experiment(cfg).method.value.detach()) == 2.0
    message = _error(load_experiment_config, {"method": {"name": f"{__name__}:_const_factory", "value": 3}})
    assert message.startswith(f"method.name: unknown method '{__name__}:_const_factory'; a config cannot import code")


def test_broken_lazy_reference_only_loses_its_own_name(monkeypatch, tmp_path: Path):
    (tmp_path / "ebmlab_test_broken_plugin.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    register_method("test-broken", "ebmlab_test_broken_plugin:Thing", replace=True)
    assert {"gaussian-mle", "test-broken"} <= set(registered("method"))
    assert build_experiment(load_experiment_config({"method": {"name": "gaussian-mle", "dim": 2}})).method
    message = _error(get_factory, "method", "test-broken")
    assert "cannot be imported (RuntimeError: boom)" in message


def test_config_dataclasses_have_help_for_every_field():
    for cls in (TrainConfig, GroupConfig, ExperimentConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


def test_docs_hold_the_current_config_reference():
    from ebmlab.experiments.reference import reference_markdown

    docs = Path(__file__).resolve().parents[1] / "docs" / "training.md"
    assert reference_markdown() in docs.read_text(encoding="utf-8"), (
        "docs/training.md is out of date: paste the output of `python -m ebmlab.experiments.reference`"
    )


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_builds(path: Path):
    """A config in ``configs/`` that no longer matches the code fails here, not in a user's hands."""
    from ebmlab.experiments import build_experiment, load_experiment_config

    experiment = build_experiment(load_experiment_config(path))
    assert experiment.method is not None
