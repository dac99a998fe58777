"""Drawing the next block ahead on a helper thread (ebmlab.samplers.draw_ahead): the same numbers in the same order,
the generator left where drawing block by block leaves it (also after an error), and the helper really used."""

from __future__ import annotations

import threading

import pytest
import torch

from ebmlab.errors import ConfigError, NonFiniteError
from ebmlab.samplers import HMC, MALA, ULA, KineticLangevin, draw_ahead, driver, sample
from ebmlab.samplers.chains import run_chains
from ebmlab.samplers.draw_ahead import BlockDraws


def mixture(x: torch.Tensor) -> torch.Tensor:
    a = (x - 1.5).square().sum(-1)
    b = (x + 1.5).square().sum(-1)
    return -torch.logsumexp(torch.stack([-a, -b]), 0)


def drawing_threads(monkeypatch) -> list[str]:
    """The names of the threads that call ``torch.randn`` from now on."""
    names: list[str] = []
    real = torch.randn

    def recording(*args, **kwargs):
        names.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "randn", recording)
    return names


@pytest.fixture
def helper_threads(monkeypatch) -> list[str]:
    """Every block size is worth drawing ahead, blocks are 3 steps of 16 × 2 chains, and the names of the threads
    that drew are recorded."""
    monkeypatch.setattr(draw_ahead, "AHEAD_MIN_ELEMENTS", 1)
    monkeypatch.setattr(driver, "_BLOCK_ELEMENTS", 96)
    return drawing_threads(monkeypatch)


def test_blocks_hold_the_sequential_numbers_and_leave_the_generator_there() -> None:
    g = torch.Generator().manual_seed(3)
    draws = BlockDraws(lambda k: torch.rand(k, generator=g), 10, 4, g, ahead=True)
    got = [draws.next()[0] for _ in range(3)]
    draws.close()
    ref = torch.Generator().manual_seed(3)
    assert [len(b) for b in got] == [4, 4, 2]
    assert torch.equal(torch.cat(got), torch.rand(10, generator=ref))
    assert torch.equal(g.get_state(), ref.get_state())  # nothing drawn beyond the plan


def test_settle_undoes_a_draw_in_flight_and_names_the_state_before_each_block() -> None:
    """After one block of three the second is in flight; settling puts the generator back to after the first."""
    g = torch.Generator().manual_seed(5)
    draws = BlockDraws(lambda k: torch.rand(k, generator=g), 9, 3, g, ahead=True)
    first, before_first = draws.next()
    assert before_first is None  # drawn on this thread, nothing asked
    draws.close()
    ref = torch.Generator().manual_seed(5)
    assert torch.equal(first, torch.rand(3, generator=ref))
    assert torch.equal(g.get_state(), ref.get_state())
    g2 = torch.Generator().manual_seed(5)
    again = BlockDraws(lambda k: torch.rand(k, generator=g2), 9, 3, g2, ahead=True)
    again.next()
    _, before_second = again.next()  # drawn ahead: the state it started from is handed out with it
    again.close()
    ref2 = torch.Generator().manual_seed(5)
    torch.rand(3, generator=ref2)
    assert before_second is not None and torch.equal(before_second, ref2.get_state())


@pytest.mark.parametrize(
    "kernel", [ULA(0.05), MALA(0.1), HMC(0.1, 3), KineticLangevin(0.1, friction=2.0)], ids=lambda k: k.name
)
@pytest.mark.parametrize("capture", ["auto", "eager"])
def test_sample_gives_the_same_chains_with_the_draws_ahead(kernel, capture: str, helper_threads: list[str]) -> None:
    """ULA / kinetic under ``auto`` on a CPU run step by step (step_watch), the rest and ``eager`` in blocks."""
    x0 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    runs = {}
    for ahead in (False, True):
        g = torch.Generator().manual_seed(7)
        helper_threads.clear()
        res = sample(mixture, kernel, x0, 40, warmup=10, generator=g, diagnostics=False, capture=capture,
                     draw_ahead=ahead)  # fmt: skip
        runs[ahead] = (res.samples, res.final_state.x, g.get_state(), list(helper_threads))
        assert res.draw_ahead == res.summary()["draw_ahead_share"] == float(ahead)  # the result says what ran
    (s0, x_0, g0, names0), (s1, x_1, g1, names1) = runs[False], runs[True]
    assert torch.equal(s0, s1) and torch.equal(x_0, x_1) and torch.equal(g0, g1)
    assert not any(n.startswith("ebmlab-draws") for n in names0)
    assert sum(n.startswith("ebmlab-draws") for n in names1) >= 10  # the later blocks came from the helper


