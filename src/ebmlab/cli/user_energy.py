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

__all__ = ["check_user_energy", "is_user_energy", "load_user_energy", "load_user_object"]

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
    if not file.is_file():
        raise ConfigError(f"{spec}: no such file {file}; give the path of a Python file that defines {m['name']}.")
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


def check_user_energy(spec: str, energy: Any, x: torch.Tensor) -> None:
    """Evaluate ``energy`` once at ``x`` ``(n, *event)``: it must run, return ``(n,)`` and be finite somewhere.

    Every failure is a one-line :class:`ConfigError` naming the problem (the user's exception, the shape
    returned, the non-finite values) and the fix.
    """
    try:
        with torch.no_grad():
            e = energy(x)
    except Exception as exc:  # the user's code: any exception becomes one line
        raise ConfigError(
            f"{spec} failed on a batch of shape {tuple(x.shape)}: {type(exc).__name__}: {' '.join(str(exc).split())}"
            " (is --dim right? the energy takes (n, *event) and returns (n,))"
        ) from None
    if not isinstance(e, torch.Tensor) or e.shape != x.shape[:1]:
        got = tuple(e.shape) if isinstance(e, torch.Tensor) else type(e).__name__
        raise ConfigError(
            f"{spec} returned {got} for a batch of shape {tuple(x.shape)}; expected ({x.shape[0]},), one energy "
            "per sample (reduce over the event dimensions, e.g. .sum(dim=-1))."
        )
    if not bool(torch.isfinite(e).any()):
        raise ConfigError(
            f"{spec} is non-finite (NaN/inf) at all {x.shape[0]} starting points (first value {float(e[0])!r}); "
            "check the energy for log(0), division by zero or overflow."
        )
    xg = x.detach().clone().requires_grad_(True)
    try:
        (grad,) = torch.autograd.grad(energy(xg).sum(), xg, allow_unused=True)
    except RuntimeError:  # not differentiable by autograd: the gradient samplers will say so
        return
    flat = (torch.zeros_like(x) if grad is None else grad).reshape(x.shape[0], -1)
    unused = ((flat == 0).all(dim=0)).nonzero().flatten().tolist()
    if unused:
        raise ConfigError(
            f"{spec} does not depend on coordinate(s) {unused[:5]} of the event shape {tuple(x.shape[1:])}, so "
            "exp(-E) cannot be normalised; is --dim right?"
        )
