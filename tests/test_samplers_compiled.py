"""Block runners (ebmlab.samplers.compiled): same chains as one kernel.step per step, same errors, no per-step sync.

CUDA graphs are not exercised here (no GPU in CI), and torch.compile once only (a CPU compile takes seconds per
graph; the other tests replace the compiler): benchmarks/capture_check.py checks both on a device
(docs/performance.md).
"""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch

from ebmlab.energies import MLPEnergy
from ebmlab.errors import ConfigError, NonFiniteError
from ebmlab.samplers import HMC, MALA, ULA, BlockGibbs, KineticLangevin, compiled, driver, sample
from ebmlab.samplers.chains import run_chains
from ebmlab.samplers.compiled import BlockRunner, make_block_runner

KERNELS = [ULA(0.05), MALA(0.1), HMC(0.1, 3), KineticLangevin(0.1, friction=2.0)]


def mixture(x: torch.Tensor) -> torch.Tensor:
    """A plain-function energy (two Gaussians), as a user writes one."""
    a = (x - 1.5).square().sum(-1)
    b = (x + 1.5).square().sum(-1)
    return -torch.logsumexp(torch.stack([-a, -b]), 0)


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(driver, "_BLOCK_ELEMENTS", 96)  # K = 3 steps per block for 16 chains × 2 dims


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
@pytest.mark.parametrize("energy_name", ["function", "mlp"])
def test_eager_blocks_equal_step_by_step_bitwise(kernel, energy_name, small_blocks) -> None:
    torch.manual_seed(0)
    energy = mixture if energy_name == "function" else MLPEnergy(2, (8, 8)).double()
    x0 = torch.randn(16, 2, dtype=torch.float64)
    args = dict(thin=4, seed=5, diagnostics=False)
    ref = sample(energy, kernel, x0, 23, capture="off", **args)
    for mode in ("eager", "auto"):
        res = sample(energy, kernel, x0, 23, capture=mode, **args)
        assert torch.equal(res.samples, ref.samples) and torch.equal(res.energies, ref.energies), mode
        assert torch.equal(res.accept_trace, ref.accept_trace)
        assert res.final_state.iteration == ref.final_state.iteration == 23
        assert (res.nonfinite, res.divergent) == (ref.nonfinite, ref.divergent)
        if kernel.name == "kinetic":
            assert torch.equal(res.final_state.momentum, ref.final_state.momentum)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_mala_blocks_equal_step_by_step_float32(temperature, small_blocks) -> None:
    """MALA's block step (log u per block, no division at T = 1) against ``kernel.step``: float32, an
    odd chain count and 3-D events (vector and scalar tails of the elementwise kernels), T = 1 and T ≠ 1."""
    torch.manual_seed(0)
    assert_eager_blocks_equal_step_by_step(MALA(0.6, temperature=temperature), torch.randn(33, 3), 20, thin=1, seed=7)


def assert_eager_blocks_equal_step_by_step(kernel, x0: torch.Tensor, n_steps: int, thin: int, seed: int) -> None:
    """The eager block runner's samples, energies and acceptance equal ``kernel.step``'s bit for bit, with both
    branches of the MH test taken."""
    args = dict(thin=thin, seed=seed, diagnostics=False)
    ref = sample(mixture, kernel, x0, n_steps, capture="off", **args)
    res = sample(mixture, kernel, x0, n_steps, capture="eager", **args)
    assert 0.05 < ref.accept_trace.mean() < 0.95
    for name in ("samples", "energies", "accept_trace", "accept_per_chain"):
        assert torch.equal(getattr(res, name), getattr(ref, name)), name


