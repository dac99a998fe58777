"""Registries: name → class or function, per kind of component (data, energy, sampler, method, ...).

A registered object is built from a config section: ``{name: ula, step_size: 0.01}`` calls the object
registered as ``"ula"`` with the section's other keys as keyword arguments, converted and checked
against its signature and type hints (unknown keys rejected with the full key path and a suggestion).
Classes are registered directly; no factory re-lists their arguments.

**Components.** A parameter whose value is a mapping with a ``name`` key is itself a component,
built first and passed in by parameter name::

    method: {name: cd, energy: {name: mlp, hidden: [64]}, sampler: {name: mala, step_size: 0.1}}

Its kind is the parameter's name when that is a kind (``energy``, ``sampler``, ``negatives``,
``density``, ...), else what the class declares in ``component_kinds = {"critic": "energy"}``.

**Injected names**, supplied by the experiment, not the config: ``generator`` (a ``torch.Generator``
seeded per component), ``seed`` (``train.seed``), ``device``, ``config`` (the whole experiment),
``event_shape`` (one data point's shape), and the top-level sections ``data``, ``energy``,
``sampler`` when present. A required ``dim`` defaults to the data's flat dimension.

**Nothing in a config imports code.** Names resolve only against what Python code registered:
``register_method("cd", ContrastiveDivergence)``, or lazily ``register_method("cd",
"ebmlab.methods.contrastive_divergence:ContrastiveDivergence")`` (a reference written in code and
imported on first use; a module that fails to import only loses its own names). User modules are
imported by an explicit command-line act, ``ebmlab --allow-import mypkg.energies ...``
(:func:`allow_import`), never from a config or a run directory.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import sys
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ebmlab.errors import ConfigError
from ebmlab.schema import convert, suggest

__all__ = [
    "INJECTED",
    "KINDS",
    "SECTIONS",
    "UNKNOWN",
    "allow_import",
    "bind",
    "build",
    "check",
    "event_shape_of",
    "get_factory",
    "is_component",
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
]

#: kind → the noun used in messages; :func:`register_kind` adds more
KINDS: dict[str, str] = {
    "data": "data source",
    "energy": "energy",
    "sampler": "sampler",
    "negatives": "negatives",
    "density": "density",
    "method": "method",
    "eval": "evaluator",
}
#: names always supplied by the experiment
INJECTED = ("event_shape", "generator", "seed", "device", "config")
#: top-level sections injected into components by parameter name when the section is present
SECTIONS = ("data", "energy", "sampler")
#: the module registering every built-in name (imported on first lookup)
CATALOG = "ebmlab.experiments.builtin"

Factory = Callable[..., Any]
_REGISTRY: dict[str, dict[str, Factory | str]] = {kind: {} for kind in KINDS}


def register_kind(kind: str, noun: str | None = None) -> None:
    """Add a component kind (e.g. ``"network"``); its parameters then become components by name."""
    KINDS.setdefault(kind, noun or kind)
    _REGISTRY.setdefault(kind, {})


def register(kind: str, name: str, obj: Factory | str | None = None, *, replace: bool = False) -> Any:
    """Register ``obj`` (a class, a function, or a ``"module:attr"`` reference written in code) as
    ``name`` of ``kind``; without ``obj``, a decorator."""
    if kind not in _REGISTRY:
        raise ConfigError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)} (or register_kind first)")
    if obj is None:
        return lambda f: register(kind, name, f, replace=replace)
    if not (callable(obj) or (isinstance(obj, str) and obj.count(":") == 1)):
        raise ConfigError(f"register({kind!r}, {name!r}, ...): expected a class, a function or 'module:attr'")
    current = _REGISTRY[kind].get(name)
    if current is not None and current is not obj and current != obj and not replace:
        raise ConfigError(
            f"{KINDS[kind]} {name!r} is already registered (as {_label(current)}); pick another name or replace=True."
        )
    _REGISTRY[kind][name] = obj
    return obj


def register_data(name: str, obj: Factory | str | None = None, *, replace: bool = False) -> Any:
    """Register a data source: ``obj(**params) -> Tensor | DataLoader-like``."""
    return register("data", name, obj, replace=replace)


def register_energy(name: str, obj: Factory | str | None = None, *, replace: bool = False) -> Any:
    """Register an energy: ``obj(**params)`` is a callable ``(n, *event) -> (n,)``."""
    return register("energy", name, obj, replace=replace)


def register_sampler(name: str, obj: Factory | str | None = None, *, replace: bool = False) -> Any:
    """Register an MCMC kernel class (``init``/``step``)."""
    return register("sampler", name, obj, replace=replace)


def register_negatives(name: str, obj: Factory | str | None = None, *, replace: bool = False) -> Any:
    """Register a source of negative samples."""
    return register("negatives", name, obj, replace=replace)


def register_density(name: str, obj: Factory | str | None = None, *, replace: bool = False) -> Any:
    """Register a density (``sample(n, generator)``, ``log_prob(x)``)."""
    return register("density", name, obj, replace=replace)


def register_method(name: str, obj: Factory | str | None = None, *, replace: bool = False) -> Any:
    """Register a learning method: an ``ebmlab.training.Method`` class (or a function returning one)."""
    return register("method", name, obj, replace=replace)


def register_evaluator(name: str, obj: Factory | str | None = None, *, replace: bool = False) -> Any:
    """Register an evaluator: ``obj(**params) -> evaluate(method, step) -> {name: float}``."""
    return register("eval", name, obj, replace=replace)


def _label(obj: Any) -> str:
    return obj if isinstance(obj, str) else f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}"


def _load_catalog() -> None:
    if CATALOG not in sys.modules:
        importlib.import_module(CATALOG)


def registered(kind: str) -> list[str]:
    """The names registered for ``kind``."""
    _load_catalog()
    return sorted(_REGISTRY.get(kind, {}))


def get_factory(kind: str, name: str, path: str | None = None) -> Factory:
    """The class or function registered as ``name`` (importing a lazy reference on first use)."""
    path = path or f"{kind}.name"
    _load_catalog()
    entries = _REGISTRY[kind]
    if name not in entries:
        names = sorted(entries)
        code = (
            "; a config cannot import code: register the component in Python and pass "
            "`--allow-import MODULE` (or FILE.py) on the command line"
            if ":" in name
            else ""
        )
        raise ConfigError(
            f"{path}: unknown {KINDS[kind]} {name!r}{code}; {suggest(name, names)}"
            f"registered: {', '.join(names) or 'none'}."
        )
    obj = entries[name]
    if isinstance(obj, str):
        module, _, attr = obj.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except Exception as exc:  # a broken module loses its own names only
            raise ConfigError(
                f"{path}: {KINDS[kind]} {name!r} is registered as {obj} but it cannot be imported "
                f"({type(exc).__name__}: {' '.join(str(exc).split())})"
            ) from None
        entries[name] = obj
    return obj


def allow_import(spec: str) -> None:
    """Import a user's module (``pkg.mod``) or file (``path/to/file.py``) so that it registers its
    components. Called only from the command line's ``--allow-import``, never from a config."""
    try:
        if spec.endswith(".py"):
            file = Path(spec)
            if not file.is_file():
                raise ConfigError(f"--allow-import {spec}: no such file")
            name = f"ebmlab_user_{file.stem}"
            loaded = sys.modules.get(name)
            if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve() == file.resolve():
                return  # already imported (its components are registered)
            module_spec = importlib.util.spec_from_file_location(name, file)
            if module_spec is None or module_spec.loader is None:
                raise ConfigError(f"--allow-import {spec}: cannot load it as a Python module")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        else:
            importlib.import_module(spec)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"--allow-import {spec}: {type(exc).__name__}: {' '.join(str(exc).split())}") from None


