"""A user's energy named on the command line as ``FILE.py:NAME`` (an explicit act: never read from a file).

``NAME`` is a function ``(n, *event) -> (n,)`` or an ``nn.Module`` class constructible without arguments;
``--dim`` gives the event shape ``(dim,)`` unless the object has ``event_shape`` or ``dim``.
:func:`load_user_object` is the import itself, shared with ``ebmlab rd --source FILE.py:NAME`` (a source sampler).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import torch

from ebmlab.errors import ConfigError

__all__ = ["is_user_energy", "load_user_energy", "load_user_object"]

_SPEC = re.compile(r"^(?P<file>.+\.py):(?P<name>[A-Za-z_]\w*)$")


def is_user_energy(spec: str) -> bool:
    return _SPEC.match(spec) is not None


def load_user_object(spec: str) -> tuple[Any, str]:
    """``(object, NAME)`` from ``FILE.py:NAME``, imported only because the command line names it."""
    from ebmlab.experiments.registry import allow_import

    m = _SPEC.match(spec)
    if m is None:
        raise ConfigError(f"{spec!r}: expected FILE.py:NAME (a Python file and a name defined in it).")
    file = Path(m["file"])
    allow_import(str(file))
    module = sys.modules[f"ebmlab_user_{file.stem}"]
    obj = getattr(module, m["name"], None)
    if obj is None:
        names = [k for k in vars(module) if not k.startswith("_")]
        raise ConfigError(f"{file} has no {m['name']!r}; it defines: {', '.join(names) or 'nothing'}.")
    return obj, m["name"]


def load_user_energy(spec: str, dim: int | None) -> tuple[Any, tuple[int, ...]]:
    """``(energy, event_shape)`` from ``FILE.py:NAME``; one-line errors for every failure."""
    obj, name = load_user_object(spec)
    m = {"name": name}
    if isinstance(obj, type):
        if not issubclass(obj, torch.nn.Module):
            raise ConfigError(
                f"{spec}: {m['name']} is a class but not an nn.Module; give a function or a module class."
            )
        try:
            obj = obj()
        except TypeError as exc:
            raise ConfigError(f"{spec}: {m['name']}() needs arguments ({exc}); give it defaults.") from None
    if not callable(obj):
        raise ConfigError(f"{spec}: {m['name']} is not callable; give a function (n, *event) -> (n,).")
    shape = getattr(obj, "event_shape", None) or ((obj.dim,) if isinstance(getattr(obj, "dim", None), int) else None)
    if shape is None:
        if dim is None:
            raise ConfigError(f"{spec}: the event shape is unknown; pass --dim D (the dimension of one sample).")
        shape = (dim,)
    return obj, tuple(int(s) for s in shape)
