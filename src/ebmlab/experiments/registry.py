"""Registries: name → factory, for data, energies, samplers, methods and evaluators.

Other modules register into them (``register_method("cd", factory)``); a config then builds the
object by name. A factory is any callable; its keyword parameters are filled from the config
section (converted and checked against the factory's type hints, unknown keys rejected with the
full key path), except for these **injected** names, which the experiment supplies:

``data``         the data tensor/loader built from the ``data:`` section (or None)
``energy``       the object built from the ``energy:`` section (or None)
``sampler``      the MCMC kernel built from the ``sampler:`` section (or None)
``event_shape``  shape of one data point (from the data, else the energy's ``event_shape``) or None
``generator``    a ``torch.Generator`` seeded for this component (derived from ``train.seed``)
``seed``         ``train.seed``
``device``       the ``torch.device`` of the run
``config``       the whole :class:`~ebmlab.experiments.ExperimentConfig`

Modules that register lazily-available components (``ebmlab.methods.*``, ``ebmlab.data``,
``ebmlab.metrics``) are imported only when a name is not found, and an import failure only makes
their names unavailable (reported in the error) instead of breaking the CLI. A name of the form
``"package.module:function"`` is imported directly, for components outside ebmlab.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import typing
from collections.abc import Callable, Mapping
from typing import Any

from ebmlab.config import convert, suggest
from ebmlab.errors import ConfigError

__all__ = [
    "INJECTED",
    "KINDS",
    "bind",
    "get_factory",
    "register",
    "register_data",
    "register_energy",
    "register_evaluator",
    "register_method",
    "register_sampler",
    "registered",
]

log = logging.getLogger("ebmlab.experiments")

KINDS = ("data", "energy", "sampler", "method", "eval")
INJECTED = ("data", "energy", "sampler", "event_shape", "generator", "seed", "device", "config")
#: modules imported (in order) the first time a name of that kind is looked up and not found
PLUGINS: dict[str, tuple[str, ...]] = {
    "data": ("ebmlab.experiments.builtin", "ebmlab.data"),
    "energy": ("ebmlab.experiments.builtin",),
    "sampler": ("ebmlab.experiments.builtin",),
    "method": (
        "ebmlab.experiments.builtin",
        "ebmlab.methods",
        "ebmlab.methods.contrastive_divergence",
        "ebmlab.methods.boltzmann_generator",
        "ebmlab.methods.rbm",
    ),
    "eval": ("ebmlab.experiments.builtin", "ebmlab.metrics"),
}
_NOUNS = {"data": "data source", "energy": "energy", "sampler": "sampler", "method": "method", "eval": "evaluator"}

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {kind: {} for kind in KINDS}
_TRIED: set[str] = set()
_IMPORT_ERRORS: dict[str, str] = {}

Factory = Callable[..., Any]


def register(kind: str, name: str, factory: Factory | None = None, *, replace: bool = False) -> Any:
    """Register ``factory`` under ``name`` for ``kind``; without ``factory``, a decorator."""
    if kind not in _REGISTRY:
        raise ConfigError(f"unknown registry {kind!r}; registries: {', '.join(KINDS)}")
    if factory is None:
        return lambda f: register(kind, name, f, replace=replace)
    if not callable(factory):
        raise ConfigError(f"register_{kind}({name!r}, ...): the factory must be callable, got {factory!r}")
    current = _REGISTRY[kind].get(name)
    if current is not None and current is not factory and not replace:
        raise ConfigError(
            f"{_NOUNS[kind]} {name!r} is already registered (by {_qualname(current)}); pick another name or "
            "pass replace=True."
        )
    _REGISTRY[kind][name] = factory
    return factory


def register_data(name: str, factory: Factory | None = None, *, replace: bool = False) -> Any:
    """Register a data source: ``factory(**params) -> Tensor | DataLoader-like``."""
    return register("data", name, factory, replace=replace)


def register_energy(name: str, factory: Factory | None = None, *, replace: bool = False) -> Any:
    """Register an energy: ``factory(**params) -> energy`` (a callable ``(n, *event) -> (n,)``)."""
    return register("energy", name, factory, replace=replace)


def register_sampler(name: str, factory: Factory | None = None, *, replace: bool = False) -> Any:
    """Register an MCMC kernel: ``factory(**params) -> Sampler``."""
    return register("sampler", name, factory, replace=replace)


def register_method(name: str, factory: Factory | None = None, *, replace: bool = False) -> Any:
    """Register a learning method: ``factory(**params) -> Method`` (an ``nn.Module`` with ``losses``)."""
    return register("method", name, factory, replace=replace)


def register_evaluator(name: str, factory: Factory | None = None, *, replace: bool = False) -> Any:
    """Register an evaluator: ``factory(**params) -> evaluate(method, step) -> {name: float}``."""
    return register("eval", name, factory, replace=replace)


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _load_plugins(kind: str) -> None:
    for module in PLUGINS[kind]:
        if module in _TRIED:
            continue
        _TRIED.add(module)
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
                continue  # the plug-in itself does not exist (yet): nothing to register
            _IMPORT_ERRORS[module] = f"{type(exc).__name__}: {exc}"
            log.warning("could not import %s: %s", module, exc)
        except Exception as exc:  # a broken plug-in must not break the other names
            _IMPORT_ERRORS[module] = f"{type(exc).__name__}: {exc}"
            log.warning("could not import %s: %s", module, exc)


def registered(kind: str) -> list[str]:
    """The names registered for ``kind`` (importing the plug-in modules first)."""
    _load_plugins(kind)
    return sorted(_REGISTRY[kind])


def get_factory(kind: str, name: str, path: str | None = None) -> Factory:
    """The factory registered as ``name`` (or imported from ``"module:attr"``)."""
    path = path or f"{kind}.name"
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{path}: cannot import {name!r} ({type(exc).__name__}: {exc})") from None
    if name not in _REGISTRY[kind]:
        _load_plugins(kind)
    if name in _REGISTRY[kind]:
        return _REGISTRY[kind][name]
    names = sorted(_REGISTRY[kind])
    broken = [f"{m} ({e})" for m, e in _IMPORT_ERRORS.items() if m in PLUGINS[kind]]
    note = f" Modules that failed to import: {'; '.join(broken)}." if broken else ""
    raise ConfigError(
        f"{path}: unknown {_NOUNS[kind]} {name!r}; {suggest(name, names)}registered: {', '.join(names) or 'none'}."
        + note
    )


def _hints(factory: Factory) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: accept values as given
        return {}


def bind(
    kind: str, name: str, factory: Factory, params: Mapping[str, Any], context: Mapping[str, Any], path: str
) -> dict[str, Any]:
    """Keyword arguments for ``factory``: config ``params`` (converted, checked) plus injected ``context``."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return dict(params)
    hints = _hints(factory)
    parameters = {n: p for n, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    settable = [n for n in parameters if n not in context]
    kwargs: dict[str, Any] = {}
    for key in params:
        if key in context and key in parameters:
            raise ConfigError(
                f"{path}.{key}: set by the experiment (injected from its `{key}` section or settings); remove it here"
            )
        if key not in parameters and not var_kw:
            raise ConfigError(
                f"{path}.{key}: unknown key for {_NOUNS[kind]} {name!r}; {suggest(key, settable)}"
                f"valid keys: {', '.join(settable) or 'none'}"
            )
    for pname, p in parameters.items():
        if pname in context:
            kwargs[pname] = context[pname]
        elif pname in params:
            kwargs[pname] = convert(params[pname], hints.get(pname, Any), f"{path}.{pname}")
        elif p.default is p.empty:
            raise ConfigError(f"{path}.{pname}: missing required key for {_NOUNS[kind]} {name!r}")
    if var_kw:
        kwargs |= {k: v for k, v in params.items() if k not in parameters}
    return kwargs
