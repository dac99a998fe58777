"""ULA / kinetic Langevin step by step in ``run_chains``: the finiteness test runs once per chunk of steps
(``samplers/step_watch.py``) instead of inside every ``move``. Against a plain loop of ``kernel.move``: the same
error at the same step, the generator left where ``move`` leaves it, and an energy's own failure on the NaN that
an earlier step left replaced by that step's error."""

from __future__ import annotations

import pytest
import torch

from ebmlab.errors import NonFiniteError
from ebmlab.samplers import ULA, KineticLangevin, chains
from ebmlab.samplers.chains import run_chains
from ebmlab.samplers.step_watch import StepWatch

KERNELS = [ULA(0.15), KineticLangevin(0.5, friction=0.5)]


def blowup(x: torch.Tensor) -> torch.Tensor:
    """Quadratic inside |x₁| < 2; beyond it E and ∇E are NaN (so the next position is NaN too)."""
    scale = torch.where(x[:, 0].abs() < 2.0, 1.0, float("nan")).detach()  # a constant: ∇E = scale · x
    return 0.5 * x.square().sum(-1) * scale


def picky(x: torch.Tensor) -> torch.Tensor:
    """``blowup`` that refuses NaN input, as some user energies do (an index, an assertion)."""
    if bool(torch.isnan(x).any()):
        raise ValueError("picky: NaN input")
    return blowup(x)


def reference(kernel, energy, x0, n_steps, seed, per_draw=1):
    """``kernel.move`` per step on noise drawn ``per_draw`` steps at a time: (error text, generator state)."""
    gen = torch.Generator().manual_seed(seed)
    state = kernel.init(energy, x0)
    noise = None
    try:
        for t in range(n_steps):
            if t % per_draw == 0:
                noise = torch.randn((min(per_draw, n_steps - t), *x0.shape), generator=gen, dtype=x0.dtype)
            state = kernel.move(energy, state, gen, noise[t % per_draw])
    except NonFiniteError as error:
        return str(error), gen.get_state()
    return None, gen.get_state()


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
@pytest.mark.parametrize("book_every", [1, 3, 32])
@pytest.mark.parametrize("per_draw", [1, 5])
def test_same_error_step_and_generator_as_move(kernel, book_every, per_draw, monkeypatch) -> None:
    """Chunks of 1, 3 and 32 steps; noise drawn per step (the negatives) or 5 steps at a time (capture="off")."""
    monkeypatch.setattr(chains, "BOOK_EVERY", book_every)
    x0 = torch.zeros(16, 2, dtype=torch.float64)
    message, rng = reference(kernel, blowup, x0, 200, 1, per_draw)
    assert message is not None and "diverged at step" in message
    gen = torch.Generator().manual_seed(1)
    with pytest.raises(NonFiniteError) as err:
        run_chains(kernel, blowup, x0, 200, gen, block=per_draw * 32 if per_draw > 1 else 0, capture="off")
    assert str(err.value) == message
    assert torch.equal(gen.get_state(), rng)  # rewound to just after the failing step's draw
    step = int(message.split("diverged at step ")[1].split(":")[0])
    with pytest.raises(NonFiniteError, match=f"diverged at step {step}:"):  # the last step of the run
        run_chains(kernel, blowup, x0, step, torch.Generator().manual_seed(1), capture="off")
    run_chains(kernel, blowup, x0, step - 1, torch.Generator().manual_seed(1), capture="off")  # one fewer: no error


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
def test_an_energy_failing_on_nan_reports_the_step_that_made_it(kernel, monkeypatch) -> None:
    """``move`` stops at the non-finite step before the energy ever sees its NaN; the chunked test must too."""
    monkeypatch.setattr(chains, "BOOK_EVERY", 32)
    x0 = torch.zeros(16, 2, dtype=torch.float64)
    message, rng = reference(kernel, picky, x0, 200, 1)
    assert message is not None
    gen = torch.Generator().manual_seed(1)
    with pytest.raises(NonFiniteError) as err:
        run_chains(kernel, picky, x0, 200, gen)
    assert str(err.value) == message and torch.equal(gen.get_state(), rng)
    calls = []

    def tired(x: torch.Tensor) -> torch.Tensor:  # fails on its 4th call, every step before it finite
        calls.append(1)
        if len(calls) > 3:
            raise ValueError("tired")
        return blowup(x)

    with pytest.raises(ValueError, match="tired"):  # an energy's error without an earlier non-finite step stays
        run_chains(kernel, tired, x0, 10, torch.Generator().manual_seed(1))


def watch_of(rows: list[list[float]]) -> StepWatch:
    """A watch holding one step per row: chain 0's ∇E is the row, chain 1's is zero; E = 0."""
    watch = StepWatch("ula", 0.1, None, torch.device("cpu"), lambda k: None)
    watch.start(10)
    for row in rows:
        g = torch.tensor([row, [0.0] * len(row)], dtype=torch.float32)
        watch.add(torch.zeros(2), g)
    return watch


def test_the_watch_tests_the_sum_that_move_tests() -> None:
    """Finite elements whose sum overflows in ``finite_rows``' order stop the run at their own step, as ``move``
    does (the order matters: 3e38 + 3e38 − 3e38 overflows in float32, 3e38 − 3e38 + 3e38 does not); huge finite
    sums pass."""
    small, big, other_order = [1.0, 2.0, 3.0], [1e38, 1e38, 0.0], [3e38, -3e38, 3e38]
    watch_of([small, big, other_order, small]).check()  # nothing the per-step test stops
    with pytest.raises(NonFiniteError, match=r"ula diverged at step 13: 1 of 2 chains .*\(first chains: \[0\]\)"):
        watch_of([small, big, [3e38, 3e38, -3e38], small]).check()
    with pytest.raises(NonFiniteError, match="diverged at step 12"):
        watch_of([small, [float("inf"), 0.0, 0.0], [float("nan")] * 3]).check()