class TurnsNaN:
    """The mixture, until its ``at``-th call, after which chain 3's energy is NaN (ULA stops there)."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        e = mixture(x)
        if self.calls >= self.at:
            e = e.clone()
            e[3] = float("nan")
        return e


@pytest.mark.parametrize("capture", ["auto", "eager"])
def test_an_error_leaves_the_same_message_and_generator_as_without(capture: str, helper_threads: list[str]) -> None:
    """ULA stopping after more than one chunk of checks (32 steps): the same error, and the generator where the
    block-by-block loop leaves it (the step watch rewinds it to the failing step's draws; a draw in flight is
    undone first)."""
    x0 = torch.zeros(16, 2, dtype=torch.float64)
    seen = {}
    for ahead in (False, True):
        g = torch.Generator().manual_seed(1)
        with pytest.raises(NonFiniteError, match="step 49") as err:
            sample(TurnsNaN(50), ULA(0.02), x0, 400, generator=g, diagnostics=False, capture=capture,
                   draw_ahead=ahead)  # fmt: skip
        seen[ahead] = (str(err.value), g.get_state())
    assert seen[False][0] == seen[True][0]
    ref = torch.Generator().manual_seed(1)
    for _ in range(17):  # the draws of blocks 1–17 (3 steps each): through the block of step 49, then no further
        torch.randn((3, 16, 2), dtype=torch.float64, generator=ref)
    assert torch.equal(seen[False][1], ref.get_state()) and torch.equal(seen[True][1], ref.get_state())


def test_an_energy_that_raises_leaves_the_generator_as_without(helper_threads: list[str]) -> None:
    calls = {"n": 0}

    def failing(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 20:
            raise RuntimeError("user energy failed")
        return mixture(x)

    x0 = torch.zeros(16, 2, dtype=torch.float64)
    states = []
    for ahead in (False, True):
        calls["n"] = 0
        g = torch.Generator().manual_seed(2)
        with pytest.raises(RuntimeError, match="user energy failed"):
            sample(failing, MALA(0.1), x0, 60, generator=g, diagnostics=False, capture="eager", draw_ahead=ahead)
        states.append(g.get_state())
    assert torch.equal(states[0], states[1])


def test_by_default_small_blocks_and_short_runs_stay_on_the_calling_thread(monkeypatch) -> None:
    """The default ``"auto"`` leaves blocks under AHEAD_MIN_ELEMENTS numbers and runs of at most ``len(PROBE)`` blocks
    alone; above both it probes (the helper draws during the probe)."""
    names = drawing_threads(monkeypatch)
    monkeypatch.setattr(driver, "_BLOCK_ELEMENTS", 96)  # blocks of 3 steps: 30 steps are 10 blocks
    x0 = torch.zeros(16, 2, dtype=torch.float64)
    sample(mixture, MALA(0.1), x0, 90, seed=0, diagnostics=False)  # 30 blocks, but 288 numbers per block
    monkeypatch.setattr(draw_ahead, "AHEAD_MIN_ELEMENTS", 1)
    sample(mixture, MALA(0.1), x0, 3 * len(draw_ahead.PROBE), seed=0, diagnostics=False)  # too short to probe
    assert names and not any(n.startswith("ebmlab-draws") for n in names)
    sample(mixture, MALA(0.1), x0, 90, seed=0, diagnostics=False)
    assert any(n.startswith("ebmlab-draws") for n in names)  # the control: large enough and long enough


class FakeClock:
    """``time.perf_counter`` for the probe: the caller advances it by each block's cost."""

    def __init__(self) -> None:
        self.t = 0.0

    def perf_counter(self) -> float:
        return self.t


@pytest.mark.parametrize(("cost_ahead", "chosen"), [(0.8, True), (1.3, False)])
def test_auto_draws_ahead_when_the_probe_measured_it_faster(monkeypatch, cost_ahead: float, chosen: bool) -> None:
    """A block costs 1 with its draw on the calling thread and ``cost_ahead`` while the helper draws the next one;
    the probe picks the cheaper way, and the numbers are the sequential ones either way."""
    clock = FakeClock()
    monkeypatch.setattr(draw_ahead, "time", clock)
    g = torch.Generator().manual_seed(4)
    blocks = 2 * len(draw_ahead.PROBE)
    draws = BlockDraws(lambda k: torch.rand(k, generator=g), 3 * blocks, 3, g, ahead="auto")
    got, ways = [], []
    for _ in range(blocks):
        out, _ = draws.next()
        got.append(out)
        ways.append(draws.pending is not None)
        clock.t += cost_ahead if draws.pending is not None else 1.0
    draws.close()
    assert ways[: len(draw_ahead.PROBE)] == list(draw_ahead.PROBE)  # the probe's segments
    assert draws.chosen is chosen and all(w is chosen for w in ways[len(draw_ahead.PROBE) : -1])
    assert len(draws.timings[True]) == len(draws.timings[False]) == 4  # two counted blocks per segment
    assert torch.equal(torch.cat(got), torch.rand(3 * blocks, generator=torch.Generator().manual_seed(4)))


