"""Typed, validated configuration: plain mappings ↔ dataclasses, with one-line errors naming the key path.

A config section is a dataclass; each field's type hint says what it accepts and an optional
:class:`Check` (attached with :func:`meta`) constrains its value. :func:`from_dict` turns a plain
mapping (parsed YAML, see :mod:`ebmlab.yaml_io`) into the dataclass, converting every value and naming
the full key path when something is wrong::

    train.lr: expected a positive float, got 'abc'
    train.lrr: unknown key; did you mean 'lr'? Valid keys: steps, batch_size, seed, ...

Conversions are deliberately strict (no silent casts): an ``int`` field accepts integers and
integral floats (``1e4``), a ``float`` field accepts numbers and numeric strings (PyYAML reads
``1e-3``, without a dot, as a string), ``bool`` accepts only true/false. Sections validate
themselves on construction too (call :func:`validate` from ``__post_init__``), so a config built
in Python gets the same errors as one read from YAML.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

from ebmlab.errors import ConfigError

__all__ = [
    "Check",
    "at_least",
    "convert",
    "describe",
    "from_dict",
    "interval",
    "meta",
    "nonnegative",
    "positive",
    "suggest",
    "to_dict",
    "validate",
]


# ----------------------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class Check:
    """A constraint on a converted value and the words used to describe it.

    ``adjective`` goes before the type noun ("a *positive* float"), ``suffix`` after it
    ("an integer *>= 1*").
    """

    test: Callable[[Any], bool]
    adjective: str = ""
    suffix: str = ""

    def __call__(self, value: Any) -> bool:
        """Whether ``value`` passes; containers pass when every element (every mapping value) does."""
        if isinstance(value, Mapping):
            return all(self(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return all(self(v) for v in value)
        try:
            return bool(self.test(value))
        except TypeError:
            return False


def positive(allow_inf: bool = False) -> Check:
    """``0 < v`` (and finite unless ``allow_inf``)."""
    return Check(lambda v: v > 0 and (allow_inf or v < math.inf), adjective="positive")


def nonnegative() -> Check:
    """``0 <= v < inf``."""
    return Check(lambda v: 0 <= v < math.inf, adjective="non-negative")


def at_least(k: int) -> Check:
    """``v >= k``."""
    return Check(lambda v: v >= k, suffix=f">= {k}")


def interval(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Check:
    """``v`` in the interval between ``lo`` and ``hi`` (closed unless marked open)."""

    def inside(v: Any) -> bool:
        return (lo < v if lo_open else lo <= v) and (v < hi if hi_open else v <= hi)

    text = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    return Check(inside, suffix=f"in {text}")


def meta(*, help: str, check: Check | None = None) -> dict[str, Any]:
    """Field metadata for a config dataclass: ``field(default=..., metadata=meta(help=..., check=...))``.

    ``help`` is shown in the config reference; ``check`` constrains the converted value.
    """
    return {"help": help, "check": check}


# ------------------------------------------------------------------------------------ descriptions
def _noun(tp: Any, plural: bool = False, check: Check | None = None) -> str:
    """The type's noun phrase without article; a check's words attach to the innermost element."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, Sequence, tuple) or tp in (list, tuple):
        head = "lists" if plural else "list"
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"{head} of {len(args)} {_noun(args[0], len(args) > 1, check)}"
        return f"{head} of {_noun(args[0], True, check) if args else 'values'}"
    if origin in (dict, Mapping) or tp is dict:
        head = "mappings" if plural else "mapping"
        return f"{head} of {_noun(args[1], True, check) if args else 'values'}"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_noun(a, plural, check) for a in args if a is not type(None))
    names = {bool: "boolean", int: "integer", float: "float", str: "string"}
    if tp in names:
        word = names[tp]
    elif dataclasses.is_dataclass(tp):
        word = "mapping"
    else:
        word = getattr(tp, "__name__", str(tp))
    word += "s" if plural else ""
    if check is not None and check.adjective:
        word = f"{check.adjective} {word}"
    if check is not None and check.suffix:
        word = f"{word} {check.suffix}"
    return word


def _article(text: str) -> str:
    return f"an {text}" if text[:1] in "aeiou" else f"a {text}"


