"""Replica exchange: every rung samples its path distribution exactly, and swaps fix mode weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from ebmlab.densities import DiagonalNormal
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.samplers import HMC, MALA, GeometricPath, KineticLangevin, ReplicaExchange, finite_watch, geometric_betas
from ebmlab.targets.gmm import GaussianMixture


def _run(pt: ReplicaExchange, energy, n: int, dim: int, rounds: int, burn: int, seed: int = 0) -> Tensor:
    """Positions after burn-in, ``(rounds − burn, R, n, dim)``."""
    gen = torch.Generator().manual_seed(seed)
    state = pt.init(energy, n, dim, gen)
    kept = []
    for t in range(rounds):
        state, _ = pt.step(energy, state, gen)
        if t >= burn:
            kept.append(state.x)
    return torch.stack(kept)


def test_every_rung_matches_its_gaussian_path_distribution() -> None:
    """E = N(m, σ²) energy, base N(0, s²): rung β is N(μ_β, v_β) with 1/v_β = (1−β)/s² + β/σ², μ_β = v_β β m/σ².

    Columns (one chain per rung each) are independent, so the per-column time averages are i.i.d.; the
    tolerance is 4 standard errors of their mean, for every rung's mean and second central moment.
    """
    m, sigma, s = 1.5, 0.5, 2.0
    energy = lambda x: 0.5 * ((x[:, 0] - m) / sigma) ** 2  # noqa: E731
    pt = ReplicaExchange(MALA(step_size=0.1), n_rungs=5, base_scale=s, beta_min=0.05)
    x = _run(pt, energy, n=400, dim=1, rounds=300, burn=50)[..., 0].double()  # (T, R, n)
    for r, beta in enumerate(pt.betas.tolist()):
        var = 1.0 / ((1 - beta) / s**2 + beta / sigma**2)
        mean = var * beta * m / sigma**2
        col_mean = x[:, r].mean(0)
        col_m2 = ((x[:, r] - mean) ** 2).mean(0)
        se_mean = float(col_mean.std()) / math.sqrt(col_mean.numel())
        se_m2 = float(col_m2.std()) / math.sqrt(col_m2.numel())
        assert abs(float(col_mean.mean()) - mean) < 4 * se_mean, (r, beta)
        assert abs(float(col_m2.mean()) - var) < 4 * se_m2, (r, beta)


def test_swaps_give_separated_modes_their_weights() -> None:
    """0.8·N(−3, 0.3²) + 0.2·N(3, 0.3²): MALA alone from the symmetric base ends ~half in each mode; the β = 1
    rung of replica exchange puts 0.2 of its chains on the right mode within 4 SE (i.i.d. columns)."""
    target = GaussianMixture([[-3.0], [3.0]], 0.3, [0.8, 0.2])
    pt = ReplicaExchange(MALA(step_size=0.05), n_rungs=6, base_scale=3.0, beta_min=0.02)
    x = _run(pt, target, n=300, dim=1, rounds=300, burn=50)[:, -1, :, 0]
    right = (x > 0).double().mean(0)
    se = float(right.std()) / math.sqrt(right.numel())
    assert abs(float(right.mean()) - 0.2) < 4 * se
    # negative control: the same kernel without swaps keeps the base's split
    gen = torch.Generator().manual_seed(0)
    kernel = MALA(step_size=0.05)
    state = kernel.init(target, 3.0 * torch.randn(300, 1, generator=gen))
    for _ in range(300):
        state, _ = kernel.step(target, state, gen)
    assert abs(float((state.x > 0).double().mean()) - 0.2) > 0.15


def test_round_info_and_determinism() -> None:
    target = GaussianMixture([[-2.0, 0.0], [2.0, 0.0]], 0.4)
    pt = ReplicaExchange(MALA(step_size=0.05), n_rungs=4, base_scale=2.0)

    def go() -> tuple[Tensor, list[Tensor]]:
        gen = torch.Generator().manual_seed(5)
        state = pt.init(target, 16, (2,), gen)
        swaps = []
        for _ in range(4):
            state, info = pt.step(target, state, gen)
            swaps.append(info.swap_accept)
            assert info.accept.shape == (4,) and math.isnan(float(info.accept[0]))
            assert bool(((info.accept[1:] >= 0) & (info.accept[1:] <= 1)).all())
        return state.x, swaps

    (a, swaps), (b, _) = go(), go()
    assert torch.equal(a, b) and a.shape == (4, 16, 2)
    # even rounds propose pairs (0,1), (2,3); odd rounds (1,2)
    assert not math.isnan(float(swaps[0][0])) and math.isnan(float(swaps[0][1]))
    assert math.isnan(float(swaps[1][0])) and not math.isnan(float(swaps[1][1]))
    # the cached D = E + log q matches a fresh evaluation after kernel moves and swaps
    gen = torch.Generator().manual_seed(1)
    state = pt.init(target, 16, 2, gen)
    for _ in range(3):
        state, _ = pt.step(target, state, gen)
    flat = state.x.reshape(-1, 2)
    d = target(flat) + DiagonalNormal(torch.zeros(2), 2.0).log_prob(flat)
    assert torch.allclose(state.log_ratio.reshape(-1), d, atol=1e-4)


def test_path_energy_and_bad_input() -> None:
    energy = lambda x: x.square().sum(-1)  # noqa: E731
    betas = torch.tensor([0.0, 0.5, 1.0])
    base = DiagonalNormal(torch.zeros(2), 2.0)
    path = GeometricPath(base, energy).at(betas)
    x = torch.ones(3, 2)
    e, g = path.energy_and_grad(x)
    q = float(-base.log_prob(x[:1]))
    assert torch.allclose(e, torch.tensor([q, 0.5 * q + 0.5 * 2, 2.0]))
    assert torch.allclose(path(x), e) and g.shape == (3, 2)
    with pytest.raises(ShapeError, match="3 values of beta for 2 chains"):
        path(torch.ones(2, 2))
    assert geometric_betas(4, 0.1).tolist() == pytest.approx([0.0, 0.1, 10**-0.5, 1.0])
    with pytest.raises(ConfigError, match="n_rungs"):
        ReplicaExchange(MALA(0.1), n_rungs=1)
    with pytest.raises(ConfigError, match="beta_min"):
        geometric_betas(4, 1.5)
    with pytest.raises(ConfigError, match="from 0"):
        ReplicaExchange(MALA(0.1), betas=[0.1, 1.0])
    with pytest.raises(ConfigError, match="increase strictly"):
        ReplicaExchange(MALA(0.1), betas=[0.0, 0.6, 0.5, 1.0])
    with pytest.raises(ConfigError, match="kernel"):
        ReplicaExchange("mala")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="steps_per_swap"):
        ReplicaExchange(MALA(0.1), steps_per_swap=0)
    with pytest.raises(ConfigError, match=r"carries a velocity per chain.*use mala, hmc or ula"):
        ReplicaExchange(KineticLangevin(0.1))  # its rounds keep positions only (it crashed on an assert before)
    pt = ReplicaExchange(MALA(0.1), n_rungs=3)
    with pytest.raises(ShapeError, match=r"x0 must have shape \(3, 4"):
        pt.init(energy, 4, 2, torch.Generator(), x0=torch.zeros(2, 4, 2))


def test_sample_keeps_the_target_rung_after_burn_in() -> None:
    target = GaussianMixture([[-2.0, 0.0], [2.0, 0.0]], 0.4)
    pt = ReplicaExchange(MALA(step_size=0.05), n_rungs=4, base_scale=2.0)
    result = pt.sample(target, 16, 2, 30, torch.Generator().manual_seed(0), burn_in=10, thin=3)
    assert result.samples.shape == (10, 16, 2)
    assert result.swap_accept.shape == (3,) and result.accept.shape == (4,) and math.isnan(float(result.accept[0]))
    assert result.final_state.round == 40 and torch.equal(result.samples[-1], result.final_state.x[-1])
    # continuing from the final state equals one longer run with the same generator
    gen_a, gen_b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    one = pt.sample(target, 8, 2, 20, gen_a)
    first = pt.sample(target, 8, 2, 10, gen_b)
    second = pt.sample(target, 8, 2, 10, gen_b, state=first.final_state)
    assert torch.equal(one.final_state.x, second.final_state.x)
    with pytest.raises(ConfigError, match="thin"):
        pt.sample(target, 8, 2, 10, gen_a, thin=0)


def test_adapt_tunes_one_step_size_per_rung_to_the_target_acceptance() -> None:
    """many-well with 4 pairs: one shared step leaves the cold rungs at low acceptance; adapted steps shrink from
    hot to cold and bring every rung near MALA's 0.574."""
    from ebmlab.errors import NonFiniteError
    from ebmlab.targets.many_well import ManyWell

    target = ManyWell(4)
    pt = ReplicaExchange(MALA(step_size=0.2), n_rungs=8, base_scale=1.5)
    gen = torch.Generator().manual_seed(0)
    state = pt.init(target, 64, 8, gen)
    before = pt.sample(target, 64, 8, 20, gen, state=state).accept[1:]
    state = pt.adapt(target, state, 200, gen)
    after = pt.sample(target, 64, 8, 50, gen, state=state).accept[1:]
    assert float(before.min()) < 0.3
    assert bool(((after - 0.574).abs() < 0.1).all()), after
    assert bool((pt.step_sizes.diff() < 0).all())  # hot rungs take larger steps
    one_step = type("OneStepSize", (MALA,), {"per_chain_step_size": False})  # a kernel with one step for all
    with pytest.raises(ConfigError, match="per-rung step sizes need"):
        ReplicaExchange(one_step(0.1), n_rungs=3, step_sizes=[0.1, 0.1])
    with pytest.raises(ConfigError, match="2 positive finite"):
        ReplicaExchange(MALA(0.1), n_rungs=3, step_sizes=[0.1, -1.0])
    checker = lambda x: x.square().sum(-1) + torch.where(x[:, 0] > 0, 0.0, float("inf"))  # noqa: E731
    with pytest.raises(NonFiniteError, match="inside the support"):
        ReplicaExchange(MALA(0.1), n_rungs=3).init(checker, 16, 2, gen)


