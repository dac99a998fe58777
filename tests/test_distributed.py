"""Data-parallel training on torch.distributed (gloo, 2 CPU processes launched by torchrun)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ebmlab.training import CheckpointManager, TrainConfig, fit
from ebmlab.training.examples import GaussianMLE

WORKER = Path(__file__).with_name("distributed_worker.py")
pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(out: Path, *args: str, nproc: int = 2, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    cmd += ["--master-addr=127.0.0.1", f"--master-port={_free_port()}", str(WORKER), "--out", str(out), *args]
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _rank(out: Path, r: int) -> dict:
    return json.loads((out / f"rank{r}.json").read_text())


def test_two_ranks_equal_one_process_with_the_global_batch(tmp_path: Path) -> None:
    proc = _torchrun(tmp_path, "--kind", "mle", "--steps", "6", "--batch", "8")
    assert proc.returncode == 0, proc.stderr[-6000:]
    a, b = _rank(tmp_path, 0), _rank(tmp_path, 1)
    assert a["trace"] == b["trace"] and len(a["trace"]) == 6  # identical parameters after every step
    data = torch.randn(256, 2, generator=torch.Generator().manual_seed(1)) * 2 + 1
    torch.manual_seed(0)
    single = GaussianMLE(2)
    trace = []
    cfg = TrainConfig(steps=6, batch_size=16, lr=0.05, progress=False)
    fit(single, data, cfg, callbacks=[lambda s, v: trace.append([float(x) for x in single.mu.tolist()])])
    ranks = torch.tensor(a["trace"])[:, :2]
    assert torch.allclose(ranks, torch.tensor(trace), atol=1e-6)
    # negative control: the shard of one rank alone (batch 8) is a different trajectory
    torch.manual_seed(0)
    alone = GaussianMLE(2)
    fit(alone, data, TrainConfig(steps=6, batch_size=8, lr=0.05, progress=False))
    assert not torch.allclose(alone.mu.detach(), ranks[-1], atol=1e-4)


def test_per_rank_chains_checkpoint_and_resume_in_one_or_two_processes(tmp_path: Path) -> None:
    proc = _torchrun(tmp_path, "--kind", "cd", "--steps", "4", "--batch", "8")
    assert proc.returncode == 0, proc.stderr[-6000:]
    a, b = _rank(tmp_path, 0), _rank(tmp_path, 1)
    assert a["trace"] == b["trace"]  # one model
    assert a["buffer"] != b["buffer"]  # each rank its own persistent chains
    manager = CheckpointManager(tmp_path / "run" / "checkpoints")
    ckpt = manager.load(manager.latest())
    assert ckpt.meta["world_size"] == 2
    keys = set(ckpt.state)
    assert {"rank0/extra/replay_buffer.buffer", "rank1/extra/replay_buffer.buffer", "rank1/rng/method"} <= keys
    assert not torch.equal(ckpt.state["rank0/rng/method"], ckpt.state["rank1/rng/method"])
    # resume the 2-rank run in 2 processes, then in 1 (rank 0's chains continue, rank 1's are dropped)
    proc = _torchrun(tmp_path, "--kind", "cd", "--steps", "6", "--batch", "8", "--resume")
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert _rank(tmp_path, 0)["step"] == 6 and len(_rank(tmp_path, 0)["trace"]) == 2
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    one = subprocess.run(
        [
            sys.executable,
            str(WORKER),
            "--kind",
            "cd",
            "--out",
            str(tmp_path),
            "--steps",
            "8",
            "--batch",
            "8",
            "--resume",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in env.items() if k not in ("RANK", "WORLD_SIZE")},
    )
    assert one.returncode == 0, one.stderr[-2000:]
    assert _rank(tmp_path, 0)["step"] == 8 and len(_rank(tmp_path, 0)["trace"]) == 2


def _spawn_ranks(out: Path, *args: str, world: int = 2) -> list[subprocess.Popen[str]]:
    """The ranks as plain processes with torchrun's environment (no launcher that could kill a survivor first)."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    env |= {"WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    cmd = [sys.executable, str(WORKER), "--out", str(out), *args]
    return [
        subprocess.Popen(cmd, env=env | {"RANK": str(r), "LOCAL_RANK": str(r)}, stderr=subprocess.PIPE, text=True)
        for r in range(world)
    ]


def test_a_dead_rank_stops_the_others_with_a_clear_error(tmp_path: Path) -> None:
    # Under torchrun the agent may SIGTERM the survivor before it reports (a race that load decides), so the
    # ranks run as plain processes: rank 1 exits at step 3, rank 0 must stop with a DistributedError.
    start = time.monotonic()
    ranks = _spawn_ranks(tmp_path, "--kind", "mle", "--steps", "50", "--die-at", "3", "--timeout", "10")
    stderr = [p.communicate(timeout=240)[1] for p in ranks]
    assert ranks[1].returncode == 3
    assert ranks[0].returncode != 0
    assert "DistributedError" in stderr[0] and "another rank died" in stderr[0], stderr[0][-6000:]
    assert time.monotonic() - start < 120  # stopped, not hung
