"""Checkpoints: format, atomicity, corruption, and exact resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ebmlab.errors import CheckpointError
from ebmlab.training import CheckpointManager, Losses, Method, TrainConfig, fit, load_weights, read_metrics
from ebmlab.training import checkpoint as ckpt_module


class Killed(Exception):
    """Stands in for a SIGKILL: raised by a callback after some step."""


def kill_at(step: int):
    def callback(s: int, values: dict) -> None:
        if s == step:
            raise Killed

    return callback


class NoisyRegression(Method):
    """Uses every kind of state a resume must restore: Adam moments, the loop's generator, the global
    RNG (dropout), the data order, and non-parameter extra state (a persistent-chain-like buffer)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 1))
        self.chains = torch.zeros(8, 3)
        self.pushes = 0

    def losses(self, batch, ctx):
        generator = ctx.generator
        x, y = batch[:, :3], batch[:, 3:]
        x = x + 0.1 * torch.randn(x.shape, generator=generator)
        idx = torch.randint(8, (4,), generator=generator)
        self.chains[idx] = 0.9 * self.chains[idx] + torch.randn(4, 3, generator=generator)
        self.pushes += 1
        reg = self.net(self.chains).square().mean()
        loss = (self.net(x) - y).square().mean() + 0.01 * reg
        return Losses({"model": loss}, {"reg": reg.detach()})

    def extra_state(self):
        return {"chains": self.chains.clone(), "pushes": torch.tensor(self.pushes)}

    def load_extra_state(self, state):
        self.chains = state["chains"].clone()
        self.pushes = int(state["pushes"])


def _data() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g)
    return torch.cat([x, x.sum(1, keepdim=True).sin()], 1)


def _method() -> NoisyRegression:
    torch.manual_seed(0)
    return NoisyRegression()


# a warm-up + cosine schedule, so a resume that lost track of the step would also change the learning rate
CFG = TrainConfig(
    steps=24,
    batch_size=16,
    lr=0.01,
    checkpoint_every=5,
    log_every=3,
    keep_checkpoints=2,
    progress=False,
    lr_schedule="cosine",
    warmup_steps=4,
    final_lr_fraction=0.1,
)


def _records(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in read_metrics(path / "metrics.jsonl")]


def _assert_same_state(a: NoisyRegression, b: NoisyRegression) -> None:
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    assert torch.equal(a.chains, b.chains) and a.pushes == b.pushes