def test_auto_probes_again_and_follows_a_machine_that_got_busy(monkeypatch) -> None:
    """Drawing ahead costs 0.8 per block until the clock reaches 60, then 1.3 (another process took the idle core):
    the first probe chooses the helper; a second probe, due ten probe durations after that choice (longer than
    ``REPROBE_SECONDS`` here), chooses the calling thread; the numbers stay the sequential ones."""
    clock = FakeClock()
    monkeypatch.setattr(draw_ahead, "time", clock)
    monkeypatch.setattr(draw_ahead, "REPROBE_SECONDS", 1.0)
    g = torch.Generator().manual_seed(6)
    blocks, n_probe = 200, len(draw_ahead.PROBE)
    draws = BlockDraws(lambda k: torch.rand(k, generator=g), 2 * blocks, 2, g, ahead="auto")
    got, ways, times = [], [], []
    for _ in range(blocks):
        times.append(clock.t)
        out, _ = draws.next()
        got.append(out)
        ways.append(draws.pending is not None)
        clock.t += (0.8 if clock.t < 60 else 1.3) if draws.pending is not None else 1.0
    draws.close()
    assert ways[:n_probe] == list(draw_ahead.PROBE) and ways[n_probe] is True  # the first probe chose the helper
    again = ways.index(False, n_probe)  # the second probe opens with blocks drawn on the calling thread
    assert ways[again : again + n_probe] == list(draw_ahead.PROBE) and not any(ways[again + n_probe :])
    decided, first_probe = times[n_probe], times[n_probe] - times[0]
    assert times[again] >= decided + 10 * first_probe > times[again - 1]  # due ten probe durations later
    assert draws.probes == 2 and draws.chosen is False
    assert draws.share == sum(ways[:-1]) / (blocks - 1)
    assert torch.equal(torch.cat(got), torch.rand(2 * blocks, generator=torch.Generator().manual_seed(6)))


def test_auto_does_not_probe_again_with_too_few_blocks_left(monkeypatch) -> None:
    """A probe falling due with ``len(PROBE)`` blocks or fewer left is not started: the run keeps its choice."""
    clock = FakeClock()
    monkeypatch.setattr(draw_ahead, "time", clock)
    g = torch.Generator().manual_seed(3)
    n_probe = len(draw_ahead.PROBE)
    blocks = 3 * n_probe
    draws = BlockDraws(lambda k: torch.rand(k, generator=g), blocks, 1, g, ahead="auto")
    ways = []
    for b in range(blocks):
        if b == blocks - n_probe:
            clock.t += 1e6  # a probe is due from here on, with len(PROBE) blocks left
        draws.next()
        ways.append(draws.pending is not None)
        clock.t += 0.8 if draws.pending is not None else 1.0
    draws.close()
    assert draws.probes == 1 and all(ways[n_probe:-1])  # the helper, chosen once, to the end


def test_the_global_generator_is_never_drawn_from_ahead(helper_threads: list[str]) -> None:
    """``generator=None`` draws from torch's global generator, which the energy itself may use (dropout): all of it
    stays on the calling thread."""
    x0 = torch.zeros(16, 2, dtype=torch.float64)
    run_chains(MALA(0.1), mixture, x0, 30, None, block=96, capture="eager", draw_ahead=True)
    run_chains(ULA(0.05), mixture, x0, 30, None, block=96, draw_ahead=True)
    assert helper_threads and not any(n.startswith("ebmlab-draws") for n in helper_threads)
    run_chains(MALA(0.1), mixture, x0, 30, torch.Generator().manual_seed(0), block=96, capture="eager", draw_ahead=True)
    assert any(n.startswith("ebmlab-draws") for n in helper_threads)  # the control: its own generator


def test_a_wrong_draw_ahead_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="draw_ahead must be True, False or 'auto', got 'yes'"):
        sample(mixture, MALA(0.1), torch.zeros(4, 2), 5, seed=0, draw_ahead="yes")
