"""Find the lines that create tensors on the default device: the ones that pin a GPU run to the CPU.

On a CUDA run, ``torch.zeros(n)`` inside a sampler lands on the CPU, and the next operation with the chains either
fails ("expected all tensors to be on the same device") or copies and waits for the device. On a CPU-only machine
every such line works, so a test suite never sees it. :func:`implicit_device_factories` records, while it is
active, each call to a tensor factory (``torch.zeros``, ``randn``, ``tensor``, ``eye``, ...) that names no
``device`` and is made from code under ``root`` (a package directory; default ebmlab's). A line it lists either
follows its data (``device=x.device``, ``generator.device``) or says ``device="cpu"`` where a host-side value is
meant. Not counted:

* calls made while an ``nn.Module`` is constructed: parameters are built on the CPU (the same initial weights on
  every device) and moved with ``.to(device)``;
* ``torch.tensor(t)`` / ``torch.as_tensor(t)`` of a tensor ``t``, which keep ``t``'s device.

It sees only calls that run, and only the default device: a CPU generator handed in from outside ``root``, a
``.cpu()`` or a NumPy round trip are for a run on the device itself (``benchmarks/gpu_smoke.py``). Your own energy can be checked
the same way, with ``root`` its package's directory.

>>> import torch
>>> x = torch.ones(3, 2)
>>> def pinned(x):  # the zeros land on the default device, whatever x's
...     return x.sum(1) + torch.zeros(x.shape[0])
>>> with implicit_device_factories(root=".") as hits:  # root: the files these lines run from
...     _ = pinned(x)
>>> [(h.factory, h.count) for h in hits]
[('zeros', 1)]
>>> def follows(x):
...     return x.sum(1) + torch.zeros(x.shape[0], device=x.device)
>>> with implicit_device_factories(root=".") as hits:
...     _ = follows(x)
>>> hits
[]
>>> def seeded(x):  # a CPU generator, whatever x's device
...     return x + torch.randn(x.shape, generator=torch.Generator().manual_seed(0), device=x.device)
>>> with implicit_device_factories(root=".") as hits:
...     _ = seeded(x)
>>> [(h.factory, h.count) for h in hits]
[('Generator', 1)]
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["FACTORIES", "FactoryCall", "implicit_device_factories"]

#: the tensor factories watched (each takes ``device=``)
FACTORIES = frozenset(
    {
        torch.arange, torch.as_tensor, torch.empty, torch.eye, torch.full, torch.linspace, torch.logspace,
        torch.normal, torch.ones, torch.rand, torch.randint, torch.randn, torch.randperm, torch.tensor, torch.zeros,
    }
)  # fmt: skip
_TORCH_DIR = os.path.dirname(torch.__file__)
_COPIES = (torch.tensor, torch.as_tensor)


@dataclass(frozen=True)
class FactoryCall:
    """One line that created tensors on the default device: ``path`` (relative to ``root``), ``line``, the
    ``factory``'s name and how many times it ran."""

    path: str
    line: int
    factory: str
    count: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} torch.{self.factory} without device= ({self.count}×)"


def _caller(frame: FrameType | None) -> FrameType | None:
    """The first frame outside torch and this module."""
    while frame is not None and (
        frame.f_code.co_filename.startswith(_TORCH_DIR) or frame.f_code.co_filename == __file__
    ):
        frame = frame.f_back
    return frame


def _in_module_init(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "__init__" and isinstance(frame.f_locals.get("self"), torch.nn.Module):
            return True
        frame = frame.f_back
    return False


class _Watch(TorchFunctionMode):
    def __init__(self, root: str) -> None:
        super().__init__()
        self.root, self.seen = root, Counter[tuple[str, int, str]]()

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in FACTORIES and "device" not in kwargs:
            if not (func in _COPIES and args and isinstance(args[0], torch.Tensor)):
                self.record(func.__name__)
        return func(*args, **kwargs)

    def record(self, factory: str) -> None:
        """Count the call to ``factory`` if it comes from a file under ``root`` and not from a module's ``__init__``."""
        frame = _caller(sys._getframe(1))
        if frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(self.root):
            if not _in_module_init(frame):
                path = os.path.relpath(frame.f_code.co_filename, self.root)
                self.seen[(path, frame.f_lineno, factory)] += 1


def _watched_generator(record: Callable[[str], None]) -> type:
    """A ``torch.Generator`` subclass that reports each construction without a device to ``record``; real generators
    still pass ``isinstance(g, torch.Generator)`` while it stands in for the class."""
    real = torch.Generator

    class _Meta(type(real)):  # type: ignore[misc]
        def __instancecheck__(cls, obj: object) -> bool:
            return isinstance(obj, real)

        def __subclasscheck__(cls, sub: type) -> bool:
            return issubclass(sub, real)

    class Generator(real, metaclass=_Meta):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if not args and "device" not in kwargs:
                record("Generator")

    return Generator


@contextmanager
def implicit_device_factories(root: str | None = None) -> Iterator[list[FactoryCall]]:
    """Record the factory calls without ``device=`` made from files under ``root`` (default: the ebmlab package);
    the yielded list is filled, sorted by path and line, when the block ends. While active, ``torch.Generator`` is a
    recording subclass (real generators still pass ``isinstance``); it is put back on exit."""
    where = os.path.abspath(root if root is not None else os.path.dirname(__file__))
    hits: list[FactoryCall] = []
    watch = _Watch(where + os.sep if not where.endswith(os.sep) else where)
    real, torch.Generator = torch.Generator, _watched_generator(watch.record)  # type: ignore[misc,assignment]
    try:
        with watch:
            yield hits
    finally:
        torch.Generator = real  # type: ignore[misc]
    hits.extend(FactoryCall(p, line, f, n) for (p, line, f), n in sorted(watch.seen.items()))