@pytest.mark.parametrize("kill", [13, 15])
def test_killed_and_resumed_run_is_bit_identical(tmp_path: Path, kill: int):
    straight = fit(_method(), _data(), CFG, run_dir=tmp_path / "straight")
    with pytest.raises(Killed):
        fit(_method(), _data(), CFG, run_dir=tmp_path / "killed", callbacks=[kill_at(kill)])
    resumed = fit(_method(), _data(), CFG, run_dir=tmp_path / "killed", resume=True)
    assert resumed.summary["resumed_from"] == 15 if kill == 15 else 10
    _assert_same_state(straight.method, resumed.method)
    assert _records(tmp_path / "straight") == _records(tmp_path / "killed")  # metrics identical, no duplicates
    # and the optimiser moments too (the next step would differ otherwise)
    a = load_file(str(tmp_path / "straight/checkpoints/step_0000024/state.safetensors"))
    b = load_file(str(tmp_path / "killed/checkpoints/step_0000024/state.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fused_optimizer_resumes_bit_identically_and_rounds_differently(tmp_path: Path):
    """train.fused_optimizer: PyTorch's fused kernels (the optimiser is built with them, and a resume keeps them);
    a killed and resumed run is bit-identical to a straight one, and the parameters differ from the default's by
    rounding only."""
    cfg = replace(CFG, fused_optimizer=True)
    default = fit(_method(), _data(), CFG, run_dir=tmp_path / "default")
    straight = fit(_method(), _data(), cfg, run_dir=tmp_path / "straight")
    groups = lambda run: json.loads((tmp_path / run / "checkpoints/step_0000024/trainer.json").read_text())  # noqa: E731
    with pytest.raises(Killed):
        fit(_method(), _data(), cfg, run_dir=tmp_path / "killed", callbacks=[kill_at(13)])
    resumed = fit(_method(), _data(), cfg, run_dir=tmp_path / "killed", resume=True)
    for run, fused in (("default", None), ("straight", True), ("killed", True)):
        (group,) = groups(run)["optimizers"]["model"]["param_groups"]
        assert group["fused"] is fused and group["foreach"] is (None if fused else True)
    _assert_same_state(straight.method, resumed.method)
    pairs = list(zip(straight.method.state_dict().values(), default.method.state_dict().values(), strict=True))
    assert not all(torch.equal(p, q) for p, q in pairs)
    assert all(torch.allclose(p, q, rtol=1e-4, atol=1e-5) for p, q in pairs)


def test_resume_without_checkpoint_starts_fresh_and_resume_of_finished_run_is_a_no_op(tmp_path: Path):
    run = fit(_method(), _data(), CFG, run_dir=tmp_path, resume=True)
    assert run.step == 24 and run.summary["resumed_from"] is None
    again = fit(_method(), _data(), CFG, run_dir=tmp_path, resume=True)
    assert again.step == 24 and again.summary["resumed_from"] == 24
    _assert_same_state(run.method, again.method)


def test_checkpoint_layout_is_pickle_free_and_pruned(tmp_path: Path):
    method = _method()
    fit(method, _data(), CFG, run_dir=tmp_path)
    ckdir = tmp_path / "checkpoints"
    assert sorted(p.name for p in ckdir.iterdir()) == ["latest", "step_0000020", "step_0000024"]  # keep 2
    assert (ckdir / "latest").read_text() == "step_0000024\n"
    step = ckdir / "step_0000024"
    assert sorted(p.name for p in step.iterdir()) == [
        "config.yaml",
        "model.safetensors",
        "state.safetensors",
        "trainer.json",
    ]
    model = load_file(str(step / "model.safetensors"))
    assert all(torch.equal(model[k], v) for k, v in method.state_dict().items())
    state = load_file(str(step / "state.safetensors"))
    assert {"rng/method", "rng/torch", "extra/chains", "extra/pushes"} <= set(state)
    meta = json.loads((step / "trainer.json").read_text())
    assert meta["step"] == 24 and meta["data"] == {"epoch": 11, "position": 2, "global_batch": 16}  # 2 batches/epoch
    assert set(meta["files"]) == {"model.safetensors", "state.safetensors", "config.yaml"}
    fresh = _method()
    load_weights(fresh, tmp_path)
    _assert_same_state(method, fresh)


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path: Path, monkeypatch):
    real = ckpt_module._save_tensors
    calls = {"n": 0}

    def flaky(tensors, path):
        calls["n"] += 1
        if "step_0000010" in str(path.parent) and path.name == "state.safetensors":
            path.write_bytes(b"partial")  # half-written, then the disk fills up
            raise OSError(28, "No space left on device")
        real(tensors, path)

    monkeypatch.setattr(ckpt_module, "_save_tensors", flaky)
    with pytest.raises(
        CheckpointError, match=r"step 10 .*No space left on device.*previous checkpoint .*step_0000005 is intact"
    ):
        fit(_method(), _data(), CFG, run_dir=tmp_path)
    ckdir = tmp_path / "checkpoints"
    assert sorted(p.name for p in ckdir.iterdir()) == ["latest", "step_0000000", "step_0000005"]  # no temp dir left
    assert (ckdir / "latest").read_text() == "step_0000005\n"
    assert CheckpointManager(ckdir).load(ckdir / "step_0000005").step == 5
    monkeypatch.setattr(ckpt_module, "_save_tensors", real)
    resumed = fit(_method(), _data(), CFG, run_dir=tmp_path, resume=True)
    straight = fit(_method(), _data(), CFG, run_dir=tmp_path / "straight")
    _assert_same_state(straight.method, resumed.method)


@pytest.mark.parametrize("damage", ["truncate", "flip", "json"])
def test_corrupt_checkpoint_names_file_and_fix(tmp_path: Path, damage: str):
    fit(_method(), _data(), CFG, run_dir=tmp_path)
    step = tmp_path / "checkpoints" / "step_0000024"
    if damage == "truncate":
        target = step / "model.safetensors"
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "flip":
        target = step / "state.safetensors"
        raw = bytearray(target.read_bytes())
        raw[-1] ^= 0xFF
        target.write_bytes(bytes(raw))
    else:
        target = step / "trainer.json"
        target.write_text('{"format": "ebmlab-che')
    with pytest.raises(CheckpointError) as info:
        fit(_method(), _data(), CFG, run_dir=tmp_path, resume=True)
    message = str(info.value)
    assert str(target) in message and "corrupt or truncated" in message
    assert f"delete {step} to resume from step 20" in message
    for child in step.iterdir():  # following the advice works
        child.unlink()
    step.rmdir()
    run = fit(_method(), _data(), CFG, run_dir=tmp_path, resume=True)
    assert run.summary["resumed_from"] == 20 and run.step == 24


def test_missing_checkpoint_and_newer_format(tmp_path: Path):
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        load_weights(_method(), tmp_path)
    fit(_method(), _data(), CFG, run_dir=tmp_path)
    meta_file = tmp_path / "checkpoints/step_0000024/trainer.json"
    meta = json.loads(meta_file.read_text())
    meta["format_version"] = 99
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="newer ebmlab"):
        load_weights(_method(), tmp_path)
