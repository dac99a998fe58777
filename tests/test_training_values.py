"""Logged values kept on the device between records (the accelerator path, forced here on the CPU) give
the same records, resume and divergences as Python floats (the CPU path), bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import ebmlab.training.loop as loop
from ebmlab.training import Losses, Method, TrainConfig, fit, read_metrics
from ebmlab.training.accumulate import RunningSums


class NoisyLogs(Method):
    """Least squares on the batch; logs a draw from the training stream, an int and a float each step."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))

    def losses(self, batch, ctx):
        loss = (self.w - batch).square().mean()
        noise = torch.rand((), generator=ctx.generator)
        return Losses({"model": loss}, {"noise": noise, "count": torch.tensor(ctx.step), "half": 0.5 * ctx.step})


CFG = TrainConfig(steps=24, batch_size=8, lr=0.05, log_every=5, checkpoint_every=6, progress=False, seed=3)
DATA = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))


def _records(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in read_metrics(run_dir / "metrics.jsonl")]


@pytest.fixture(params=[False, True], ids=["host", "device"])
def on_device(request, monkeypatch) -> bool:
    monkeypatch.setattr(loop, "keep_on_device", lambda device: request.param)
    return request.param


def test_device_path_logs_exactly_what_the_host_path_logs(tmp_path: Path, monkeypatch):
    runs = {}
    for forced in (False, True):
        monkeypatch.setattr(loop, "keep_on_device", lambda device, forced=forced: forced)
        steps: list[dict[str, float]] = []
        run = fit(
            NoisyLogs(),
            DATA,
            CFG,
            run_dir=tmp_path / str(forced),
            callbacks=[lambda s, v, steps=steps: steps.append(v)],
        )
        assert all(isinstance(v, float) for v in steps[0].values())  # callbacks always see floats
        runs[forced] = (_records(tmp_path / str(forced)), steps, run.method.w.detach().clone())
    (host, host_steps, w_host), (device, device_steps, w_device) = runs[False], runs[True]
    assert host == device and host_steps == device_steps and torch.equal(w_host, w_device)
    # a record is the mean of the steps since the previous one (here steps 6-10)
    rec = next(r for r in host if r["step"] == 10)
    assert rec["noise"] == sum(s["noise"] for s in host_steps[5:10]) / 5 and rec["count"] == 8.0


def test_device_path_resumes_bit_for_bit(tmp_path: Path, on_device: bool):
    straight = fit(NoisyLogs(), DATA, CFG, run_dir=tmp_path / "a")

    def kill(step, values):
        if step == 14:  # between a checkpoint (12) and a record (15): the sums come back from the checkpoint
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(NoisyLogs(), DATA, CFG, run_dir=tmp_path / "b", callbacks=[kill])
    resumed = fit(NoisyLogs(), DATA, CFG, run_dir=tmp_path / "b", resume=True)
    assert torch.equal(straight.method.w, resumed.method.w)
    assert _records(tmp_path / "a") == _records(tmp_path / "b")


def test_running_sums_vector_and_per_key_paths_agree():
    values = [{"a": torch.tensor(0.1 * i), "b": torch.tensor(1.0 / (i + 3)), "lr": 0.5} for i in range(7)]
    vector, per_key = RunningSums(), RunningSums()
    for i, v in enumerate(values):
        vector.add(v)
        per_key.add(v if i % 2 else {"lr": v["lr"], "b": v["b"], "a": v["a"]})  # key order changes: per key
    expected = {k: sum(float(v[k]) for v in values) / 7 for k in ("a", "b", "lr")}
    assert vector.means() == per_key.means() == expected
