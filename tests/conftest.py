"""Test-session settings.

The suite is dominated by many small tensor operations, for which one intra-op thread is several times
faster than two on a shared 2-core machine (threads spin-wait for each other): measured 6.8 s vs 27.8 s
for the MALA gaussian-50 test under a load of ~2. Tests therefore run single-threaded.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--gpu-path",
        action="store_true",
        help="run every test on the GPU path on this CPU: finiteness checks read late (finite_watch.DEFER_ON_CPU) "
        "and fit's logged values kept as tensors (training.loop.keep_on_device), as on CUDA",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--gpu-path"):
        from ebmlab.samplers import finite_watch
        from ebmlab.training import loop

        finite_watch.DEFER_ON_CPU = True
        loop.keep_on_device = lambda device: True  # type: ignore[assignment]


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def load_benchmark() -> Iterator[Callable[[str], ModuleType]]:
    """``load(name)`` imports the script ``benchmarks/<name>.py`` as module ``bench_<name>`` (the benchmarks are
    scripts, not a package: their folder goes on ``sys.path`` for their sibling imports, and each module into
    ``sys.modules``, where dataclasses look it up); both are undone when the test module ends."""
    names: list[str] = []
    sys.path.insert(0, str(BENCHMARKS))

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        names.append(spec.name)
        spec.loader.exec_module(module)
        return module

    yield load
    for n in names:
        sys.modules.pop(n, None)
    sys.path.remove(str(BENCHMARKS))


@pytest.fixture
def onednn_calls(monkeypatch) -> list[tuple[int, int, int]]:
    """Every call ``ebmlab.energies.neural.linear`` makes to oneDNN, as (rows, in width, out width), in order."""
    from ebmlab.energies import neural

    calls: list[tuple[int, int, int]] = []
    real = neural._ONEDNN

    def counted(h, weight, *rest):
        calls.append((h.shape[0], h.shape[1], weight.shape[0]))
        return real(h, weight, *rest)

    monkeypatch.setattr(neural, "_ONEDNN", counted)
    return calls


class SyncCounter:
    """Counts Tensor → Python conversions (each one a device → host synchronisation on a GPU)."""

    NAMES = ("__bool__", "item", "__float__", "__int__", "tolist", "cpu")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)

            def counted(*args, _original=original, **kwargs):
                self.count += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)


@pytest.fixture
def sync_counter(monkeypatch) -> Callable[[], SyncCounter]:
    """``sync_counter()`` starts counting Tensor → Python conversions (``monkeypatch.undo()`` stops it)."""
    return lambda: SyncCounter(monkeypatch)


@pytest.fixture
def looks_elsewhere() -> type:
    """A MALA that claims ``ends_at_proposal`` but evaluates the energy elsewhere after its proposal: the negative
    control of ``path.track_on_device``."""
    from ebmlab.samplers import MALA

    class LooksElsewhere(MALA):
        def step(self, energy, state, generator=None, noise=None, uniform=None):
            new, info = super().step(energy, state, generator, noise, uniform)
            energy(state.x + 1.0)
            return new, info

    return LooksElsewhere
