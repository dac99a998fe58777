"""Divergence monitor: stop with a clear error, or roll back to the last good checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import ebmlab.training.loop as loop
from ebmlab.errors import NonFiniteError
from ebmlab.training import Losses, Method, TrainConfig, fit, read_metrics


@pytest.fixture(autouse=True, params=[False, True], ids=["host", "device"])
def values_on_device(request, monkeypatch) -> None:
    """Every test twice: values as Python floats (the CPU path) and as tensors with the fused device-side
    check (the accelerator path, forced on the CPU)."""
    monkeypatch.setattr(loop, "keep_on_device", lambda device: request.param)


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"progress": False, "optimizer": "sgd", **kw})


class NaNAt(Method):
    """A finite quadratic until step ``at``, where the loss (or only the gradient) becomes NaN."""

    def __init__(self, at: int, where: str = "loss") -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))
        self.at, self.where, self.calls = at, where, 0

    def losses(self, batch, ctx):
        self.calls += 1
        loss = self.w.square().sum()
        if self.calls == self.at:
            if self.where == "loss":
                loss = loss * float("nan")
            elif self.where == "grad":  # sqrt at 0: finite value, NaN gradient
                loss = loss + (self.w - self.w.detach()).sum().sqrt()
        return Losses({"model": loss}, {"energy_data": loss.detach() * 0, "aux": torch.tensor(0.0)})


def test_nan_loss_stops_before_the_update_with_a_clear_message(tmp_path: Path):
    method = NaNAt(7)
    with pytest.raises(NonFiniteError) as info:
        fit(method, None, _cfg(steps=20, lr=0.1, checkpoint_every=5), run_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("training diverged at step 7: loss/model = nan (non-finite)")
    assert "Lower train.lr (now 0.1)" in message and "train.on_divergence: rollback" in message
    assert "last good checkpoint is step 5" in message
    assert torch.isfinite(method.w).all()  # the NaN never reached the parameters
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["steps"] == 6


def test_nan_gradient_is_caught():
    with pytest.raises(NonFiniteError, match=r"step 3: grad_norm/model = (nan|inf) \(non-finite gradient\)"):
        fit(NaNAt(3, where="grad"), None, _cfg(steps=5, lr=0.1))


def test_monitor_keys_are_configurable():
    class LogsNaN(NaNAt):
        def losses(self, batch, ctx):
            out = super().losses(batch, ctx)
            out.log["aux"] = torch.tensor(float("nan"))
            return out

    with pytest.raises(NonFiniteError, match="step 1: aux = nan"):
        fit(LogsNaN(0), None, _cfg(steps=2, lr=0.1))
    run = fit(LogsNaN(0), None, _cfg(steps=2, lr=0.1, monitor=["energy_data"]))  # aux not watched
    assert run.status == "completed" and run.history[-1]["aux"] is None  # logged as null


class Runaway(Method):
    """SGD on ½w² is stable for lr < 2 and blows up (w ← (1 - lr)·w) above; logs energy_data = ½w²."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.noise = []

    def losses(self, batch, ctx):
        self.noise.append(float(torch.rand((), generator=ctx.generator)))
        e = 0.5 * self.w.square()
        return Losses({"model": e}, {"energy_data": e.detach()})


def test_runaway_energy_threshold():
    # with lr = 3, w_k = (-2)^k and E_k = ½·4^k: the first E above 1e3 is at k = 6 (step 7)
    with pytest.raises(
        NonFiniteError, match=r"step 7: energy_data = 2048.0 \(\|energy_data\| > train.max_abs.energy_data = 1000\)"
    ):
        fit(Runaway(), None, _cfg(steps=50, lr=3.0, max_abs={"energy_data": 1e3}))


def test_rollback_reloads_reseeds_and_lowers_lr(tmp_path: Path):
    cfg = _cfg(
        steps=30, lr=3.0, max_abs={"energy_data": 1e3}, checkpoint_every=4, on_divergence="rollback",
        rollback_lr_factor=0.5,
    )  # fmt: skip
    method = Runaway()
    run = fit(method, None, cfg, run_dir=tmp_path)
    assert run.status == "completed" and run.step == 30
    (event,) = run.summary["rollbacks"]
    assert (event["step"], event["diverged_at"], event["signal"], event["lr_scale"]) == (4, 7, "energy_data", 0.5)
    # after the rollback lr = 1.5 contracts w ← -0.5·w from the step-4 checkpoint (w = 16)
    assert float(method.w.detach()) == pytest.approx(16 * (-0.5) ** 26)
    assert run.history[-1]["lr/model"] == 1.5
    # the generator was reseeded: the draws after the rollback differ from the first attempt's
    assert method.noise[4:6] != method.noise[7:9]
    steps = [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl") if "event" not in r]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # no duplicated steps in the log


def test_rollbacks_run_out():
    cfg = _cfg(
        steps=30, lr=3.0, max_abs={"energy_data": 1e3}, checkpoint_every=4, on_divergence="rollback",
        rollback_lr_factor=1.0, max_rollbacks=2,
    )  # fmt: skip
    with pytest.raises(
        NonFiniteError, match=r"step 7: energy_data = 2048.0 .* after 2 rollbacks \(train.max_rollbacks = 2"
    ):
        fit(Runaway(), None, cfg)


def test_resume_after_rollback_is_exact(tmp_path: Path):
    cfg = _cfg(
        steps=30, lr=3.0, max_abs={"energy_data": 1e3}, checkpoint_every=4, on_divergence="rollback",
    )  # fmt: skip
    straight = fit(Runaway(), None, cfg, run_dir=tmp_path / "a")

    def kill(step, values):
        if step == 13:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(Runaway(), None, cfg, run_dir=tmp_path / "b", callbacks=[kill])
    assert json.loads((tmp_path / "b/summary.json").read_text())["status"] == "interrupted"
    resumed = fit(Runaway(), None, cfg, run_dir=tmp_path / "b", resume=True)
    assert torch.equal(straight.method.w, resumed.method.w)
    assert straight.summary["rollbacks"] == resumed.summary["rollbacks"]
    assert not math.isclose(float(straight.method.w.detach()), 1.0)
