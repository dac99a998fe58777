"""The run-directory side of :func:`~ebmlab.training.fit`: validate before writing, prepare the directory,
save and restore the whole training state (exact resume), roll back on divergence, write the summary.

These are operations on a :class:`~ebmlab.training.loop.Trainer`'s state, kept apart from the step loop.
A failed command never damages a run: everything that can fail on the user's input (existing checkpoints
without ``resume``, a checkpoint that does not fit the method) is checked before anything is written.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ebmlab.errors import CheckpointError, ConfigError, NonFiniteError
from ebmlab.schema import to_dict
from ebmlab.training.checkpoint import Checkpoint, optimizer_from_flat, optimizer_to_flat, tensors_for_saving
from ebmlab.training.data import derive_seed
from ebmlab.training.logs import MetricsLogger, NullLogger, json_safe
from ebmlab.training.monitor import Divergence
from ebmlab.training.optim import apply_hyperparameters
from ebmlab.training.result import SUMMARY_FILE, summarize, versions
from ebmlab.yaml_io import atomic_write_text, dump_yaml

if TYPE_CHECKING:
    from ebmlab.training.loop import Trainer

__all__ = [
    "CONFIG_YAML",
    "method_seed",
    "prepare",
    "restore",
    "rollback",
    "save",
    "start",
    "validate",
    "write_summary",
]

log = logging.getLogger("ebmlab.training")

CONFIG_YAML = "config.yaml"


def method_seed(seed: int, rank: int) -> int:
    """Rank 0 keeps the single-process stream (so one process is unchanged); rank r > 0 its own."""
    return derive_seed(seed, "method") if rank == 0 else derive_seed(seed, "method", "rank", rank)


def rescaled_position(state: Mapping[str, Any], global_batch: int) -> dict[str, int]:
    """The data position of a checkpoint, in batches of this run's global size (the world size may differ)."""
    old = int(state.get("global_batch", global_batch))
    return {"epoch": int(state["epoch"]), "position": int(state["position"]) * old // global_batch}


def validate(t: Trainer, resume: bool) -> Checkpoint | None:
    """Everything that can fail on the user's input, before anything in the run directory is written:
    checkpoints vs ``resume``, and the latest checkpoint loaded (verified) into this set-up."""
    existing = t.ckpts.steps()
    if existing and not resume:
        raise ConfigError(
            f"{t.run_dir} already holds checkpoints (latest: step {existing[-1][0]}); resume it with "
            f"`ebmlab train --resume {t.run_dir}` (fit(..., resume=True)) or choose a new run directory."
        )
    latest = t.ckpts.latest() if resume else None
    if latest is None:
        return None
    ckpt = t.ckpts.load(latest)
    restore(t, ckpt, monitor=True)
    return ckpt


def prepare(t: Trainer, experiment_config: Mapping[str, Any] | None) -> None:
    """Create the run directory (rank 0) with ``figures/`` and ``config.yaml``."""
    if not t.strategy.is_main:  # rank 0 owns the run directory
        t.strategy.barrier()
        return
    t.run_dir.mkdir(parents=True, exist_ok=True)
    (t.run_dir / "figures").mkdir(exist_ok=True)
    t.ckpts.remove_temporary()
    if experiment_config is not None:
        dump_yaml(experiment_config, t.run_dir / CONFIG_YAML, t.persist)
    elif not (t.run_dir / CONFIG_YAML).exists():
        dump_yaml({"train": to_dict(t.config)}, t.run_dir / CONFIG_YAML, t.persist)
    t.strategy.barrier()


def start(t: Trainer, ckpt: Checkpoint | None, resume: bool) -> None:
    """Open the metrics log; continue from ``ckpt`` or seed the streams and write the step-0 checkpoint."""
    main = t.strategy.is_main
    t.logger = MetricsLogger(t.run_dir, tensorboard=t.config.tensorboard, durable=t.persist) if main else NullLogger()
    if ckpt is not None:
        removed = t.ckpts.remove_after(ckpt.step) if t.strategy.is_main else []
        if removed:
            log.info("removed checkpoints newer than the latest pointer: %s", [p.name for p in removed])
        t.logger.truncate(t.step)
        t.resumed_from = ckpt.step
        log.info("resumed %s from step %d", t.run_dir, ckpt.step)
        return
    if resume:
        log.info("no checkpoint in %s; starting from step 0", t.run_dir)
    t.logger.truncate(-1)
    torch.default_generator.manual_seed(derive_seed(t.config.seed, "torch"))
    t.generator.manual_seed(t.method_seed)
    save(t)


def save(t: Trainer) -> None:
    """An atomic checkpoint of everything a bit-exact resume needs (every rank's streams and chains)."""
    model = tensors_for_saving(t.method.state_dict(), f"{type(t.method).__name__}.state_dict()")
    state: dict[str, Tensor] = {}
    optim_meta = {}
    for g, opt in t.optimizers.items():
        tensors, optim_meta[g] = optimizer_to_flat(g, opt)
        state |= tensors
    # per-rank state: this rank's random streams and chains (prefixed rank<r>/ when distributed)
    own = {"rng/method": t.generator.get_state(), "rng/torch": torch.get_rng_state()}
    extra = getattr(t.method, "extra_state", None)
    if extra is not None:
        own |= {f"extra/{k}": v for k, v in extra().items()}
    state |= own if t.world_size == 1 else t.strategy.gather_state(own)
    meta = {
        "data": t.data.state() | {"global_batch": t.data.batch_size},
        "optimizers": optim_meta,
        "log": t.sums.state(),
        "elapsed": t.elapsed_s(),
        "monitor": {"rollbacks": t.rollbacks, "lr_scale": t.lr_scale, "method_seed": t.method_seed},
        "method": type(t.method).__name__,
        "world_size": t.world_size,
        "versions": versions(),
    }
    if t.strategy.is_main:
        config_file = t.run_dir / CONFIG_YAML
        config_text = config_file.read_text(encoding="utf-8") if config_file.exists() else None
        t.ckpts.save(t.step, model, tensors_for_saving(state, "checkpoint state"), meta, config_text)
        assert t.logger is not None
        t.logger.write_csv()
    t.strategy.barrier()


def restore(t: Trainer, ckpt: Checkpoint, *, monitor: bool) -> None:
    """Load ``ckpt`` into the trainer (``monitor``: also the rollback history, lr scale and wall time)."""
    name = type(t.method).__name__
    try:
        t.method.load_state_dict(ckpt.model)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{ckpt.path / 'model.safetensors'} does not fit {name}: {' '.join(str(exc).split())}. "
            "Was the method's config changed since the checkpoint was written?"
        ) from None
    try:
        for g, opt in t.optimizers.items():
            optimizer_from_flat(g, opt, ckpt.state, ckpt.meta["optimizers"][g])
        own = t.strategy.local_state(ckpt.state)
        if "rng/method" in own:
            t.generator.set_state(own["rng/method"])
            torch.set_rng_state(own["rng/torch"])
        else:  # a rank the checkpoint did not have (the world size grew): fresh streams
            t.generator.manual_seed(derive_seed(t.method_seed, "joined", ckpt.step))
        extra = {k[len("extra/") :]: v for k, v in own.items() if k.startswith("extra/")}
        if extra:
            loader = getattr(t.method, "load_extra_state", None)
            if loader is None:
                raise CheckpointError(f"{ckpt.path} holds extra state but {name} has no load_extra_state().")
            loader({k: v.to(t.device) for k, v in extra.items()})
        t.data.load_state(rescaled_position(ckpt.meta["data"], t.data.batch_size))
        t.sums.load_state(ckpt.meta["log"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"{ckpt.path} does not match this training set-up ({type(exc).__name__}: {exc}); "
            "were the method's parameter groups changed since it was written?"
        ) from None
    t.step = ckpt.step
    if monitor:
        t.elapsed = float(ckpt.meta.get("elapsed", 0.0))
        t.t0 = time.perf_counter()
        m = ckpt.meta.get("monitor", {})
        t.rollbacks = list(m.get("rollbacks", []))
        t.lr_scale = float(m.get("lr_scale", 1.0))
        if t.rank == 0:
            t.method_seed = int(m.get("method_seed", t.method_seed))
    apply_hyperparameters(t.optimizers, t.settings, t.lr_scale)
    if t.logger is not None:  # None while validating a resume (nothing written yet)
        t.logger.truncate(t.step)


def rollback(t: Trainer, d: Divergence) -> None:
    """Stop with a one-line error naming the divergence, or reload the last good checkpoint with a new
    seed and a lower learning rate (``train.on_divergence``, ``max_rollbacks``, ``rollback_lr_factor``)."""
    t.method.zero_grad(set_to_none=True)
    c = t.config
    latest = t.ckpts.latest()
    lr = ", ".join(f"{opt.param_groups[0]['lr']:g}" for opt in t.optimizers.values())
    if c.on_divergence == "stop":
        resume = (
            f" The last good checkpoint is step {latest.name[5:].lstrip('0') or '0'}: resume it with "
            "`ebmlab train --resume RUN_DIR --set train.lr=...`."
            if latest is not None and t.persist
            else ""
        )
        raise NonFiniteError(
            f"training diverged at step {d.step}: {d.describe()}. Lower train.lr (now {lr}), add an energy "
            "regulariser to the method (e.g. a penalty on E²), clip gradients (train.grad_clip), or set "
            f"train.on_divergence: rollback to restart from the last good checkpoint.{resume}"
        )
    if len(t.rollbacks) >= c.max_rollbacks or latest is None:
        raise NonFiniteError(
            f"training diverged at step {d.step}: {d.describe()}, after {len(t.rollbacks)} rollbacks "
            f"(train.max_rollbacks = {c.max_rollbacks}; learning rates now {lr}). Lower train.lr, add an "
            "energy regulariser to the method, or allow more rollbacks."
        )
    ckpt = t.ckpts.load(latest)
    restore(t, ckpt, monitor=False)
    n = len(t.rollbacks) + 1
    t.method_seed = derive_seed(c.seed, "rollback", n) if t.rank == 0 else derive_seed(c.seed, "rollback", n, t.rank)
    t.generator.manual_seed(t.method_seed)
    t.lr_scale *= c.rollback_lr_factor
    apply_hyperparameters(t.optimizers, t.settings, t.lr_scale)
    event = {"step": ckpt.step, "event": "rollback", "diverged_at": d.step, "signal": d.signal}
    event |= {"value": json_safe(d.value), "reason": d.reason, "rollback": n}
    event |= {"seed": t.method_seed, "lr_scale": t.lr_scale}
    t.rollbacks.append(event)
    assert t.logger is not None
    t.logger.log(event)
    log.warning(
        "step %d: %s; rolled back to step %d (rollback %d/%d, new seed %d, lr x%g)",
        d.step, d.describe(), ckpt.step, n, c.max_rollbacks, t.method_seed, t.lr_scale,
    )  # fmt: skip
    if t.bar is not None:
        t.bar.n = t.step
        t.bar.refresh()


def write_summary(t: Trainer, status: str) -> dict[str, Any]:
    """``summary.json`` (rank 0 writes it atomically); returns its content."""
    summary = summarize(
        status,
        t.logger.history if t.logger is not None else [],
        steps=t.step,
        planned_steps=t.config.steps,
        seed=t.config.seed,
        wall_time_s=t.elapsed_s(),
        resumed_from=t.resumed_from,
        rollbacks=t.rollbacks,
        method=type(t.method).__name__,
        device=str(t.device),
    )
    if t.strategy.is_main and t.persist:  # a temporary run directory is removed when fit returns
        atomic_write_text(t.run_dir / SUMMARY_FILE, json.dumps(summary, indent=2, default=str) + "\n")
    return summary