def test_stepping_stone_log_z_is_calibrated() -> None:
    """Double well (exact log Z 5.032284): over 8 seeds the errors divided by the reported SEs have mean square
    near 1 (< 2.5: a χ²₈/8 exceeds it with probability ≈ 1 %), and a longer run lands within 4 SE."""
    from ebmlab.estimators import log_z_stepping_stone
    from ebmlab.experiments.logz_methods import applicable_methods
    from ebmlab.targets import get_target

    target = get_target("double-well")
    exact = target.log_z()
    z = []
    for seed in range(8):
        est = log_z_stepping_stone(target, 1, 64, 200, 50, n_rungs=6, base_scale=1.5, adapt_rounds=50, seed=seed)
        z.append((est.value - exact) / est.stderr)
    assert sum(v * v for v in z) / len(z) < 2.5, z
    est = log_z_stepping_stone(target, 1, 256, 1000, 200, n_rungs=8, base_scale=1.5, seed=0)
    assert abs(est.value - exact) < 4 * est.stderr and est.stderr < 0.01
    assert "pt" in applicable_methods(get_target("mog8")) and "pt" not in applicable_methods(get_target("checkerboard"))
    with pytest.raises(ConfigError, match="n_chains must be an int >= 2"):
        log_z_stepping_stone(target, 1, 1)
    pt = ReplicaExchange(MALA(0.1), n_rungs=3)
    with pytest.raises(ConfigError, match="target_accept"):
        pt.adapt(target, pt.init(target, 4, 1, torch.Generator()), 2, torch.Generator(), target_accept=1.5)