# ------------------------------------------------------------------------------------- binding
def is_component(value: Any) -> bool:
    """Whether a config value is a component spec (a mapping with a string ``name``)."""
    return isinstance(value, Mapping) and isinstance(value.get("name"), str)


def _hints(factory: Factory) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: accept values as given
        return {}


def _kind_of(factory: Factory, param: str) -> str | None:
    declared = getattr(factory, "component_kinds", None) or {}
    kind = declared.get(param, param)
    return kind if kind in _REGISTRY else None


def _object_type(tp: Any) -> Any:
    """The class a parameter expects when it is an object no config value can express (else None)."""
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    options = [a for a in typing.get_args(tp) if a is not type(None)] if union else [tp]
    plain = (bool, int, float, str, list, tuple, dict, Any, object)
    if any(o in plain or typing.get_origin(o) is not None or not inspect.isclass(o) for o in options):
        return None
    return options[0]


def bind(
    kind: str,
    name: str,
    factory: Factory,
    params: Mapping[str, Any],
    context: Mapping[str, Any],
    path: str,
    *,
    build_components: bool = True,
) -> dict[str, Any]:
    """Keyword arguments for ``factory``: config ``params`` (converted, checked; component specs built)
    plus the injected ``context``. With ``build_components=False`` components are checked, not built."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return dict(params)
    hints = _hints(factory)
    parameters = {n: p for n, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    injected = {k: v for k, v in context.items() if k in INJECTED or (k in SECTIONS and v is not None)}
    settable = [n for n in parameters if n not in injected]
    noun = KINDS[kind]
    for key in params:
        if key in injected and key in parameters:
            where = f"the top-level `{key}:` section" if key in SECTIONS else "the experiment"
            raise ConfigError(f"{path}.{key}: set by {where}; give it in one place only")
        if key not in parameters and not var_kw:
            raise ConfigError(
                f"{path}.{key}: unknown key for {noun} {name!r}; {suggest(key, settable)}"
                f"valid keys: {', '.join(settable) or 'none'}"
            )
    kwargs: dict[str, Any] = {}
    local = dict(context)
    for pname, p in parameters.items():
        key_path = f"{path}.{pname}"
        if pname in injected:
            kwargs[pname] = injected[pname]
        elif pname in params:
            value = params[pname]
            sub_kind = _kind_of(factory, pname)
            if sub_kind is not None and is_component(value):
                sub = {k: v for k, v in value.items() if k != "name"}
                if build_components:
                    kwargs[pname] = built = build(sub_kind, value["name"], sub, local, key_path)
                    if sub_kind in SECTIONS:
                        local[sub_kind] = built
                        local["event_shape"] = local.get("event_shape") or event_shape_of(None, built)
                else:
                    check(sub_kind, value["name"], sub, key_path, local)
                    if sub_kind in SECTIONS:
                        local[sub_kind] = UNKNOWN
                        local["event_shape"] = local.get("event_shape") or UNKNOWN
                continue
            expected = _object_type(hints.get(pname, Any))
            if expected is not None and value is not None and not isinstance(value, expected):
                kinds = f" (a {KINDS[sub_kind]}: registered {', '.join(registered(sub_kind))})" if sub_kind else ""
                raise ConfigError(
                    f"{key_path}: expected a {expected.__name__} component `{{name: ..., ...}}`{kinds}, got {value!r}"
                )
            kwargs[pname] = convert(value, hints.get(pname, Any), key_path)
        elif pname == "dim" and p.default is p.empty and context.get("event_shape") is not None:
            shape = context["event_shape"]
            kwargs[pname] = None if shape is UNKNOWN else math.prod(shape)
        elif p.default is p.empty:
            hint = f"; give `{pname}:` here or as a top-level section" if pname in SECTIONS else ""
            raise ConfigError(f"{key_path}: missing required key for {noun} {name!r}{hint}")
    if var_kw:
        kwargs |= {k: v for k, v in params.items() if k not in parameters}
    return kwargs


def build(kind: str, name: str, params: Mapping[str, Any], context: Mapping[str, Any], path: str) -> Any:
    """The component ``name`` of ``kind`` built from ``params`` (its nested components first)."""
    factory = get_factory(kind, name, f"{path}.name")
    return factory(**bind(kind, name, factory, params, context, path))


class _Unknown:
    """Stands for an object that :func:`check` does not build."""

    def __repr__(self) -> str:
        return "<not built while checking>"


UNKNOWN: Any = _Unknown()


def event_shape_of(data: Any, energy: Any) -> tuple[int, ...] | None:
    """One data point's shape: from a data tensor, else the energy's ``event_shape`` or ``(dim,)``."""
    shape = getattr(data, "shape", None)
    if shape is not None and len(shape) >= 1 and not isinstance(data, _Unknown):
        return tuple(int(s) for s in shape[1:])
    shape = getattr(energy, "event_shape", None)
    if shape is not None:
        return tuple(shape)
    dim = getattr(energy, "dim", None)  # e.g. MLPEnergy
    return (dim,) if isinstance(dim, int) else None


def check(kind: str, name: str, params: Mapping[str, Any], path: str, context: Mapping[str, Any] | None = None) -> None:
    """Resolve ``name`` and check ``params`` (nested components included) without building anything;
    ``context`` holds :data:`UNKNOWN` for each section that will be built."""
    factory = get_factory(kind, name, f"{path}.name")
    dummy = dict.fromkeys(INJECTED) | dict(context or {})
    bind(kind, name, factory, params, dummy, path, build_components=False)
