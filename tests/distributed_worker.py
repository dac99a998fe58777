"""Run by tests/test_distributed.py under ``python -m torch.distributed.run`` (or alone): trains a small
method with ``fit`` and writes, per rank, the parameters after every step as JSON. Not a test module."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from ebmlab.training import TrainConfig, fit
from ebmlab.training.examples import GaussianMLE


def build(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "mle":
        return GaussianMLE(2)
    from ebmlab.energies import MLPEnergy
    from ebmlab.methods import ContrastiveDivergence
    from ebmlab.samplers import ULA

    return ContrastiveDivergence(MLPEnergy(2, (16,)), ULA(0.01), "persistent", n_steps=3, buffer_size=32)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--kind", default="mle")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--die-at", type=int, default=0, help="rank 1 exits at this step (fault test)")
    p.add_argument("--timeout", type=float, default=60.0)
    a = p.parse_args()
    rank = int(os.environ.get("RANK", "0"))
    data = torch.randn(256, 2, generator=torch.Generator().manual_seed(1)) * 2 + 1
    method = build(a.kind)
    trace: list[list[float]] = []

    def record(step: int, values: dict[str, float]) -> None:
        trace.append([float(v) for p in method.parameters() for v in p.detach().reshape(-1)])
        if a.die_at and rank == 1 and step == a.die_at:
            os._exit(3)

    cfg = TrainConfig(
        steps=a.steps, batch_size=a.batch, lr=0.05, progress=False, checkpoint_every=2, dist_timeout_s=a.timeout
    )
    run = fit(method, data, cfg, run_dir=Path(a.out) / "run", resume=a.resume, callbacks=[record])
    result = {"rank": rank, "trace": trace, "step": run.step}
    if a.kind == "cd":
        result["buffer"] = method.buffer.buffer.reshape(-1)[:8].tolist()  # type: ignore[union-attr]
    Path(a.out, f"rank{rank}.json").write_text(json.dumps(result))
    if torch.distributed.is_initialized():  # a clean shutdown: exiting with live gloo pairs can abort
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
