"""Constant tensors kept where they were made (usually the CPU) and copied once to each device and dtype asked for.

A copy from ordinary host memory to a GPU makes the host wait for the device's stream, as a host read does, so a
constant moved with ``.to(x.device)`` inside a sampler step or an energy evaluation would put a wait in the loop.
:func:`copies_on` keeps the copies on their owner, keyed by device and dtype, and makes them again when an
attribute is replaced or changed in place (a ``load_state_dict`` copies into the buffers; the tensor's version
counter says so). Where nothing needs moving it returns the tensors themselves and keeps nothing.

>>> import torch
>>> class Base:
...     def __init__(self):
...         self.mean = torch.zeros(3, dtype=torch.float64)
>>> q = Base()
>>> copies_on(q, ("mean",), torch.device("cpu"))[0] is q.mean  # nothing to move
True
>>> a, = copies_on(q, ("mean",), torch.device("cpu"), torch.float32)
>>> a.dtype, copies_on(q, ("mean",), torch.device("cpu"), torch.float32)[0] is a  # made once
(torch.float32, True)
>>> q.mean = torch.ones(3, dtype=torch.float64)
>>> float(copies_on(q, ("mean",), torch.device("cpu"), torch.float32)[0][0])  # a replaced attribute is copied again
1.0
>>> _ = q.mean.fill_(2.0)
>>> float(copies_on(q, ("mean",), torch.device("cpu"), torch.float32)[0][0])  # and one changed in place
2.0
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlab.errors import ConfigError

__all__ = ["check_generator", "copies_on", "device_of"]

_CACHE = "_device_copies"


def copies_on(
    owner: object, names: tuple[str, ...], device: torch.device, dtype: torch.dtype | None = None
) -> tuple[Tensor, ...]:
    """``owner``'s tensors ``names`` on ``device`` (and in ``dtype``, if given), copied once per device and dtype."""
    sources = tuple(getattr(owner, name) for name in names)
    if all(t.device == device and (dtype is None or t.dtype == dtype) for t in sources):
        return sources
    cache: dict = owner.__dict__.setdefault(_CACHE, {})
    key = (names, device, dtype)
    hit = cache.get(key)
    versions = tuple(_version(t) for t in sources)
    if hit is None or hit[2] != versions or any(a is not b for a, b in zip(hit[0], sources, strict=True)):
        hit = (sources, tuple(t.to(device=device, dtype=dtype or t.dtype) for t in sources), versions)
        cache[key] = hit
    return hit[1]


def _version(t: Tensor) -> int:
    """The in-place change counter; −1 for an inference-mode tensor, which has none (and cannot change in place
    outside that mode)."""
    try:
        return t._version
    except RuntimeError:
        return -1


def device_of(obj: object) -> torch.device:
    """Where ``obj`` computes: the device of a module's first parameter or buffer; the CPU for a plain function.

    >>> device_of(torch.nn.Linear(2, 1)).type, device_of(lambda x: x.sum(1)).type
    ('cpu', 'cpu')
    """
    for attr in ("parameters", "buffers"):
        tensors = getattr(obj, attr, None)
        if callable(tensors):
            for t in tensors():
                return t.device
    return torch.device("cpu")


def check_generator(generator: torch.Generator | None, device: torch.device, who: str) -> None:
    """A one-line error when ``generator`` draws on another kind of device than the chains' ``device`` (a CPU
    generator for chains on a GPU, the usual slip when moving a script there); None draws on the device's default.

    >>> check_generator(torch.Generator(), torch.device("cpu"), "sample")  # the same device: nothing to say
    """
    if generator is not None and generator.device.type != device.type:
        raise ConfigError(
            f"{who}: the generator draws on {generator.device} but the chains are on {device}; make it on their "
            f"device: torch.Generator(device={str(device)!r}).manual_seed(seed) (or pass seed= instead)."
        )
