"""Load a trained method's weights (and extra state) from a run directory or checkpoint, for
sampling and evaluation after training."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from ebmlab.errors import CheckpointError, ConfigError
from ebmlab.training.checkpoint import CONFIG_FILE, META_FILE, Checkpoint, CheckpointManager
from ebmlab.yaml_io import load_yaml, parse_yaml

__all__ = ["latest_checkpoint", "load_weights", "run_config"]

log = logging.getLogger("ebmlab.training")


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


def run_config(run_dir: str | Path) -> dict[str, Any]:
    """The experiment config of a run directory, as a mapping.

    The latest checkpoint's copy (covered by its checksums) is authoritative: ``RUN_DIR/config.yaml``
    is only a readable copy, used when the run has no checkpoint yet. When the two differ (the run-level
    file was damaged or edited) a warning names the file and the intact copy that is used instead.
    """
    path = Path(run_dir)
    top = path / CONFIG_FILE
    manager = CheckpointManager(path / "checkpoints")
    if manager.latest() is None:
        if not top.is_file():
            raise ConfigError(f"{path} is not a run directory (no config.yaml, no checkpoint); pass a run's --out.")
        return load_yaml(top)
    ckpt = latest_checkpoint(path)
    if ckpt.config_text is None:
        raise CheckpointError(f"{ckpt.path} holds no {CONFIG_FILE}; it was not written by `ebmlab train`.")
    inside = ckpt.path / CONFIG_FILE
    data = parse_yaml(ckpt.config_text, str(inside))
    if not isinstance(data, dict):
        raise CheckpointError(f"{inside} is not a config mapping; the checkpoint is damaged.")
    try:
        same = top.read_bytes() == ckpt.config_text.encode("utf-8")
    except OSError:
        same = False
    if not same:
        log.warning(
            "%s is damaged or was edited (it differs from the checksummed copy %s); using the checkpoint's copy, "
            "which is authoritative (copy it back to repair the file)", top, inside,
        )  # fmt: skip
    return data