def test_swap_never_accepts_a_minus_inf_move_even_at_u_zero(monkeypatch):
    """A swap that would carry an E = +inf state up to β = 1 has log α = −inf and must be rejected for every u,
    u = 0 included: the old ``nan_to_num`` turned −inf into the lowest finite float, which log 0 = −inf is below."""
    from ebmlab.samplers.path import PathPoint
    from ebmlab.samplers.tempering import ReplicaExchange

    n = 3
    x = torch.arange(2 * n, dtype=torch.float32).reshape(2 * n, 1)
    # rung 0 (β = 0, where only the base counts) holds two E = +inf states; rung 1 (β = 1) holds E = 0 states
    target = torch.tensor([float("inf"), 1.0, float("inf"), 0.0, 0.0, 0.0])
    point = PathPoint(x=x, base=torch.zeros(2 * n), target=target)
    real_rand = torch.rand
    monkeypatch.setattr(torch, "rand", lambda *a, **k: torch.zeros_like(real_rand(*a, **k)))  # u = 0 exactly
    stuck = torch.zeros(n, dtype=torch.bool)
    new, _ = ReplicaExchange._swap(point, torch.tensor([0.0, 1.0]), n, 0, stuck, torch.Generator().manual_seed(0))
    # chain 1: log α = (β₁ − β₀)(D_up − D_low) = 0 − 1 = −1 > log 0, so it swaps (the control); chains 0, 2: −inf
    assert new.target[n:].tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize("steps, reads", [(1, 0), (3, 1)])