@pytest.mark.parametrize("kernel", [MALA(0.3), HMC(1.0, 3)], ids=lambda k: k.name)
def test_blocks_equal_step_by_step_when_rows_are_selected_by_index(kernel) -> None:
    """2048 chains × 16 dims reach SELECT_BY_INDEX_MIN: both paths choose rows by index, the block overwriting its own
    proposal in place; the chains must still be those of ``kernel.step``, bit for bit."""
    from ebmlab.samplers.base import SELECT_BY_INDEX_MIN

    x0 = torch.randn(2048, 16, generator=torch.Generator().manual_seed(0))
    assert x0.numel() >= SELECT_BY_INDEX_MIN
    assert_eager_blocks_equal_step_by_step(kernel, x0, 6, thin=2, seed=3)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_hmc_blocks_equal_step_by_step_float32(temperature, small_blocks) -> None:
    """HMC's block step (log u and ½‖p₀‖² per block, no multiplication by 1/T at T = 1, ΔH > threshold or-ed
    with the non-finite mask per block) against ``kernel.step``: float32, an odd chain count, 3-D events, a
    threshold low enough that some trajectories are flagged divergent."""
    torch.manual_seed(0)
    x0 = torch.randn(33, 3)
    kernel = HMC(0.5, 3, temperature=temperature, divergence_threshold=0.5)
    args = dict(thin=1, seed=7, diagnostics=False)
    ref = sample(mixture, kernel, x0, 20, capture="off", **args)
    res = sample(mixture, kernel, x0, 20, capture="eager", **args)
    assert 0.05 < ref.accept_trace.mean() < 0.95  # both branches of the MH test are taken
    assert 0 < ref.divergent < 20 * 33
    for name in ("samples", "energies", "accept_trace", "accept_per_chain"):
        assert torch.equal(getattr(res, name), getattr(ref, name)), name
    assert (res.divergent, res.nonfinite) == (ref.divergent, ref.nonfinite)


def cliff(x: torch.Tensor) -> torch.Tensor:
    """Quadratic inside |x₁| < 2, NaN beyond: chains that step out have a non-finite energy."""
    e = 0.5 * x.square().sum(-1)
    return torch.where(x[:, 0].abs() < 2.0, e, torch.full_like(e, float("nan")))


UNADJUSTED = {  # kernel -> its first non-finite step on the cliff (blocks of 3: start, middle or end of a block)
    ULA(0.6): 1,
    ULA(0.02): 14,
    ULA(0.03): 12,
    KineticLangevin(0.5, friction=0.5): 5,
    KineticLangevin(0.2, friction=0.5): 9,
}


