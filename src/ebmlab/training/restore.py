"""Load a trained method's weights (and extra state) from a run directory or checkpoint, for
sampling and evaluation after training."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ebmlab.errors import CheckpointError
from ebmlab.training.checkpoint import META_FILE, Checkpoint, CheckpointManager

__all__ = ["latest_checkpoint", "load_weights"]


def latest_checkpoint(run_dir: str | Path) -> Checkpoint:
    """The latest checkpoint of a run directory (or the checkpoint directory itself), verified."""
    path = Path(run_dir)
    if (path / META_FILE).exists():
        return CheckpointManager(path.parent).load(path)
    manager = CheckpointManager(path / "checkpoints")
    latest = manager.latest()
    if latest is None:
        raise CheckpointError(
            f"no checkpoint in {path / 'checkpoints'}; train first (`ebmlab train CONFIG --out {path}`) or pass "
            "a run directory that holds one."
        )
    return manager.load(latest)


def load_weights(method: nn.Module, run_dir: str | Path) -> Checkpoint:
    """Load the latest checkpoint's ``model.safetensors`` (and ``extra_state``) into ``method``."""
    ckpt = latest_checkpoint(run_dir)
    try:
        method.load_state_dict(ckpt.model)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{ckpt.path / 'model.safetensors'} does not fit {type(method).__name__}: {' '.join(str(exc).split())}"
        ) from None
    extra = {k[len("extra/") :]: v for k, v in ckpt.state.items() if k.startswith("extra/")}
    loader = getattr(method, "load_extra_state", None)
    if extra and loader is not None:
        device = next((t.device for t in (*method.parameters(), *method.buffers())), None)
        loader({k: v.to(device) if device is not None else v for k, v in extra.items()})
    return ckpt