def describe(tp: Any, check: Check | None = None) -> str:
    """Words for what a field accepts, e.g. ``a positive float``, ``an integer >= 1 or null``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return _noun(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        text = " or ".join(describe(a, check) for a in options)
        return text + (" or null" if len(options) < len(args) else "")
    if tp is Any:
        return "any value"
    return _article(_noun(tp, False, check))


def suggest(name: str, valid: Iterable[str]) -> str:
    """``did you mean 'x'? `` for the closest valid name (difflib), or an empty string."""
    close = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _fail(path: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{path or 'config'}: expected {expected}, got {value!r}")


# ------------------------------------------------------------------------------------- conversion
def convert(value: Any, tp: Any, path: str, check: Check | None = None) -> Any:
    """Convert ``value`` to type ``tp`` or raise a ConfigError naming ``path``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    expected = describe(tp, check)
    if tp is Any or tp is object:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1 and dataclasses.is_dataclass(options[0]):
            return convert(value, options[0], path)  # keep the section's own, more precise error
        for option_tp in options:
            try:
                return convert(value, option_tp, path)
            except ConfigError:
                continue
        raise _fail(path, expected, value)
    if origin is Literal:
        if value in args:
            return value
        hint = suggest(value, [str(a) for a in args]) if isinstance(value, str) else ""
        raise ConfigError(f"{path}: expected {expected}, got {value!r}" + (f"; {hint.strip()}" if hint else ""))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(path, expected, value)
    if tp is int:
        return _to_int(value, path, expected)
    if tp is float:
        return _to_float(value, path, expected)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(path, expected, value)
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        return _to_sequence(value, tp, path, expected)
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise _fail(path, expected, value)
        key_tp, val_tp = args if args else (Any, Any)
        return {convert(k, key_tp, f"{path}.{k}"): convert(v, val_tp, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, path)
    return value  # an annotation we do not check (a module, a callable, ...)


def _to_int(value: Any, path: str, expected: str) -> int:
    if isinstance(value, bool):
        raise _fail(path, expected, value)
    if isinstance(value, int):
        return value
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise _fail(path, expected, value) from None
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        return int(number)
    raise _fail(path, expected, value)


def _to_float(value: Any, path: str, expected: str) -> float:
    if isinstance(value, bool):
        raise _fail(path, expected, value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise _fail(path, expected, value) from None
    else:
        raise _fail(path, expected, value)
    if math.isnan(number):
        raise _fail(path, expected, value)
    return number


def _to_sequence(value: Any, tp: Any, path: str, expected: str) -> Any:
    if not isinstance(value, (list, tuple)):
        raise _fail(path, expected, value)
    origin, args = typing.get_origin(tp) or tp, typing.get_args(tp)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise _fail(path, expected, value)
        return tuple(convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    item_tp = args[0] if args else Any
    items = [convert(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    return items if origin is list else tuple(items)


# ------------------------------------------------------------------------------- dataclass <-> dict
def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _fields(cls: type) -> tuple[list[dataclasses.Field], dict[str, Any]]:
    return [f for f in dataclasses.fields(cls) if f.init], typing.get_type_hints(cls)


def from_dict(cls: type, data: Mapping[str, Any] | None, path: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, converting and checking every value.

    Unknown keys, missing required keys, wrong types and out-of-range values raise a one-line
    :class:`ConfigError` naming the full key path (``path`` is the prefix, e.g. ``"train"``).
    A class may define ``_from_mapping(data, path)`` to accept another layout.
    """
    custom = getattr(cls, "_from_mapping", None)
    if custom is not None:
        return custom(data, path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or 'config'}: expected a mapping of keys to values, got {data!r}")
    fields, hints = _fields(cls)
    names = [f.name for f in fields]
    for key in data:
        if key not in names:
            raise ConfigError(f"{_join(path, key)}: unknown key; {suggest(key, names)}valid keys: {', '.join(names)}")
    kwargs: dict[str, Any] = {}
    for f in fields:
        key_path = _join(path, f.name)
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key_path}: missing required key ({describe(hints[f.name])})")
            continue
        kwargs[f.name] = _checked(data[f.name], hints[f.name], f, key_path)
    return cls(**kwargs)


def _checked(value: Any, tp: Any, f: dataclasses.Field, path: str) -> Any:
    check = f.metadata.get("check")
    converted = convert(value, tp, path, check)
    if check is not None and converted is not None and not check(converted):
        raise _fail(path, describe(tp, check), value)
    return converted


def validate(obj: Any, path: str = "") -> None:
    """Convert and check every field of a dataclass instance in place (call from ``__post_init__``)."""
    fields, hints = _fields(type(obj))
    for f in fields:
        value = _checked(getattr(obj, f.name), hints[f.name], f, _join(path, f.name))
        object.__setattr__(obj, f.name, value)


def to_dict(obj: Any) -> Any:
    """Plain YAML-ready data (dicts, lists, scalars) from a config dataclass.

    A class may define ``_to_mapping()`` to choose its layout; tuples become lists.
    """
    custom = getattr(obj, "_to_mapping", None)
    if custom is not None and dataclasses.is_dataclass(obj):
        return custom()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj
