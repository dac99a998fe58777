"""One annealing path from any base density: AIS on binary units (Bernoulli base, Gibbs kernel) and from a flow
base, against exact log Z; replica exchange with a Gibbs kernel; the chain loop's non-finite diagnostics."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from ebmlab.densities import Bernoulli, DiagonalNormal
from ebmlab.errors import NonFiniteError
from ebmlab.estimators import ais
from ebmlab.flows import make_flow
from ebmlab.samplers import MALA, BlockGibbs, GeometricPath, PathPoint, ReplicaExchange, linear_betas, run_chains
from ebmlab.targets import get_target

D = 16


class Boltzmann:
    """Fully visible Boltzmann machine E(x) = −½ xᵀWx − bᵀx on {0, 1}^16 (W symmetric, zero diagonal)."""

    def __init__(self, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        w = 0.35 * torch.randn(D, D, generator=g, dtype=torch.float64)
        self.w = (w + w.T).fill_diagonal_(0.0) / math.sqrt(2)
        self.b = 0.5 * torch.randn(D, generator=g, dtype=torch.float64)

    def __call__(self, x: Tensor) -> Tensor:
        return -0.5 * ((x @ self.w) * x).sum(1) - x @ self.b

    def log_z(self) -> float:
        states = ((torch.arange(2**D).unsqueeze(1) >> torch.arange(D)) & 1).to(torch.float64)
        return float(torch.logsumexp(-self(states), 0))


class FastBoltzmann(Boltzmann):
    def conditional_logits(self, x: Tensor, index: Tensor) -> Tensor:
        """E(x; x_i = 0) − E(x; x_i = 1) = (Wx)_i + b_i (zero diagonal)."""
        return (x @ self.w[:, index]) + self.b[index]


def _bm_ais(model: Boltzmann, seed: int = 0):
    base = Bernoulli(model.b.clone())  # mean-field-free start: independent units with the biases as logits
    gen = torch.Generator().manual_seed(seed)
    return ais(GeometricPath(base, model), BlockGibbs(), 512, linear_betas(200), gen).estimate()


@pytest.mark.parametrize("model", [Boltzmann(), FastBoltzmann()], ids=["generic-flips", "conditional-logits"])
def test_ais_with_gibbs_on_binary_units_matches_enumeration(model: Boltzmann) -> None:
    """Bernoulli base, single-site Gibbs on the path energies (either by 2 energy evaluations per unit or by the
    parts' conditional logits): log Ẑ within 4 standard errors of the sum over all 2^16 states."""
    truth = model.log_z()
    est = _bm_ais(model)
    assert est.stderr < 0.05 and abs(est.z_score(truth)) < 4, (est, truth)


def test_ais_weight_formula_negative_control(monkeypatch: pytest.MonkeyPatch) -> None:
    """The classic mistake — weight increments −Δβ·E instead of −Δβ·(E − E₀), i.e. forgetting the base — is caught."""
    model = FastBoltzmann()
    monkeypatch.setattr(PathPoint, "log_ratio", property(lambda self: self.target))
    est = _bm_ais(model)
    assert abs(est.z_score(model.log_z())) > 10


class _NoLogDet(torch.nn.Module):
    """A wrong 'density': the flow's log_prob without its log-Jacobian (not normalised)."""

    def __init__(self, flow) -> None:
        super().__init__()
        self.flow, self.event_shape = flow, flow.event_shape

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.flow.sample(n, generator)

    def log_prob(self, x: Tensor) -> Tensor:
        return self.flow.base.log_prob(self.flow.transform.inverse(x)[0])


@pytest.mark.parametrize("wrong", [False, True], ids=["flow", "no-log-det-control"])
def test_ais_from_a_flow_base_on_the_double_well(wrong: bool) -> None:
    """An untrained NICE flow (1-D: x = s·z + b, s = 1.5) as the base, MALA on the path: log Ẑ within 4 SE of the
    quadrature value; a base missing the log-Jacobian (log 1.5 off) fails the same check."""
    target = get_target("double-well")
    flow = make_flow("nice", 1, init_scale=1.5, seed=0).double()
    base = _NoLogDet(flow) if wrong else flow
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        est = ais(GeometricPath(base, target), "mala", 512, 100, gen).estimate()
    z = est.z_score(target.log_z())
    assert est.stderr < 0.06
    assert (abs(z) > 10) if wrong else (abs(z) < 4), (est, target.log_z())


@pytest.mark.parametrize("blocks", [None, [[0, 1, 2, 3], [4, 5, 6, 7], list(range(8, D))]])
def test_gibbs_names_the_first_block_with_non_finite_logits_and_leaves_the_state(blocks, monkeypatch) -> None:
    """Logits NaN from unit 9 on: the error names the sweep and the first bad block's units, the chains' state is
    left as it was, and the host reads the blocks' finiteness once per sweep (not once per block)."""
    model = FastBoltzmann()

    def energy(x: Tensor) -> Tensor:
        return model(x)

    def logits(x: Tensor, index: Tensor) -> Tensor:
        return torch.where(index >= 9, torch.nan, model.conditional_logits(x, index))

    kernel, gen = BlockGibbs(blocks), torch.Generator().manual_seed(0)
    state = kernel.init(energy, torch.ones(4, D, dtype=torch.float64))
    reads, real_bool = [], Tensor.__bool__
    monkeypatch.setattr(Tensor, "__bool__", lambda t: reads.append(1) or real_bool(t))
    kernel.step(energy, state, gen)
    assert len(reads) == 1
    energy.conditional_logits = logits  # type: ignore[attr-defined]
    before = state.x.clone()
    with pytest.raises(NonFiniteError, match=r"sweep 1 for units \[(9|8, 9, 10, 11, 12)\];"):
        kernel.step(energy, state, gen)
    assert torch.equal(state.x, before)


def _nan_from_sweep(model: FastBoltzmann, sweep: int):
    """An energy whose conditional logits turn NaN for units ≥ 9 from its ``sweep``-th Gibbs sweep on."""
    calls = {"n": 0}

    def energy(x: Tensor) -> Tensor:
        return model(x)

    def logits(x: Tensor, index: Tensor) -> Tensor:
        calls["n"] += 1
        bad = (calls["n"] - 1) // D + 1 >= sweep  # single-site blocks: D calls per sweep
        return torch.where((index >= 9) & bad, torch.nan, model.conditional_logits(x, index))

    energy.conditional_logits = logits  # type: ignore[attr-defined]
    return energy


@pytest.mark.parametrize("gpu_path", [False, True])
def test_gibbs_chains_read_the_host_once_per_32_sweeps_on_the_gpu_path(
    gpu_path: bool, monkeypatch, sync_counter
) -> None:
    """On the GPU path (finite_watch.DEFER_ON_CPU) run_chains collects each sweep's per-block finiteness and reads
    it with the booking, once per 32 sweeps and at the end: 100 sweeps read the host 4 times, not 100 (the CPU path,
    the control). The chains are the same bit for bit."""
    from ebmlab.samplers import finite_watch

    model, x0 = FastBoltzmann(), torch.ones(8, D, dtype=torch.float64)
    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", gpu_path)
    counter = sync_counter()
    run = run_chains(BlockGibbs(), model, x0, 100, torch.Generator().manual_seed(0), frozen_after=None)
    reads = counter.count
    monkeypatch.undo()
    assert reads == (4 if gpu_path else 100) + 2, reads  # + 2: init checks that the start is binary and finite
    now = run_chains(BlockGibbs(), model, x0, 100, torch.Generator().manual_seed(0), frozen_after=None)
    assert torch.equal(run.x, now.x) and torch.equal(run.state.energy, now.state.energy)


@pytest.mark.parametrize("gpu_path", [False, True])
@pytest.mark.parametrize("sweep", [3, 40])
def test_gibbs_on_the_gpu_path_names_the_same_sweep_and_units(gpu_path: bool, sweep: int, monkeypatch) -> None:
    """Logits NaN from sweep 3 (in the first chunk of 32) or 40 (the second) on: the deferred check raises the CPU
    path's error, naming that sweep and unit 9."""
    from ebmlab.samplers import finite_watch

    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", gpu_path)
    energy = _nan_from_sweep(FastBoltzmann(), sweep)
    x0 = torch.ones(4, D, dtype=torch.float64)
    with pytest.raises(NonFiniteError, match=rf"sweep {sweep} for units \[9\];"):
        run_chains(BlockGibbs(), energy, x0, 70, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("gpu_path", [False, True])
def test_ais_with_gibbs_reads_the_host_once_per_32_temperatures_on_the_gpu_path(gpu_path: bool, monkeypatch,
                                                                                 sync_counter) -> None:  # fmt: skip
    """AIS hands each temperature's Gibbs check over unread and reads them 32 at a time (finite_watch.queued);
    Gibbs ends at its last evaluation (ends_at_proposal), so path.track_on_device needs no read either: 0.03 reads
    per temperature on the GPU path, 2 on the CPU path (the control). The log-weights are the same bit for bit."""
    from ebmlab.samplers import finite_watch

    model = FastBoltzmann()
    path = GeometricPath(Bernoulli(model.b.clone()), model)
    counts, log_w = [], []
    for n_temperatures in (34, 98):
        monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", gpu_path)
        counter = sync_counter()
        result = ais(path, BlockGibbs(), 16, n_temperatures, torch.Generator().manual_seed(0))
        counts.append(counter.count)
        monkeypatch.undo()
        log_w.append(result.log_w)
    per_temperature = (counts[1] - counts[0]) / 64
    assert per_temperature == (2 / 64 if gpu_path else 2), counts
    again = ais(path, BlockGibbs(), 16, 98, torch.Generator().manual_seed(0))
    assert torch.equal(again.log_w, log_w[1])


@pytest.mark.parametrize("gpu_path", [False, True])
@pytest.mark.parametrize("from_sweep", [5, 40])
def test_ais_with_gibbs_on_the_gpu_path_raises_the_same_error(gpu_path: bool, from_sweep: int, monkeypatch) -> None:
    """NaN logits from the 5th or 40th sweep (one per temperature) on: the same error on both paths, read up to 32
    temperatures late on the GPU path, at the latest by the final flush (each temperature's chains start at sweep 0,
    so it names sweep 1)."""
    from ebmlab.samplers import finite_watch

    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", gpu_path)
    model = FastBoltzmann()
    energy = _nan_from_sweep(model, from_sweep)
    path = GeometricPath(Bernoulli(model.b.clone()), energy)
    with pytest.raises(NonFiniteError, match=r"gibbs: non-finite conditional logits at sweep 1 for units \[9\];"):
        ais(path, BlockGibbs(), 16, 50, torch.Generator().manual_seed(0))


def test_replica_exchange_with_gibbs_on_binary_units() -> None:
    """Bernoulli base, Gibbs at every rung: the β = 1 rung's mean of x matches the exact marginals (4 SE over
    independent columns)."""
    model = FastBoltzmann(seed=1)
    states = ((torch.arange(2**D).unsqueeze(1) >> torch.arange(D)) & 1).to(torch.float64)
    p = torch.softmax(-model(states), 0)
    exact = p @ states

    def max_z(temperature: float):
        pt = ReplicaExchange(BlockGibbs(temperature=temperature), n_rungs=4, base=Bernoulli(model.b.clone()))
        result = pt.sample(model, 64, D, 60, torch.Generator().manual_seed(0), burn_in=20)
        col = result.samples.mean(0)  # (n, D): one time average per independent column
        se = col.std(0) / math.sqrt(col.shape[0])
        return float(((col.mean(0) - exact).abs() / se).max()), result

    z, result = max_z(1.0)
    assert z < 4 and result.nonfinite.sum() == 0 and bool((result.swap_accept > 0.1).all())
    assert max_z(1.5)[0] > 8  # negative control: a kernel at the wrong temperature is caught


def test_chains_frozen_by_a_nan_energy_raise_with_the_cause() -> None:
    """MALA rejects every non-finite proposal; if the energy itself turned NaN the loop names that cause."""

    class Broken:
        nan = False

        def __call__(self, x: Tensor) -> Tensor:
            e = 0.5 * x.square().sum(1)
            return e * float("nan") if self.nan else e

    energy = Broken()
    state = MALA(0.1).init(energy, torch.zeros(8, 2))
    energy.nan = True
    with pytest.raises(NonFiniteError, match="energy is now non-finite"):
        run_chains(MALA(0.1), energy, state, 10, torch.Generator().manual_seed(0))
    # a finite energy only in a tiny ball: every proposal of a huge step is +inf, the chains stay put (a warning)
    ball = lambda x: torch.where(x.norm(dim=1) > 1e-3, float("inf"), 0.5 * x.square().sum(1))  # noqa: E731
    with pytest.warns(RuntimeWarning, match="did not move"):
        run_chains(MALA(50.0), ball, torch.zeros(4, 2), 10, torch.Generator().manual_seed(0))


def test_replica_exchange_names_a_nan_energy_on_the_base_draws() -> None:
    """An energy that is NaN where the base puts mass is reported at the round it happens, not as bad starts."""
    energy = lambda x: torch.where(x[:, 0] < -3.0, float("nan"), 0.5 * x.square().sum(1))  # noqa: E731
    pt = ReplicaExchange(MALA(0.1), n_rungs=3, base=DiagonalNormal(torch.zeros(2), 0.5))
    gen = torch.Generator().manual_seed(0)
    state = pt.init(energy, 16, 2, gen)
    pt.base = DiagonalNormal(torch.zeros(2), 5.0)  # now the base reaches the NaN region
    with pytest.raises(NonFiniteError, match=r"draws (of the last rounds )?from the base q"):
        for _ in range(5):
            state, _ = pt.step(energy, state, gen)
        pt.settled(state)  # on the GPU path (pytest --gpu-path) the count is read here


def test_negatives_objects_are_reusable_pieces() -> None:
    """An RBM-style ShortRun (Gibbs from a Bernoulli start) stays binary; a sample-only start (no log_prob, like a
    VAE) works; FromData starts at the data; Annealed carries weights summing to one."""
    from ebmlab.methods import Annealed, FromData, ShortRun
    from ebmlab.samplers import ULA

    model = FastBoltzmann()
    gen = torch.Generator().manual_seed(0)
    neg = ShortRun(BlockGibbs(), 3, Bernoulli(model.b.clone())).draw(model, 32, gen)
    assert neg.x.shape == (32, D) and bool(((neg.x == 0) | (neg.x == 1)).all()) and neg.log_weights is None

    class Decoder:  # sample-only start density
        event_shape = (2,)

        def sample(self, n: int, generator: torch.Generator) -> Tensor:
            return torch.randn(n, 2, generator=generator)

    energy = lambda x: 0.5 * x.square().sum(1)  # noqa: E731
    assert ShortRun(ULA(0.01), 2, Decoder()).draw(energy, 8, gen).x.shape == (8, 2)
    data = torch.randn(8, 2, generator=gen)
    assert torch.equal(FromData(ULA(0.01), 1, None).draw(energy, 4, gen, data=data).x0, data[:4])
    ann = Annealed(MALA(0.1), 5, DiagonalNormal(torch.zeros(2), 1.0)).draw(energy, 16, gen)
    assert math.isclose(float(ann.weights().sum()), 1.0, rel_tol=1e-6) and "ess" in ann.stats


def test_ais_on_a_path_without_cached_parts() -> None:
    """A model's own path (only base, energy(x, β), at(β)) gets the generic increments −(E_βt − E_βt−1)(x): on the
    Boltzmann machine it draws the same chains and weights as the geometric path (up to rounding)."""
    model = FastBoltzmann()
    inner = GeometricPath(Bernoulli(model.b.clone()), model)

    class OwnPath:
        base = inner.base

        def energy(self, x: Tensor, beta: float) -> Tensor:
            return inner.energy(x, beta)

        def at(self, beta: float):
            return inner.at(beta)

    a = ais(OwnPath(), BlockGibbs(), 512, linear_betas(200), torch.Generator().manual_seed(0)).estimate()
    b = _bm_ais(model)
    assert abs(a.value - b.value) < 1e-6 and abs(a.z_score(model.log_z())) < 4


class _OwnPath:
    """A path without cached parts (only base, energy(x, β), at(β)); its energy turns NaN from β = ``nan_from`` on."""

    def __init__(self, model: FastBoltzmann, nan_from: float = 2.0) -> None:
        self.inner, self.nan_from = GeometricPath(Bernoulli(model.b.clone()), model), nan_from
        self.base = self.inner.base

    def energy(self, x: Tensor, beta: float) -> Tensor:
        return self.inner.energy(x, beta) + (torch.nan if beta >= self.nan_from else 0.0)

    def at(self, beta: float):
        inner = self.inner.at(beta)
        return inner if beta < self.nan_from else (lambda x: inner(x) + torch.nan)


@pytest.mark.parametrize("gpu_path", [False, True])
def test_ais_on_a_path_without_parts_reads_its_start_checks_late_on_the_gpu_path(gpu_path, monkeypatch,
                                                                                  sync_counter) -> None:  # fmt: skip
    """Without cached parts AIS starts each temperature's chains with kernel.init (its finiteness test: one read).
    On the GPU path, after the first temperature, that test is queued with the Gibbs checks (two per temperature,
    read 32 at a time: 1/16 read per temperature; on the CPU path, the control, 3: init's binary and finiteness
    tests and the sweep's); the log-weights are the same."""
    from ebmlab.samplers import finite_watch

    counts, log_w = [], []
    for n_temperatures in (34, 98):
        monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", gpu_path)
        counter = sync_counter()
        result = ais(_OwnPath(FastBoltzmann()), BlockGibbs(), 16, n_temperatures, torch.Generator().manual_seed(0))
        counts.append(counter.count)
        monkeypatch.undo()
        log_w.append(result.log_w)
    assert (counts[1] - counts[0]) / 64 == (4 / 64 if gpu_path else 3), counts
    again = ais(_OwnPath(FastBoltzmann()), BlockGibbs(), 16, 98, torch.Generator().manual_seed(0))
    assert torch.equal(again.log_w, log_w[1])


@pytest.mark.parametrize("gpu_path", [False, True])
def test_ais_on_a_path_without_parts_names_a_non_finite_start_on_either_path(gpu_path, monkeypatch) -> None:
    """The energy NaN from β = 0.7 on: init's error on both paths (on the GPU path read up to 16 temperatures late)."""
    from ebmlab.samplers import finite_watch

    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", gpu_path)
    with pytest.raises(NonFiniteError, match=r"gibbs: 16 of 16 starting points have a non-finite energy"):
        ais(
            _OwnPath(FastBoltzmann(), nan_from=0.7),
            BlockGibbs(),
            16,
            linear_betas(50),
            torch.Generator().manual_seed(0),
        )


@pytest.mark.parametrize("gpu_path", [False, True])
def test_replica_exchange_with_gibbs_reads_its_checks_32_rounds_at_a_time_on_the_gpu_path(
    gpu_path: bool, monkeypatch, sync_counter
) -> None:
    """Each round's Gibbs check is kept unread in ReplicaState.unread on the GPU path and read every 32 rounds and
    by settled(): 2/64 reads per round over 64 more rounds, 3 on the CPU path (the control: the sweep's check, the
    base draws' check and track's); the same chains."""
    from ebmlab.samplers import finite_watch

    model = FastBoltzmann(seed=1)
    counts, samples = [], []
    for n_rounds in (40, 104):
        monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", gpu_path)
        pt = ReplicaExchange(BlockGibbs(), n_rungs=4, base=Bernoulli(model.b.clone()))
        counter = sync_counter()
        result = pt.sample(model, 8, D, n_rounds, torch.Generator().manual_seed(0))
        counts.append(counter.count)
        monkeypatch.undo()
        samples.append(result.samples)
    assert (counts[1] - counts[0]) / 64 == (2 / 64 if gpu_path else 3), counts
    pt = ReplicaExchange(BlockGibbs(), n_rungs=4, base=Bernoulli(model.b.clone()))
    assert torch.equal(pt.sample(model, 8, D, 104, torch.Generator().manual_seed(0)).samples, samples[1])


@pytest.mark.parametrize("gpu_path", [False, True])
@pytest.mark.parametrize("from_sweep", [3, 40])
def test_replica_exchange_with_gibbs_names_non_finite_logits_on_either_path(gpu_path, from_sweep, monkeypatch) -> None:
    """NaN logits from round 3 or 40 on: Gibbs's error on both paths (on the GPU path read with the next 32 rounds
    or by settled() at the end of sample)."""
    from ebmlab.samplers import finite_watch

    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", gpu_path)
    model = FastBoltzmann(seed=1)
    energy = _nan_from_sweep(model, from_sweep)
    pt = ReplicaExchange(BlockGibbs(), n_rungs=4, base=Bernoulli(model.b.clone()))
    with pytest.raises(NonFiniteError, match=r"gibbs: non-finite conditional logits at sweep 1 for units \[9\];"):
        pt.sample(energy, 8, D, 50, torch.Generator().manual_seed(0))


def test_a_gibbs_subclass_with_its_own_step_keeps_it_on_the_gpu_path(monkeypatch) -> None:
    """The chain loop's GPU path runs BlockGibbs.sweep only for BlockGibbs itself: a subclass that overrides step
    (here counting its calls) is stepped as written."""
    from ebmlab.samplers import finite_watch

    class Counted(BlockGibbs):
        calls = 0

        def step(self, energy, state, generator=None):
            Counted.calls += 1
            return super().step(energy, state, generator)

    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", True)
    run_chains(Counted(), FastBoltzmann(), torch.ones(4, D, dtype=torch.float64), 7, torch.Generator().manual_seed(0))
    assert Counted.calls == 7