@pytest.mark.parametrize("kernel", [MALA(0.05), HMC(0.05, n_leapfrog=3)], ids=lambda k: k.name)
def test_a_round_does_not_read_the_host_on_a_gpu(kernel, steps, reads, monkeypatch, sync_counter) -> None:
    """On the GPU path (finite_watch.DEFER_ON_CPU) a round's statistics stay on the device, the base draws are
    checked at the end of sample(), and after one MALA / HMC transition so is path.track_on_device's flag; with
    several transitions per round, track's test reads the host once (module doc). Before session 16 a round read
    the host seven times (four .cpu() of its statistics, the base-draw check, track's test); session 16 left one."""
    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", True)
    target = GaussianMixture([[-2.0, 0.0], [2.0, 0.0]], 0.4)
    counts = []
    for rounds in (4, 12):
        pt = ReplicaExchange(kernel, n_rungs=4, base_scale=2.0, steps_per_swap=steps)
        gen = torch.Generator().manual_seed(0)
        state = pt.init(target, 16, 2, gen)
        counter = sync_counter()
        result = pt.sample(target, 16, 2, rounds, gen, state=state)
        counts.append(counter.count)
        monkeypatch.undo()  # stops the counter and resets DEFER_ON_CPU: set it again
        monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", True)
        assert result.swap_accept.device.type == "cpu" and result.accept.shape == (4,)
    assert (counts[1] - counts[0]) / 8 == reads, counts


def test_the_gpu_path_names_a_kernel_whose_last_evaluation_is_elsewhere(monkeypatch, looks_elsewhere) -> None:
    """Stale path parts are never used silently: the CPU path evaluates those chains again, the GPU path raises
    at the end of sample() (a kernel claiming ends_at_proposal wrongly), naming the switch that checks."""
    from ebmlab.errors import EbmlabError

    target = GaussianMixture([[-2.0, 0.0], [2.0, 0.0]], 0.4)
    pt = ReplicaExchange(looks_elsewhere(0.05), n_rungs=4, base_scale=2.0)
    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", False)  # the CPU path (also under pytest --gpu-path)
    cpu = pt.sample(target, 16, 2, 5, torch.Generator().manual_seed(1))
    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", True)
    with pytest.raises(EbmlabError, match="ends_at_proposal = False"):
        pt.sample(target, 16, 2, 5, torch.Generator().manual_seed(1))
    pt.kernel.ends_at_proposal = False
    assert torch.equal(pt.sample(target, 16, 2, 5, torch.Generator().manual_seed(1)).samples, cpu.samples)


def test_the_gpu_path_gives_the_same_chains_and_names_a_nan_base_draw_at_the_end(monkeypatch) -> None:
    """Deferring the base-draw check changes no number, and a NaN energy where the base puts mass still raises with
    the same message: at the end of sample() (or at settled() after a loop of step() calls) instead of at once."""
    target = GaussianMixture([[-2.0, 0.0], [2.0, 0.0]], 0.4)

    def run() -> tuple[Tensor, Tensor]:
        pt = ReplicaExchange(MALA(0.05), n_rungs=4, base_scale=2.0)
        result = pt.sample(target, 16, 2, 6, torch.Generator().manual_seed(3))
        return result.samples, result.swap_accept

    now = run()
    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", True)
    late = run()
    assert torch.equal(now[0], late[0]) and torch.equal(now[1].nan_to_num(-1), late[1].nan_to_num(-1))

    energy = lambda x: torch.where(x[:, 0] < -3.0, float("nan"), 0.5 * x.square().sum(1))  # noqa: E731
    pt = ReplicaExchange(MALA(0.1), n_rungs=3, base=DiagonalNormal(torch.zeros(2), 5.0))
    gen = torch.Generator().manual_seed(0)
    state = pt.init(energy, 16, 2, gen, x0=torch.zeros(3, 16, 2))
    for _ in range(3):
        state, _ = pt.step(energy, state, gen)  # deferred: no error yet
    assert state.bad_base is not None and int(state.bad_base) > 0
    with pytest.raises(NonFiniteError, match="draws of the last rounds from the base q"):
        pt.settled(state)
    with pytest.raises(NonFiniteError, match="from the base q"):
        pt.sample(energy, 16, 2, 3, gen, state=pt.init(energy, 16, 2, gen, x0=torch.zeros(3, 16, 2)))


def test_stepping_stone_names_a_nan_base_draw_on_the_gpu_path(monkeypatch) -> None:
    """log_z_stepping_stone runs its own loop of step() calls, so it must settle the state: on the GPU path a NaN
    energy where the base puts mass raises at the end instead of giving an estimate (it gave one before session 17)."""
    from ebmlab.estimators import log_z_stepping_stone

    started = []

    def energy(x: Tensor) -> Tensor:  # finite at the starting points, NaN far left once the rounds run
        e = 0.5 * x.square().sum(1)
        if started:
            return torch.where(x[:, 0] < -3.0, float("nan"), e)
        started.append(True)
        return e

    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", True)
    base = DiagonalNormal(torch.zeros(2), 5.0)
    with pytest.raises(NonFiniteError, match="draws of the last rounds from the base q"):
        log_z_stepping_stone(energy, 2, 16, 5, 0, n_rungs=3, base=base, adapt_rounds=0, seed=0)
