"""``run_chains`` step by step (``capture="off"``, and the one-step draws of the negatives) against a plain loop of
``kernel.step`` calls booked one step at a time: the same chains, acceptance, counts and errors, bit for bit.

The chain loop books its steps in batches (``BOOK_EVERY``) and runs ULA / kinetic Langevin without building a
StepInfo per step; these tests pin that this changes nothing a caller can see.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from ebmlab.energies import MLPEnergy
from ebmlab.errors import NonFiniteError
from ebmlab.samplers import HMC, MALA, ULA, KineticLangevin, chains
from ebmlab.samplers.chains import run_chains

KERNELS = [ULA(0.05), MALA(0.8), HMC(0.5, 3), KineticLangevin(0.1, friction=2.0)]


def mixture(x: torch.Tensor) -> torch.Tensor:
    a = (x - 1.5).square().sum(-1)
    b = (x + 1.5).square().sum(-1)
    return -torch.logsumexp(torch.stack([-a, -b]), 0)


def cliff(x: torch.Tensor) -> torch.Tensor:
    """Quadratic inside |x₁| < 2, NaN beyond: proposals that step out are non-finite."""
    e = 0.5 * x.square().sum(-1)
    return torch.where(x[:, 0].abs() < 2.0, e, torch.full_like(e, float("nan")))


def reference(kernel, energy, x0, n_steps, seed, keep_every, hook=None):
    """The chain loop written plainly: one kernel.step per step, every book updated after every step."""
    gen = torch.Generator().manual_seed(seed)
    state = kernel.init(energy, x0)
    n = x0.shape[0]
    accept = torch.empty(n_steps, dtype=torch.float64)
    accept_sum = torch.zeros(n, dtype=torch.float64)
    nonfinite = torch.zeros(n, dtype=torch.long)
    divergent = torch.zeros(n, dtype=torch.long)
    streak = torch.zeros(n, dtype=torch.long)
    kept = []
    for t in range(1, n_steps + 1):
        state, info = kernel.step(energy, state, gen)
        accept[t - 1] = info.accept_prob.mean()
        accept_sum += info.accept_prob.to(torch.float64)
        nonfinite += info.nonfinite
        divergent += info.divergent
        streak = torch.where(info.nonfinite, streak + 1, torch.zeros_like(streak))
        if t % keep_every == 0:
            kept.append(state.x)
        if hook is not None:
            state = hook(t, state, info) or state
    return state, torch.stack(kept), accept, accept_sum, nonfinite, divergent, streak


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
@pytest.mark.parametrize("energy_name", ["function", "cliff", "mlp"])
@pytest.mark.parametrize("book_every", [3, 32])
def test_step_by_step_books_like_a_plain_loop(kernel, energy_name, book_every, monkeypatch) -> None:
    """40 steps cross several booking batches; the cliff makes MALA / HMC reject non-finite proposals."""
    if energy_name == "cliff" and not kernel.metropolis_adjusted:
        pytest.skip("unadjusted kernels stop at a non-finite step (next test)")
    monkeypatch.setattr(chains, "BOOK_EVERY", book_every)
    torch.manual_seed(0)
    energy = {"function": mixture, "cliff": cliff, "mlp": MLPEnergy(2, (8, 8)).double()}[energy_name]
    x0 = 0.5 * torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    infos: list = []

    def record(t, state, info) -> None:
        infos.append(info.accept_prob.clone())

    for hooked in (False, True):
        hook = record if hooked else None
        ref = reference(kernel, energy, x0, 40, 3, 4, hook)
        run = run_chains(
            kernel, energy, x0, 40, torch.Generator().manual_seed(3), keep_every=4, hook=hook, capture="off"
        )
        state, kept, accept, accept_sum, nonfinite, divergent, _ = ref
        assert torch.equal(run.x, state.x) and torch.equal(run.state.energy, state.energy)
        assert torch.equal(run.samples, kept)
        assert torch.equal(run.accept, accept) and torch.equal(run.accept_sum, accept_sum)
        assert torch.equal(run.nonfinite, nonfinite) and torch.equal(run.divergent, divergent)
        assert run.state.iteration == 40
        if kernel.name == "kinetic":
            assert torch.equal(run.state.momentum, state.momentum)
        if hooked:
            assert len(infos) == 80  # the hook saw every step's info (reference run and run_chains)
    if energy_name == "cliff":
        assert int(run.nonfinite.sum()) > 0  # the negative control of the counts actually happened


def test_frozen_chain_streaks_cross_booking_batches(monkeypatch) -> None:
    """The frozen-chain warning needs the trailing run of non-finite proposals, booked in batches of 3."""
    monkeypatch.setattr(chains, "BOOK_EVERY", 3)
    x0 = torch.zeros(5, 2, dtype=torch.float64)
    for frozen_after in range(1, 13):
        _, _, _, _, _, _, streak = reference(MALA(2.0), cliff, x0, 12, 4, 1)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            run_chains(MALA(2.0), cliff, x0, 12, torch.Generator().manual_seed(4), frozen_after=frozen_after)
        frozen = (streak >= frozen_after).nonzero().flatten().tolist()
        assert bool(record) == bool(frozen)
        if frozen:
            assert f"{len(frozen)} of 5 chains (first: {frozen[:5]})" in str(record[0].message)


@pytest.mark.parametrize("kernel", [ULA(0.15), KineticLangevin(0.5, friction=0.5)], ids=lambda k: k.name)
def test_unadjusted_kernels_raise_at_the_first_nonfinite_step(kernel) -> None:
    """The step is found independently: the kernel's update replayed by hand until a chain leaves the cliff."""
    x0 = torch.zeros(16, 2, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    lam, x, v = kernel.step_size, x0, torch.zeros_like(x0)
    g = x.clone()  # ∇E = x inside the cliff
    step = 0
    while step < 199:
        step += 1
        noise = torch.randn(x.shape, generator=gen, dtype=x.dtype)
        if kernel.name == "ula":
            x = x.add(g, alpha=-lam).add(noise, alpha=math.sqrt(2 * lam))
        else:
            c = math.exp(-kernel.friction * lam)
            v = v.add(g, alpha=-0.5 * lam)
            x = x.add(v, alpha=0.5 * lam)
            v = v.mul(c).add_(noise, alpha=math.sqrt(1 - c * c))
            x = x.add_(v, alpha=0.5 * lam)
        bad = (x[:, 0].abs() >= 2.0).nonzero().flatten()
        if bad.numel():
            break
        g = x.clone()
        v = v.add(g, alpha=-0.5 * lam)
    assert 1 < step < 199
    with pytest.raises(NonFiniteError) as err:
        run_chains(kernel, cliff, x0, 200, torch.Generator().manual_seed(1), capture="off")
    assert f"{kernel.name} diverged at step {step}: {bad.numel()} of 16 chains" in str(err.value)
    assert f"(first chains: {bad[:5].tolist()})" in str(err.value)


@pytest.mark.parametrize("kernel", [MALA(0.8), HMC(0.5, 3)], ids=lambda k: k.name)
def test_nonfinite_proposals_are_rejected_even_when_the_uniform_is_zero(kernel) -> None:
    """torch.rand can return exactly 0 (2⁻²⁴ per float32 draw): log 0 = −inf must not accept a −inf log α."""
    from ebmlab.samplers.base import mh_accept

    prob, accepted, _ = mh_accept(torch.tensor([0.0, -1.0, float("nan")]), torch.tensor([False, True, True]), None,
                                  torch.zeros(3))  # fmt: skip
    assert accepted.tolist() == [False, True, False] and prob[0] == 0.0
    state = kernel.init(cliff, torch.full((64, 2), 1.9, dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    new, info = kernel.step(cliff, state, gen, noise=noise, uniform=torch.zeros(64, dtype=torch.float64))
    assert info.nonfinite.any() and not info.accepted[info.nonfinite].any()
    assert torch.isfinite(new.energy).all() and torch.isfinite(new.x).all()
