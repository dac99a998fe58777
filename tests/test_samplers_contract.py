"""One contract every sampler passes: shapes, determinism, no parameter gradients, non-finite handling."""

from __future__ import annotations

import pytest
import torch

from ebmlab.energies import MLPEnergy
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.samplers import MALA, SAMPLER_NAMES, BlockGibbs, get_sampler, sample
from ebmlab.samplers.base import clamp_log_alpha_, finite_rows
from ebmlab.samplers.langevin import log_ratio

CONTINUOUS = ("ula", "mala", "hmc", "kinetic")


def quadratic(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x.reshape(x.shape[0], -1).square().sum(1)


def make(name: str):
    return BlockGibbs() if name == "gibbs" else get_sampler(name, step_size=0.1)


def start(name: str, n: int = 16, event: tuple[int, ...] = (3,)) -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    if name == "gibbs":
        return (torch.rand((n, *event), generator=g) < 0.5).float()
    return torch.randn((n, *event), generator=g)


def ising(x: torch.Tensor) -> torch.Tensor:
    s = 2 * x - 1
    return -(s[:, 1:] * s[:, :-1]).sum(1) * 0.3


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_shapes_and_determinism(name: str) -> None:
    energy = ising if name == "gibbs" else quadratic
    event = (5,) if name == "gibbs" else (2, 3)
    x0 = start(name, 8, event)
    a = sample(energy, make(name), x0, n_steps=20, thin=2, seed=7, diagnostics=False)
    b = sample(energy, make(name), x0, n_steps=20, thin=2, seed=7, diagnostics=False)
    c = sample(energy, make(name), x0, n_steps=20, thin=2, seed=8, diagnostics=False)
    assert a.samples.shape == (10, 8, *event)
    assert a.energies.shape == (10, 8)
    assert a.accept_trace.shape == (20,)
    assert torch.equal(a.samples, b.samples)
    assert not torch.equal(a.samples, c.samples)
    assert torch.allclose(a.energies[-1], energy(a.samples[-1]))


@pytest.mark.parametrize("name", CONTINUOUS)
def test_no_gradient_leaks_into_energy_parameters(name: str) -> None:
    energy = MLPEnergy(dim=3, hidden=(16,))
    sample(energy, make(name), start(name), n_steps=5, seed=0, diagnostics=False)
    assert all(p.grad is None for p in energy.parameters())


@pytest.mark.parametrize("name", ("mala", "hmc"))
def test_metropolis_samplers_reject_and_flag_nonfinite_proposals(name: str) -> None:
    def walled(x: torch.Tensor) -> torch.Tensor:  # NaN beyond |x| > 1.5 in the first coordinate
        e = quadratic(x)
        return torch.where(x[:, 0].abs() > 1.5, torch.full_like(e, float("nan")), e)

    x0 = torch.zeros(64, 3)
    result = sample(walled, get_sampler(name, step_size=0.8), x0, n_steps=50, seed=1, diagnostics=False)
    assert result.nonfinite > 0
    assert torch.isfinite(result.samples).all()
    assert (result.samples[..., 0].abs() <= 1.5).all()


class _InfGradBeyond(torch.autograd.Function):
    """E = ½‖x‖² (finite everywhere) whose gradient is +inf in the first coordinate beyond x₁ > 1.2."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return quadratic(x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        g = x.clone()
        g[:, 0] = torch.where(x[:, 0] > 1.2, torch.full_like(g[:, 0], float("inf")), g[:, 0])
        return grad_out.unsqueeze(1) * g


@pytest.mark.parametrize("capture", ("off", "eager"))
@pytest.mark.parametrize("name", ("mala", "hmc"))
def test_a_nonfinite_gradient_with_a_finite_energy_is_rejected_and_flagged(name: str, capture: str) -> None:
    """MALA and HMC test log α alone (base.clamp_log_alpha_): a ∇E of +inf beside a finite E must still make it
    non-finite, on the step path and the block path alike."""
    x0 = torch.zeros(64, 3, dtype=torch.float64)
    kernel = get_sampler(name, step_size=0.5)
    result = sample(_InfGradBeyond.apply, kernel, x0, n_steps=60, seed=3, diagnostics=False, capture=capture)
    assert result.nonfinite > 0 and result.divergent >= result.nonfinite
    assert (result.samples[..., 0] <= 1.2).all()  # no chain ever accepted a point with an infinite gradient
    assert torch.isfinite(result.final_state.grad).all()


@pytest.mark.parametrize("capture", ("off", "eager"))
def test_a_log_alpha_that_overflows_is_rejected_and_flagged(capture: str) -> None:
    """E and ∇E finite, E(x) − E(y) overflows float32 to +inf: the proposal is flagged non-finite and rejected (a log α
    of +inf is never clamped to an acceptance of 1), so the overflow shows up in the counts instead of in the chains."""

    def towers(x: torch.Tensor) -> torch.Tensor:  # +3e38 for x₁ < 0, −3e38 for x₁ > 0: each finite in float32
        return torch.where(x[:, 0] > 0, -3e38, 3e38).to(x.dtype) + 1e-3 * quadratic(x)

    x0 = torch.full((32, 2), -0.05)
    result = sample(towers, MALA(0.05), x0, n_steps=40, seed=0, diagnostics=False, capture=capture)
    assert result.nonfinite > 0
    assert (result.samples[..., 0] < 0).all()


def test_every_nonfinite_proposal_row_makes_mala_log_alpha_nonfinite() -> None:
    """The claim clamp_log_alpha_ rests on (langevin.log_ratio's doc): NaN / ±inf anywhere in E(y) or ∇E(y) → log α
    not finite, for random finite E(x), ∇E(x), ξ and steps; rows left finite stay finite."""
    gen = torch.Generator().manual_seed(0)
    n, d = 4000, 5
    e, e_y = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
    g, g_y, noise = (torch.randn(n, d, generator=gen) * 3 for _ in range(3))
    values = torch.tensor([float("nan"), float("inf"), -float("inf")])
    hit = torch.rand(n, generator=gen) < 0.5
    where = torch.randint(0, d + 1, (n,), generator=gen)  # column d: the energy itself
    kind = values[torch.randint(0, 3, (n,), generator=gen)]
    rows = hit.nonzero().flatten()
    in_e = rows[where[rows] == d]
    in_g = rows[where[rows] < d]
    e_y[in_e] = kind[in_e]
    g_y[in_g, where[in_g]] = kind[in_g]
    for lam in (1e-3, 0.1, torch.rand(n, generator=gen) * 0.5 + 1e-4):
        for temp in (1.0, 0.3):
            _, bad = clamp_log_alpha_(log_ratio(e, e_y, g.clone(), g_y, noise, lam, temp))
            assert torch.equal(bad, ~finite_rows(e_y, g_y))


@pytest.mark.parametrize("name", ("ula", "kinetic"))
def test_unadjusted_samplers_stop_with_a_clear_error(name: str) -> None:
    def cliff(x: torch.Tensor) -> torch.Tensor:
        e = quadratic(x)
        return torch.where(x[:, 0] > 2.0, torch.full_like(e, float("inf")), e)

    x0 = torch.zeros(32, 2)
    with pytest.raises(NonFiniteError) as info:
        sample(cliff, get_sampler(name, step_size=1.0), x0, n_steps=200, seed=0, diagnostics=False)
    message = str(info.value)
    assert name in message and "step" in message and "of 32 chains" in message


@pytest.mark.parametrize("name", CONTINUOUS)
def test_nonfinite_start_and_bad_shapes_are_rejected(name: str) -> None:
    x0 = torch.zeros(4, 2)
    x0[2, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="1 of 4 starting points"):
        make(name).init(quadratic, x0)
    with pytest.raises(ShapeError, match=r"expected \(4,\)"):
        make(name).init(lambda x: x, torch.zeros(4, 2))


def test_gibbs_rejects_non_binary_start() -> None:
    with pytest.raises(ConfigError, match="binary"):
        BlockGibbs().init(ising, torch.full((2, 3), 0.5))


def test_bad_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="valid samplers"):
        get_sampler("nuts")
    with pytest.raises(ConfigError, match="step_size"):
        get_sampler("mala", step_size=-1.0)
    with pytest.raises(ConfigError, match="n_leapfrog"):
        get_sampler("hmc", step_size=0.1, n_leapfrog=0)
    with pytest.raises(ConfigError, match="no accept step"):
        sample(quadratic, get_sampler("ula", step_size=0.1), torch.zeros(2, 1), 5, adapt_step_size=True)


@pytest.mark.parametrize("shape", [(64, 3), (4096, 8), (1024, 4, 8)], ids=["where", "by-index", "by-index-3d"])
def test_select_copies_the_chosen_rows_whichever_way_it_runs(shape) -> None:
    """``select`` by torch.where (small) and by row index (CPU, from SELECT_BY_INDEX_MIN numbers) give the rows of
    ``new`` where the mask holds and of ``old`` elsewhere, NaN rows included; ``fresh`` may overwrite ``new`` (and
    returns it), otherwise neither input changes."""
    from ebmlab.samplers.base import SELECT_BY_INDEX_MIN, select

    g = torch.Generator().manual_seed(0)
    new, old = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    new[3], old[5] = float("nan"), float("inf")
    mask = torch.rand(shape[0], generator=g) < 0.5
    mask[3], mask[5] = False, True
    expected = torch.stack([new[i] if mask[i] else old[i] for i in range(shape[0])])
    assert (new.numel() >= SELECT_BY_INDEX_MIN) == (shape[0] > 64)
    new_before, old_before = new.clone(), old.clone()
    out = select(mask, new, old)
    assert torch.equal(out, expected)
    torch.testing.assert_close(new, new_before, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(old, old_before)
    out = select(mask, new, old, fresh=True)
    assert torch.equal(out, expected) and torch.equal(old, old_before)
    assert out.data_ptr() == new.data_ptr() or new.numel() < SELECT_BY_INDEX_MIN


def test_select_off_the_cpu_never_asks_for_the_rows_by_nonzero() -> None:
    """Off the CPU ``select`` stays ``torch.where`` at any size: a ``nonzero`` would synchronise a GPU every step. On the
    meta device (no data) ``nonzero`` cannot run at all, so taking the index path there would raise."""
    from ebmlab.samplers.base import SELECT_BY_INDEX_MIN, select

    n = SELECT_BY_INDEX_MIN // 8
    mask = torch.empty(n, dtype=torch.bool, device="meta")
    new, old = torch.empty(n, 8, device="meta"), torch.empty(n, 8, device="meta")
    with pytest.raises(NotImplementedError):
        mask.nonzero()
    for fresh in (False, True):
        assert select(mask, new, old, fresh=fresh).shape == (n, 8)
