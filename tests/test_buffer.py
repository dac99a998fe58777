"""Tests of the persistent-chain replay buffer."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from ebmlab.errors import CheckpointError, ConfigError, ShapeError
from ebmlab.samplers.buffer import ReplayBuffer


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_same_seed_same_draws_and_lazy_init() -> None:
    a, b = ReplayBuffer(100, (2, 3)), ReplayBuffer(100, (2, 3))
    assert not a.initialized and a.buffer is None
    ga, gb = gen(0), gen(0)
    for _ in range(3):
        (xa, ia), (xb, ib) = a.sample(16, ga), b.sample(16, gb)
        assert torch.equal(xa, xb) and torch.equal(ia, ib)
    assert xa.shape == (16, 2, 3) and ia.shape == (16,) and ia.dtype == torch.int64
    assert torch.equal(a.buffer, b.buffer)
    assert a.buffer.abs().max() <= 1.0  # default init: uniform in [-1, 1]
    c = ReplayBuffer(100, (2, 3))
    c.sample(16, gen(1))
    assert not torch.equal(a.buffer, c.buffer)  # the generator determines the initial content


def test_reinit_fraction_matches_reinit_prob() -> None:
    p, n = 0.2, 20000
    buf = ReplayBuffer(50, (1,), reinit_prob=p)
    g = gen(1)
    buf.initialize(g)
    buf.push(torch.full((50, 1), 5.0))  # outside [-1, 1]: fresh points are recognisable
    x, _ = buf.sample(n, g)
    frac = float((x != 5.0).double().mean())
    se = math.sqrt(p * (1 - p) / n)
    assert abs(frac - p) < 4 * se, f"reinit fraction {frac:.4f}, expected {p} ± {se:.4f}"


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_reinit_extremes(p: float) -> None:
    buf = ReplayBuffer(10, (1,), reinit_prob=p)
    g = gen(2)
    buf.initialize(g)
    buf.push(torch.full((10, 1), 5.0))
    x, _ = buf.sample(1000, g)
    assert bool((x == 5.0).all()) is (p == 0.0)
    assert bool((x != 5.0).all()) is (p == 1.0)


def test_sample_is_uniform_over_slots() -> None:
    buf = ReplayBuffer(8, (1,), reinit_prob=0.0)
    _, idx = buf.sample(80000, gen(3))
    counts = torch.bincount(idx, minlength=8).double()
    expected = 10000.0
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 30.0  # chi-square with 7 dof: P(> 30) ≈ 1e-4


def test_push_sample_round_trip() -> None:
    buf = ReplayBuffer(20, (3,), reinit_prob=0.0)
    g = gen(4)
    x, idx = buf.sample(64, g)  # with replacement: duplicates are expected
    y = x + 10.0 * torch.arange(64.0)[:, None]  # each row unique
    buf.push(y, idx)
    # For a repeated slot the last sample pushed to it wins.
    for slot in idx.unique().tolist():
        last = int((idx == slot).nonzero().max())
        assert torch.equal(buf.buffer[slot], y[last])
    x2, idx2 = buf.sample(32, g)
    assert torch.equal(x2, buf.buffer[idx2])
    x2.add_(1.0)  # sample returns a copy
    assert not torch.equal(x2, buf.buffer[idx2])
    assert buf.count == 64


def test_push_ring_buffer_order() -> None:
    buf = ReplayBuffer(5, (1,))
    buf.initialize(gen(5))
    buf.push(torch.arange(3.0)[:, None])
    buf.push(torch.arange(3.0, 7.0)[:, None])  # wraps: slots 3, 4, 0, 1
    assert buf.buffer.flatten().tolist() == [5.0, 6.0, 2.0, 3.0, 4.0]
    assert (buf.ptr, buf.count) == (2, 7)
    buf.push(torch.arange(100.0, 112.0)[:, None])  # more than capacity: the last 5 remain
    assert sorted(buf.buffer.flatten().tolist()) == [107.0, 108.0, 109.0, 110.0, 111.0]


def test_push_detaches() -> None:
    buf = ReplayBuffer(4, (2,))
    x, idx = buf.sample(4, gen(6))
    w = torch.ones(2, requires_grad=True)
    buf.push(x * w, idx)
    assert not buf.buffer.requires_grad


def test_state_dict_round_trip_through_safetensors(tmp_path) -> None:
    buf = ReplayBuffer(30, (2,), reinit_prob=0.3)
    g = gen(7)
    for _ in range(3):
        x, idx = buf.sample(8, g)
        buf.push(x * 0.5, idx)
    buf.push(torch.zeros(4, 2))
    state = buf.state_dict()
    assert set(state) == {"buffer", "ptr", "count"} and all(isinstance(v, torch.Tensor) for v in state.values())
    path = tmp_path / "buffer.safetensors"
    save_file({**state, "generator": g.get_state()}, str(path))

    def continue_run(b: ReplayBuffer, gg: torch.Generator) -> list[torch.Tensor]:
        out = []
        for _ in range(4):
            x, idx = b.sample(8, gg)
            b.push(x - 1.0, idx)
            b.push(x[:2])
            out += [x, idx]
        return [*out, b.buffer.clone()]

    expected = continue_run(buf, g)
    loaded = load_file(str(path))
    g2 = torch.Generator()
    g2.set_state(loaded.pop("generator"))
    buf2 = ReplayBuffer(30, (2,), reinit_prob=0.3)
    buf2.load_state_dict(loaded)
    assert (buf2.ptr, buf2.count) == (4 % 30, 3 * 8 + 4)
    got = continue_run(buf2, g2)
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))


def test_state_dict_with_torch_load_weights_only(tmp_path) -> None:
    buf = ReplayBuffer(6, (1, 2))
    empty = buf.state_dict()  # before initialisation
    assert empty["buffer"].shape == (0, 1, 2)
    buf.sample(3, gen(8))
    path = tmp_path / "buffer.pt"
    torch.save(buf.state_dict(), path)
    buf2 = ReplayBuffer(6, (1, 2))
    buf2.load_state_dict(torch.load(path, weights_only=True))
    assert torch.equal(buf2.buffer, buf.buffer)
    buf2.load_state_dict(empty)
    assert not buf2.initialized


def test_bad_state_raises_checkpoint_error() -> None:
    buf = ReplayBuffer(10, (2,))
    good = ReplayBuffer(10, (2,))
    good.sample(1, gen(9))
    state = good.state_dict()
    with pytest.raises(CheckpointError, match="missing keys \\['ptr'\\]"):
        buf.load_state_dict({k: v for k, v in state.items() if k != "ptr"})
    with pytest.raises(CheckpointError, match="unexpected keys \\['extra'\\]"):
        buf.load_state_dict({**state, "extra": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"shape \(10, 3\).*expects \(10, 2\)"):
        buf.load_state_dict({**state, "buffer": torch.zeros(10, 3)})
    with pytest.raises(CheckpointError, match=r"expects \(10, 2\)"):
        buf.load_state_dict({**state, "buffer": torch.zeros(11, 2)})
    with pytest.raises(CheckpointError, match="floating-point"):
        buf.load_state_dict({**state, "buffer": torch.zeros(10, 2, dtype=torch.int64)})
    with pytest.raises(CheckpointError, match="'ptr' = 10 is out of range"):
        buf.load_state_dict({**state, "ptr": torch.tensor(10)})
    with pytest.raises(CheckpointError, match="'count' must be a one-element integer"):
        buf.load_state_dict({**state, "count": torch.tensor(1.5)})
    with pytest.raises(CheckpointError, match="mapping"):
        buf.load_state_dict([1, 2])  # type: ignore[arg-type]
    assert not buf.initialized  # failed loads leave the buffer untouched


def test_push_shape_errors() -> None:
    buf = ReplayBuffer(10, (2,))
    with pytest.raises(ConfigError, match="sample\\(\\) or initialize"):
        buf.push(torch.zeros(3, 2))
    buf.initialize(gen(10))
    with pytest.raises(ShapeError, match=r"\(k, 2\), got \(3, 3\)"):
        buf.push(torch.zeros(3, 3))
    with pytest.raises(ShapeError, match=r"\(k, 2\), got \(2,\)"):
        buf.push(torch.zeros(2))
    with pytest.raises(ShapeError, match="idx must be an integer tensor of shape \\(3,\\)"):
        buf.push(torch.zeros(3, 2), torch.tensor([0, 1]))
    with pytest.raises(ShapeError, match="idx must be an integer"):
        buf.push(torch.zeros(3, 2), torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ConfigError, match=r"\[0, 10\)"):
        buf.push(torch.zeros(3, 2), torch.tensor([0, 1, 10]))


def test_init_fn_is_used_and_checked() -> None:
    def init(n: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 4, generator=g, dtype=torch.float64) + 100.0

    buf = ReplayBuffer(16, 4, init_fn=init)
    x, _ = buf.sample(5, gen(11))
    assert x.dtype == torch.float64 and bool((x > 90).all())
    bad = ReplayBuffer(16, 4, init_fn=lambda n, g: torch.zeros(n, 3))
    with pytest.raises(ShapeError, match=r"expected a tensor of shape \(16, 4\)"):
        bad.sample(5, gen(12))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0, (2,)), {}, "capacity must be an int >= 1"),
        ((2.5, (2,)), {}, "capacity must be an int >= 1"),
        ((10, (2,)), {"reinit_prob": -0.1}, r"reinit_prob must be a probability in \[0, 1\]"),
        ((10, (2,)), {"reinit_prob": 1.5}, "reinit_prob"),
        ((10, (2,)), {"reinit_prob": float("nan")}, "reinit_prob"),
        ((10, (-1,)), {}, "event_shape"),
        ((10, (2,)), {"init_fn": 3}, "init_fn must be callable"),
    ],
)
def test_constructor_validation(args, kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        ReplayBuffer(*args, **kwargs)


def test_sample_requires_generator() -> None:
    buf = ReplayBuffer(4, (1,))
    with pytest.raises(ConfigError, match=r"torch\.Generator"):
        buf.sample(2, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n must be an int"):
        buf.sample(-1, gen(0))


def test_the_gpu_path_reads_the_host_never_and_keeps_the_same_choices(monkeypatch, sync_counter) -> None:
    """On the GPU path (finite_watch.DEFER_ON_CPU) sample() draws n fresh points and keeps the chosen ones, so
    nothing reads how many were chosen, and push() skips the range check of the very idx sample() returned (an
    idx changed in place is checked again). The slots and the choices are those of the CPU path; the fraction
    chosen stays reinit_prob. Before session 17: 3 host reads per sample + push."""
    from ebmlab.samplers import finite_watch

    def draw(defer: bool) -> tuple[ReplayBuffer, torch.Tensor, torch.Tensor]:
        monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", defer)
        buf = ReplayBuffer(50, (1,), reinit_prob=0.2)
        g = gen(1)
        buf.initialize(g)
        buf.push(torch.full((50, 1), 5.0))  # outside [-1, 1]: fresh points are recognisable
        x, idx = buf.sample(20000, g)
        return buf, x, idx

    _, now_x, now_idx = draw(False)
    buf, late_x, late_idx = draw(True)
    assert torch.equal(now_idx, late_idx) and torch.equal(now_x == 5.0, late_x == 5.0)
    frac = float((late_x != 5.0).double().mean())
    assert abs(frac - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 20000) and bool((late_x[late_x != 5.0].abs() <= 1).all())

    never = ReplayBuffer(50, (1,), reinit_prob=0.0)
    never.initialize(gen(5))
    counter = sync_counter()
    x, idx = buf.sample(64, gen(2))
    buf.push(x, idx)
    never.push(*never.sample(64, gen(6)))
    reads = counter.count
    monkeypatch.undo()
    assert reads == 0, reads
    idx[0] = 50  # out of range, in place: checked again
    with pytest.raises(ConfigError, match=r"\[0, 50\)"):
        buf.push(x, idx)
    x, idx = buf.sample(4, gen(3))
    with pytest.raises(ConfigError, match=r"\[0, 50\)"):
        buf.push(x, idx + 50)  # a new tensor: checked