@pytest.mark.parametrize("kernel", list(UNADJUSTED), ids=str)
@pytest.mark.parametrize("defer", [False, True], ids=["at-once", "one-block-late"])
@pytest.mark.parametrize("last_block", [False, True])
def test_unadjusted_kernels_raise_at_the_same_step_with_the_same_message(
    kernel, defer, last_block, small_blocks, monkeypatch
) -> None:
    """Also with the flags read one block late (the CUDA path, finite_watch.DEFER_ON_CPU), and when the bad step
    falls in the run's last block (read after the loop)."""
    from ebmlab.samplers import finite_watch

    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", defer)
    x0 = torch.zeros(16, 2, dtype=torch.float64)
    n_steps = -(-UNADJUSTED[kernel] // 3) * 3 if last_block else 400
    messages = []
    for mode in ("off", "eager"):
        with pytest.raises(NonFiniteError) as err:
            sample(cliff, kernel, x0, n_steps, seed=1, diagnostics=False, capture=mode)
        messages.append(str(err.value))
    assert messages[0] == messages[1] and f"diverged at step {UNADJUSTED[kernel]}:" in messages[0]


def test_mala_counts_rejected_nonfinite_proposals_like_step_by_step(small_blocks) -> None:
    x0 = torch.zeros(16, 2, dtype=torch.float64)
    off = sample(cliff, MALA(0.8), x0, 40, seed=2, diagnostics=False, capture="off")
    blocks = sample(cliff, MALA(0.8), x0, 40, seed=2, diagnostics=False, capture="eager")
    assert off.nonfinite > 0 and blocks.nonfinite == off.nonfinite
    assert torch.equal(blocks.samples, off.samples)


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
def test_block_path_has_no_per_step_host_sync(kernel, monkeypatch, sync_counter) -> None:
    """Syncs per sample() call do not grow with the number of steps in a block (one block here)."""
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    counts = []
    for n_steps in (10, 100):
        counter = sync_counter()
        sample(mixture, kernel, x0, n_steps, thin=n_steps, seed=0, diagnostics=False, capture="eager")
        counts.append(counter.count)
        monkeypatch.undo()
    assert counts[0] == counts[1], counts


def test_capture_errors_name_the_problem() -> None:
    x0 = torch.zeros(4, 2)
    with pytest.raises(ConfigError, match="capture must be one of"):
        sample(mixture, ULA(0.1), x0, 5, capture="fast")
    with pytest.raises(ConfigError, match="CUDA graphs need CUDA tensors"):
        sample(mixture, ULA(0.1), x0, 5, capture="graph")
    state = ULA(0.1).init(mixture, x0).replace(step_size=torch.full((4,), 0.1))
    with pytest.raises(ConfigError, match="per-chain step sizes"):
        make_block_runner(mixture, ULA(0.1), state, "compile")
    assert make_block_runner(mixture, ULA(0.1), state, "auto") is None  # auto falls back to step by step
    with pytest.raises(ConfigError, match="capture must be one of"):
        run_chains(ULA(0.1), mixture, x0, 3, None, hook=lambda t, s, i: None, capture="fast")


def test_auto_runs_unadjusted_kernels_step_by_step_off_cuda() -> None:
    """Off CUDA there is no graph to gain: auto gives ULA / kinetic no block runner (run_chains' lean step-by-step
    path, which stacks no per-step positions, energies or gradients) and MALA / HMC their eager block."""
    x0 = torch.zeros(4, 2)
    for kernel in KERNELS:
        state = kernel.init(mixture, x0)
        runner = make_block_runner(mixture, kernel, state, "auto", planned_steps=100)
        assert (runner is None) == (kernel.name in ("ula", "kinetic")), kernel.name
        assert make_block_runner(mixture, kernel, state, "eager") is not None  # the explicit mode still blocks


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
@pytest.mark.parametrize("block", [0, 96])
def test_run_chains_block_runner_books_like_step_by_step(kernel, block) -> None:
    """The one chain loop (negatives, AIS, tempering, sample) with a runner: same chains and bookkeeping, bitwise."""
    x0 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    runs = [
        run_chains(kernel, mixture, x0, 20, torch.Generator().manual_seed(3), keep_every=3, block=block, capture=mode)
        for mode in ("off", "eager")
    ]
    ref, res = runs
    for name in ("samples", "energies", "accept", "accept_sum", "nonfinite", "divergent", "x"):
        assert torch.equal(getattr(res, name), getattr(ref, name)), name
    assert res.state.iteration == ref.state.iteration == 20


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
def test_eager_block_without_records_stacks_no_positions_and_moves_the_same(kernel, monkeypatch) -> None:
    """A block whose steps the caller does not keep returns no positions or energies, and the same state and flags;
    run_chains asks for records only for the blocks that hold a kept step."""
    x0 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    state = kernel.init(mixture, x0)
    runner = make_block_runner(mixture, kernel, state, "eager")
    noise = torch.randn(5, 16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    uniform = torch.rand(5, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    uniform = uniform if kernel.name in ("mala", "hmc") else None
    full, lean = (runner.run(state, noise, uniform, records=r) for r in (True, False))
    assert full.xs is not None and full.xs.shape == (5, 16, 2) and lean.xs is None and lean.es is None
    for name in ("accept", "ok", "divergent", "accept_mean"):
        assert torch.equal(getattr(lean, name), getattr(full, name)), name
    assert torch.equal(lean.state.x, full.state.x) and torch.equal(lean.state.energy, full.state.energy)
    auto = BlockRunner(mixture, kernel, state.step_size, "auto", 100)  # off CUDA: eager on its first block
    assert auto.run(state, noise, uniform, records=False).xs is None and auto.mode == "eager"
    asked: list[bool] = []
    real_run = type(runner).run
    monkeypatch.setattr(
        type(runner), "run", lambda self, *a, records=True: asked.append(records) or real_run(self, *a, records=records)
    )
    run_chains(kernel, mixture, x0, 9, torch.Generator().manual_seed(3), keep_every=4, block=96, capture="eager")
    assert asked == [False, True, True]  # blocks of 3 steps: 1–3 keep nothing, 4–6 keep 4, 7–9 keep 8


def test_frozen_chains_are_named_the_same_with_blocks() -> None:
    """Trailing non-finite streaks (the frozen-chain warning) are counted across blocks of 2 steps as step by step.

    Scanning ``frozen_after`` over 1..12 compares which of the 5 chains end with a streak of at least that length.
    """
    import warnings

    x0 = torch.zeros(5, 2, dtype=torch.float64)
    seen = {}
    for mode in ("off", "eager"):
        seen[mode] = []
        for frozen_after in range(1, 13):
            with warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                gen = torch.Generator().manual_seed(4)
                run_chains(MALA(2.0), cliff, x0, 12, gen, block=20, frozen_after=frozen_after, capture=mode)
            seen[mode].append([str(w.message) for w in record])
    assert seen["off"] == seen["eager"]
    assert sum(bool(m) for m in seen["off"]) not in (0, 12)  # some streak lengths warn, some do not


def test_compiled_steps_are_cached_per_energy_kernel_and_step_size() -> None:
    """torch.compile is lazy: building the wrapper compiles nothing, so the cache is checked without compiling."""
    from ebmlab.samplers.compiled import compiled_step

    a = compiled_step(mixture, ULA(0.1), 0.1)
    assert compiled_step(mixture, ULA(0.1), 0.1) is a  # a new sample() call reuses the compiled step
    assert compiled_step(mixture, ULA(0.2), 0.2) is not a
    assert compiled_step(mixture, MALA(0.1), 0.1) is not a
    assert compiled_step(cliff, ULA(0.1), 0.1) is not a


def test_compile_failure_falls_back_with_the_reason_and_the_same_chains(monkeypatch, small_blocks) -> None:
    """A failed compile warns with the reason, runs the chains of capture='off', and is not retried by later runs of
    the same energy, kernel and step size (each retry cost a failed compile: seconds)."""
    from ebmlab.samplers import compiled

    attempts = []

    def broken(*args):
        attempts.append(1)
        raise RuntimeError("inductor unavailable")

    monkeypatch.setattr(compiled, "_COMPILED", {})
    monkeypatch.setattr(compiled, "_FAILED", {})
    monkeypatch.setattr(compiled, "_compile", lambda fn: broken)
    x0 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ref = sample(mixture, MALA(0.1), x0, 9, seed=4, diagnostics=False, capture="off")
    with pytest.warns(RuntimeWarning, match="capture='compile' could not compile mala.*inductor unavailable"):
        res = sample(mixture, MALA(0.1), x0, 9, seed=4, diagnostics=False, capture="compile")
    assert torch.equal(res.samples, ref.samples) and attempts == [1]
    assert res.capture == "eager" and "inductor unavailable" in (res.capture_note or "")  # what ran, and why
    again = sample(mixture, MALA(0.1), x0, 9, seed=4, diagnostics=False, capture="compile")
    assert torch.equal(again.samples, ref.samples) and attempts == [1]  # not retried
    state = MALA(0.1).init(mixture, x0)
    runner = make_block_runner(mixture, MALA(0.1), state, "compile", planned_steps=3)
    runner.run(state, torch.randn(3, 16, 2, dtype=torch.float64), torch.rand(3, 16, dtype=torch.float64))
    assert runner.fallback is not None and "inductor unavailable" in runner.fallback


@pytest.mark.skipif(not any(shutil.which(c) for c in ("g++", "c++", "clang++")), reason="inductor needs a C++ compiler")
def test_a_real_compile_of_an_mlp_energy_does_not_fall_back() -> None:
    """The one real torch.compile of the suite (~7 s): MLPEnergy in float32, whose eager E+∇E sends this matmul to
    oneDNN, compiles without the fallback warning (inductor cannot lower that op; ``neural.linear`` gives it plain
    matmuls while compiling), and the chains agree with eager up to rounding."""
    from ebmlab.energies import neural

    torch.manual_seed(0)
    energy = MLPEnergy(64, (64,)).requires_grad_(False)
    x0 = torch.randn(512, 64)
    assert neural._ONEDNN is None or neural.onednn_applies(512, 64, 64)  # eager runs it on oneDNN
    ref = sample(energy, ULA(0.01), x0, 4, seed=0, diagnostics=False, capture="off")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = sample(energy, ULA(0.01), x0, 4, seed=0, diagnostics=False, capture="compile")
    assert torch.allclose(res.samples, ref.samples, rtol=0, atol=1e-4)


@pytest.mark.parametrize("kernel", [ULA(0.1), MALA(0.1), HMC(0.1, 5), KineticLangevin(0.1)], ids=lambda k: k.name)
def test_compile_off_cuda_runs_the_block_in_compiled_chunks_with_the_block_arithmetic(kernel, monkeypatch) -> None:
    """Off CUDA, capture='compile' runs a block of small chains as chunks of COMPILE_EVALS energy evaluations, each
    one call of the compiled block. With the compiler replaced by the identity, the chunks must give the eager
    block's chains and acceptance bit for bit, and the calls must be the chunks (37 steps: 16 + 16 + 5; HMC with
    L = 5: 3-step chunks)."""
    from ebmlab.samplers import compiled

    lengths: list[int] = []

    def counting(fn):
        def call(x, e, g, v, noise, u):
            lengths.append(noise.shape[0])
            return fn(x, e, g, v, noise, u)

        return call

    monkeypatch.setattr(compiled, "_COMPILED", {})
    monkeypatch.setattr(compiled, "_compile", counting)
    x0 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ref = sample(mixture, kernel, x0, 37, seed=4, diagnostics=False, capture="eager")
    res = sample(mixture, kernel, x0, 37, seed=4, diagnostics=False, capture="compile")
    assert torch.equal(res.samples, ref.samples) and res.accept_rate == ref.accept_rate
    size = compiled.compile_chunk(kernel, x0.numel())
    assert compiled.COMPILE_EVALS == 16 and size == (3 if isinstance(kernel, HMC) else 16)
    assert lengths == [size] * (37 // size) + [37 % size]
    assert compiled.compile_chunk(kernel, compiled.COMPILE_BLOCK_MAX_ELEMENTS + 1) == 1  # large chains: per step


@pytest.mark.parametrize(
    ("kernel", "capture", "ran"),
    [
        (MALA(0.1), "auto", "eager"),
        (MALA(0.1), "off", "off"),
        (ULA(0.05), "auto", "off"),
        (ULA(0.05), "eager", "eager"),
    ],
)
def test_the_result_says_how_the_steps_ran(kernel, capture: str, ran: str) -> None:
    """``SampleResult.capture``: off CUDA ``auto`` runs MALA as eager blocks and ULA step by step
    (``make_block_runner``); ``off`` is always one kernel step at a time. No note without a fallback."""
    x0 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    res = sample(mixture, kernel, x0, 12, warmup=4, seed=4, diagnostics=False, capture=capture)
    assert res.capture == ran and res.capture_note is None
    assert res.summary()["capture_used"] == ran


@pytest.mark.parametrize("kernel", [MALA(0.1), ULA(0.05), HMC(0.1, 3)], ids=lambda k: k.name)
def test_a_long_cheap_run_of_auto_on_a_cpu_suggests_compile(kernel, monkeypatch) -> None:
    """``auto`` never picks ``compile`` (it rounds differently); after a long run at a small batch the result says
    that it may pay. Not when a mode was asked for, for a batch above the block compile's size, for an expensive
    evaluation, or for a short run."""
    x0 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def note(start: torch.Tensor = x0, capture: str = "auto") -> str | None:
        return sample(mixture, kernel, start, 12, seed=4, diagnostics=False, capture=capture).capture_note

    assert note() is None  # a short run: the default threshold (60 s)
    monkeypatch.setattr(driver, "COMPILE_HINT_SECONDS", 0.0)
    monkeypatch.setattr(driver, "COMPILE_HINT_MAX_EVAL", float("inf"))  # whatever this machine's speed
    hint = note()
    assert hint is not None and "capture='compile'" in hint and "--capture compile" in hint
    assert note(capture="eager") is None and note(capture="off") is None
    big = torch.randn(compiled.COMPILE_BLOCK_MAX_ELEMENTS // 2 + 1, 2, dtype=torch.float64)
    assert note(big) is None
    spins = torch.zeros(16, 5, dtype=torch.float64)
    gibbs = sample(lambda s: -(s[:, :-1] * s[:, 1:]).sum(-1), BlockGibbs(), spins, 12, seed=4, diagnostics=False)
    assert gibbs.capture_note is None  # no block runner, nothing to compile
    monkeypatch.setattr(driver, "COMPILE_HINT_MAX_EVAL", 0.0)
    assert note() is None
