"""``fit``: the one training loop every method uses.

Each step: draw the next mini-batch; for each update stage of the method call
``method.losses(batch, ctx)`` (:class:`~ebmlab.training.method.StepContext`), check the values with the
divergence monitor, differentiate each minimised loss w.r.t. its own parameter group, clip, step that
stage's optimisers; then log, evaluate and checkpoint on schedule. See ``docs/training.md``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ebmlab.config import atomic_write_text, dump_yaml, from_dict, suggest, to_dict
from ebmlab.errors import CheckpointError, ConfigError, NonFiniteError, ShapeError
from ebmlab.training.checkpoint import (
    Checkpoint,
    CheckpointManager,
    optimizer_from_flat,
    optimizer_to_flat,
    tensors_for_saving,
)
from ebmlab.training.config import GroupConfig, TrainConfig, lr_factor
from ebmlab.training.data import BatchIterator, derive_seed
from ebmlab.training.distributed import Strategy, strategy_from_env
from ebmlab.training.lock import RunLock
from ebmlab.training.logs import MetricsLogger
from ebmlab.training.method import GROUP_KEYS, Losses, StepContext, resolve_groups, stages_of
from ebmlab.training.monitor import Divergence, DivergenceMonitor
from ebmlab.training.throughput import ThroughputWatch
from ebmlab.training.watch import check_watched_keys

__all__ = ["Callback", "Evaluate", "Run", "build_optimizer", "fit"]

log = logging.getLogger("ebmlab.training")

#: ``evaluate(method, step) -> {name: value}``, logged with an ``eval/`` prefix
Evaluate = Callable[[nn.Module, int], Mapping[str, float]]
#: ``callback(step, values)`` after every step (after its checkpoint); raising stops the run
Callback = Callable[[int, dict[str, float]], None]

SUMMARY_FILE = "summary.json"
CONFIG_YAML = "config.yaml"


@dataclass
class Run:
    """The outcome of :func:`fit`.

    Attributes:
        method: the trained method (same object as passed in).
        run_dir: the run directory (None when ``fit`` used a temporary one).
        step: steps completed.
        status: ``"completed"``.
        history: all logged records (``{"step", "time", key: value}``), evaluation and event records included.
        summary: the content of ``summary.json`` (versions, seed, wall time, final metrics, rollbacks).
    """

    method: nn.Module
    run_dir: Path | None
    step: int
    status: str
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def final_metrics(self) -> dict[str, float]:
        """The last logged value of every metric (training and ``eval/``)."""
        return dict(self.summary.get("final_metrics", {}))

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of one logged key."""
        rows = [r for r in self.history if key in r and "event" not in r]
        return [int(r["step"]) for r in rows], [math.nan if r[key] is None else float(r[key]) for r in rows]


def build_optimizer(params: Sequence[nn.Parameter], settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD over ``params`` with ``lr``, ``betas``, ``momentum``, ``weight_decay``."""
    name, lr, wd = settings["optimizer"], settings["lr"], settings["weight_decay"]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(settings["betas"]), weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=tuple(settings["betas"]), weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=settings["momentum"], weight_decay=wd)
    raise ConfigError(f"train.optimizer: expected one of 'adam', 'adamw', 'sgd', got {name!r}")


def _device(method: nn.Module) -> torch.device:
    for tensor in (*method.parameters(), *method.buffers()):
        return tensor.device
    return torch.device("cpu")


def _versions() -> dict[str, str]:
    from ebmlab import __version__

    return {"python": platform.python_version(), "torch": torch.__version__, "ebmlab": __version__}


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


class _NullLogger:
    """The metrics logger of ranks other than 0: keeps the history in memory, writes nothing."""

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []

    def log(self, record: dict[str, Any]) -> None:
        self.history.append(record)

    def truncate(self, step: int) -> None:
        self.history = [r for r in self.history if int(r.get("step", 0)) <= step]

    def write_csv(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Trainer:
    """State and steps of one :func:`fit` call (kept private; ``fit`` is the API)."""

    def __init__(
        self,
        method: nn.Module,
        data: Any,
        config: TrainConfig,
        evaluate: Evaluate | None,
        run_dir: Path,
        callbacks: Sequence[Callback],
        *,
        persist: bool = True,
    ) -> None:
        self.method, self.config, self.evaluate, self.callbacks = method, config, evaluate, list(callbacks)
        self.run_dir, self.persist = run_dir, persist
        self.device = _device(method)
        self.groups = resolve_groups(method)
        self.settings = self._group_settings()
        self.optimizers = {g: build_optimizer(e["params"], self.settings[g]) for g, e in self.groups.items()}
        self.stages = stages_of(method, self.groups)
        self.strategy: Strategy = strategy_from_env(self.device, config.dist_timeout_s)
        self.rank, self.world_size = self.strategy.rank, self.strategy.world_size
        self.generator = torch.Generator(device=self.device)
        # every rank draws the same global batch of batch_size × world_size rows and keeps its own shard
        self.data = BatchIterator(
            data,
            config.batch_size * self.world_size,
            config.seed,
            shuffle=config.shuffle,
            drop_last=config.drop_last,
            device=self.device,
        )
        self.monitor = DivergenceMonitor(config)
        self.ckpts = CheckpointManager(run_dir / "checkpoints", keep=config.keep_checkpoints)
        self.logger: MetricsLogger | _NullLogger | None = None
        self.bar: Any = None
        self.step = 0
        self.method_seed = _method_seed(config.seed, self.rank)
        self.lr_scale = 1.0
        self.rollbacks: list[dict[str, Any]] = []
        self.sums: dict[str, float] = {}
        self.count = 0
        self.elapsed = 0.0
        self.t0 = time.perf_counter()
        self.resumed_from: int | None = None
        self.last_values: dict[str, float] = {}
        self.throughput = ThroughputWatch()
        self.logged_keys: set[str] | None = None  # keys seen in the first step, to check train.monitor/max_abs

    # -- set-up --------------------------------------------------------------------------------
    def _group_settings(self) -> dict[str, dict[str, Any]]:
        c, name = self.config, type(self.method).__name__
        for g in c.groups:
            if g not in self.groups:
                raise ConfigError(
                    f"train.groups.{g}: unknown parameter group; {suggest(g, self.groups)}"
                    f"groups of {name}: {', '.join(self.groups)}"
                )
        base: dict[str, Any] = {"optimizer": c.optimizer, "lr": c.lr, "betas": c.betas, "momentum": c.momentum}
        base |= {"weight_decay": c.weight_decay, "grad_clip": c.grad_clip}
        settings = {}
        for g, entry in self.groups.items():
            own = from_dict(GroupConfig, {k: entry[k] for k in GROUP_KEYS if k in entry}, f"{name}.param_groups.{g}")
            merged = dict(base)
            for layer in (own, c.groups.get(g)):
                if layer is not None:
                    merged |= {k: v for k, v in to_dict(layer).items() if v is not None}
            settings[g] = merged
        return settings

    def _apply_hyperparameters(self) -> None:
        """Config hyper-parameters (× the rollback lr scale) win over those stored in a checkpoint."""
        for g, opt in self.optimizers.items():
            s = self.settings[g]
            for pg in opt.param_groups:
                pg["lr"] = s["lr"] * self.lr_scale
                pg["weight_decay"] = s["weight_decay"]
                if "betas" in pg:
                    pg["betas"] = tuple(s["betas"])
                if "momentum" in pg:
                    pg["momentum"] = s["momentum"]

    def _validate(self, resume: bool) -> Checkpoint | None:
        """Everything that can fail on the user's input, before anything in the run directory is written:
        checkpoints vs ``resume``, and the latest checkpoint loaded (verified) into this set-up."""
        existing = self.ckpts.steps()
        if existing and not resume:
            raise ConfigError(
                f"{self.run_dir} already holds checkpoints (latest: step {existing[-1][0]}); resume it with "
                f"`ebmlab train --resume {self.run_dir}` (fit(..., resume=True)) or choose a new run directory."
            )
        latest = self.ckpts.latest() if resume else None
        if latest is None:
            return None
        ckpt = self.ckpts.load(latest)
        self._restore(ckpt, monitor=True)
        return ckpt

    def _prepare(self, experiment_config: Mapping[str, Any] | None) -> None:
        if not self.strategy.is_main:  # rank 0 owns the run directory
            self.strategy.barrier()
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "figures").mkdir(exist_ok=True)
        self.ckpts.remove_temporary()
        if experiment_config is not None:
            dump_yaml(experiment_config, self.run_dir / CONFIG_YAML)
        elif not (self.run_dir / CONFIG_YAML).exists():
            dump_yaml({"train": to_dict(self.config)}, self.run_dir / CONFIG_YAML)
        self.strategy.barrier()

    def _start(self, ckpt: Checkpoint | None, resume: bool) -> None:
        self.logger = (
            MetricsLogger(self.run_dir, tensorboard=self.config.tensorboard) if self.strategy.is_main else _NullLogger()
        )
        if ckpt is not None:
            removed = self.ckpts.remove_after(ckpt.step) if self.strategy.is_main else []
            if removed:
                log.info("removed checkpoints newer than the latest pointer: %s", [p.name for p in removed])
            self.logger.truncate(self.step)
            self.resumed_from = ckpt.step
            log.info("resumed %s from step %d", self.run_dir, ckpt.step)
            return
        if resume:
            log.info("no checkpoint in %s; starting from step 0", self.run_dir)
        self.logger.truncate(-1)
        torch.default_generator.manual_seed(derive_seed(self.config.seed, "torch"))
        self.generator.manual_seed(self.method_seed)
        self._save()

    # -- checkpoints ---------------------------------------------------------------------------
    def _save(self) -> None:
        model = tensors_for_saving(self.method.state_dict(), f"{type(self.method).__name__}.state_dict()")
        state: dict[str, Tensor] = {}
        optim_meta = {}
        for g, opt in self.optimizers.items():
            tensors, optim_meta[g] = optimizer_to_flat(g, opt)
            state |= tensors
        # per-rank state: this rank's random streams and chains (prefixed rank<r>/ when distributed)
        own = {"rng/method": self.generator.get_state(), "rng/torch": torch.get_rng_state()}
        extra = getattr(self.method, "extra_state", None)
        if extra is not None:
            own |= {f"extra/{k}": v for k, v in extra().items()}
        state |= own if self.world_size == 1 else self.strategy.gather_state(own)
        meta = {
            "data": self.data.state() | {"global_batch": self.data.batch_size},
            "optimizers": optim_meta,
            "log": {"sums": self.sums, "count": self.count},
            "elapsed": self._elapsed(),
            "monitor": {"rollbacks": self.rollbacks, "lr_scale": self.lr_scale, "method_seed": self.method_seed},
            "method": type(self.method).__name__,
            "world_size": self.world_size,
            "versions": _versions(),
        }
        if self.strategy.is_main:
            config_file = self.run_dir / CONFIG_YAML
            config_text = config_file.read_text(encoding="utf-8") if config_file.exists() else None
            self.ckpts.save(self.step, model, tensors_for_saving(state, "checkpoint state"), meta, config_text)
            assert self.logger is not None
            self.logger.write_csv()
        self.strategy.barrier()

    def _restore(self, ckpt: Checkpoint, *, monitor: bool) -> None:
        name = type(self.method).__name__
        try:
            self.method.load_state_dict(ckpt.model)
        except RuntimeError as exc:
            raise CheckpointError(
                f"{ckpt.path / 'model.safetensors'} does not fit {name}: {' '.join(str(exc).split())}. "
                "Was the method's config changed since the checkpoint was written?"
            ) from None
        try:
            for g, opt in self.optimizers.items():
                optimizer_from_flat(g, opt, ckpt.state, ckpt.meta["optimizers"][g])
            own = self.strategy.local_state(ckpt.state)
            if "rng/method" in own:
                self.generator.set_state(own["rng/method"])
                torch.set_rng_state(own["rng/torch"])
            else:  # a rank the checkpoint did not have (the world size grew): fresh streams
                self.generator.manual_seed(derive_seed(self.method_seed, "joined", ckpt.step))
            extra = {k[len("extra/") :]: v for k, v in own.items() if k.startswith("extra/")}
            if extra:
                loader = getattr(self.method, "load_extra_state", None)
                if loader is None:
                    raise CheckpointError(f"{ckpt.path} holds extra state but {name} has no load_extra_state().")
                loader({k: v.to(self.device) for k, v in extra.items()})
            self.data.load_state(_rescaled_position(ckpt.meta["data"], self.data.batch_size))
            self.sums = {k: float(v) for k, v in ckpt.meta["log"]["sums"].items()}
            self.count = int(ckpt.meta["log"]["count"])
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"{ckpt.path} does not match this training set-up ({type(exc).__name__}: {exc}); "
                "were the method's parameter groups changed since it was written?"
            ) from None
        self.step = ckpt.step
        if monitor:
            self.elapsed = float(ckpt.meta.get("elapsed", 0.0))
            self.t0 = time.perf_counter()
            m = ckpt.meta.get("monitor", {})
            self.rollbacks = list(m.get("rollbacks", []))
            self.lr_scale = float(m.get("lr_scale", 1.0))
            if self.rank == 0:
                self.method_seed = int(m.get("method_seed", self.method_seed))
        self._apply_hyperparameters()
        if self.logger is not None:  # None while validating a resume (nothing written yet)
            self.logger.truncate(self.step)

    # -- one step ------------------------------------------------------------------------------
    def _checked(self, out: Any, stage: tuple[str, ...]) -> Losses:
        name = type(self.method).__name__
        if not isinstance(out, Losses):
            raise ConfigError(
                f"{name}.losses(batch, ctx) must return ebmlab.training.Losses(minimize={{group: loss}}, log={{...}}), "
                f"got {type(out).__name__}."
            )
        for g, loss in out.minimize.items():
            if g not in stage:
                where = "this stage" if len(self.stages) > 1 else "the method"
                raise ConfigError(
                    f"{name}.losses() minimises group {g!r}, which is not a parameter group of {where}; "
                    f"{suggest(g, stage)}groups: {', '.join(stage)}."
                )
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                raise ShapeError(f"{name}.losses(): the loss of group {g!r} must be a scalar tensor, got {loss!r}.")
            if not loss.requires_grad:
                raise ConfigError(
                    f"{name}.losses(): the loss of group {g!r} does not depend on any trainable parameter "
                    "(requires_grad is False); leave the group out of minimize on steps where it should not move."
                )
        return out

    def _values(self, out: Losses) -> dict[str, float]:
        values = {f"loss/{g}": float(v.detach()) for g, v in out.minimize.items()}
        for key, value in out.log.items():
            if isinstance(value, Tensor):
                if value.numel() != 1:
                    raise ShapeError(
                        f"{type(self.method).__name__}.losses().log[{key!r}] has shape {tuple(value.shape)}; "
                        "logged values must be scalars (reduce with .mean())."
                    )
                value = value.detach()
            values[key] = float(value)
        return values

    def _train_step(self) -> Divergence | None:
        step = self.step + 1
        batch = self.data.next()
        if isinstance(batch, Tensor):
            batch = self.strategy.shard(batch)
        ctx = StepContext(step, self.generator, self.rank, self.world_size)
        values: dict[str, float] = {}
        factor = lr_factor(step, self.config)
        for stage in self.stages:
            out = self._checked(self.method.losses(batch, ctx.at_stage(stage)), stage)  # type: ignore[operator]
            stage_values = self._values(out)
            hook = getattr(self.method, "divergence_signals", None)
            signals = {k: float(v) for k, v in hook(out).items()} if hook is not None else {}
            loss_keys = [f"loss/{g}" for g in out.minimize]
            if self.logged_keys is not None:
                self.logged_keys |= {*stage_values, *signals, "loss", *(f"grad_norm/{g}" for g in out.minimize)}
                self.logged_keys |= {f"lr/{g}" for g in self.optimizers}
            divergence = self.monitor.check(step, {**stage_values, **signals}, always=loss_keys)
            if self.strategy.any(divergence is not None):  # every rank rolls back (or stops) together
                return divergence or Divergence(step, "another rank", math.nan, "diverged on another rank")
            norms = self._gradients(out.minimize)
            for key, norm in norms.items():
                if not math.isfinite(norm):
                    self.method.zero_grad(set_to_none=True)
                    return Divergence(step, key, norm, "non-finite gradient")
            for g in out.minimize:
                for pg in self.optimizers[g].param_groups:
                    pg["lr"] = self.settings[g]["lr"] * self.lr_scale * factor
                self.optimizers[g].step()
            self.method.zero_grad(set_to_none=True)
            values |= stage_values | norms
        values["loss"] = sum(v for k, v in values.items() if k.startswith("loss/"))
        for g, opt in self.optimizers.items():
            values[f"lr/{g}"] = float(opt.param_groups[0]["lr"])
        self.step = step
        self.last_values = values
        return None

    def _gradients(self, objectives: Mapping[str, Tensor]) -> dict[str, float]:
        """∂loss_g/∂θ_g for every group at the same parameters, clipped per group; returns the norms."""
        self.method.zero_grad(set_to_none=True)
        norms = {}
        items = list(objectives.items())
        for i, (g, loss) in enumerate(items):
            params = self.groups[g]["params"]
            grads = torch.autograd.grad(loss, params, retain_graph=i < len(items) - 1, allow_unused=True)
            for p, grad in zip(params, grads, strict=True):
                p.grad = grad
            self.strategy.reduce_gradients(params)
            present = [p for p in params if p.grad is not None]
            clip = self.settings[g]["grad_clip"]
            if present:
                norm = torch.nn.utils.clip_grad_norm_(present, clip if clip is not None else math.inf)
            else:
                norm = torch.zeros(())
            norms[f"grad_norm/{g}"] = float(norm)
        return norms

    # -- after a step --------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self.elapsed + (time.perf_counter() - self.t0)

    def _after_step(self) -> None:
        c, step = self.config, self.step
        for key, value in self.last_values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1
        last = step == c.steps
        if step % c.log_every == 0 or last:
            record = {"step": step, "time": round(self._elapsed(), 3)}
            means = {k: v / self.count for k, v in self.sums.items()}
            record |= self.strategy.reduce_values(means, getattr(self.method, "log_domain_keys", ()))
            record |= {k: v for k, v in self.last_values.items() if k.startswith("lr/")}
            self.sums, self.count = {}, 0
            assert self.logger is not None
            self.logger.log(record)
            if self.bar is not None:
                shown = {k: f"{v:.4g}" for k, v in record.items() if k not in ("step", "time") and v is not None}
                self.bar.set_postfix(dict(list(shown.items())[:5]), refresh=False)
        if self.evaluate is not None and ((c.eval_every and step % c.eval_every == 0) or last):
            self._evaluate()
        if (c.checkpoint_every and step % c.checkpoint_every == 0) or last:
            self._save()
        if self.bar is not None:
            self.bar.update(1)
        if self.config.progress and (slow := self.throughput.update(step)) is not None:
            log.warning("step %d: %s", step, slow)
        for callback in self.callbacks:
            callback(step, dict(self.last_values))

    def _evaluate(self) -> None:
        assert self.evaluate is not None and self.logger is not None
        if not self.strategy.is_main:
            return
        was_training = self.method.training
        self.method.eval()
        try:
            result = self.evaluate(self.method, self.step)
        finally:
            self.method.train(was_training)
        if not isinstance(result, Mapping):
            raise ConfigError(f"evaluate(method, step) must return a dict name -> float, got {type(result).__name__}.")
        record: dict[str, Any] = {"step": self.step, "time": round(self._elapsed(), 3)}
        record |= {f"eval/{k}": float(v) for k, v in result.items()}
        self.logger.log(record)

    # -- divergence ----------------------------------------------------------------------------
    def _on_divergence(self, d: Divergence) -> None:
        self.method.zero_grad(set_to_none=True)
        c = self.config
        latest = self.ckpts.latest()
        lr = ", ".join(f"{opt.param_groups[0]['lr']:g}" for opt in self.optimizers.values())
        if c.on_divergence == "stop":
            resume = (
                f" The last good checkpoint is step {latest.name[5:].lstrip('0') or '0'}: resume it with "
                "`ebmlab train --resume RUN_DIR --set train.lr=...`."
                if latest is not None and self.persist
                else ""
            )
            raise NonFiniteError(
                f"training diverged at step {d.step}: {d.describe()}. Lower train.lr (now {lr}), add an energy "
                "regulariser to the method (e.g. a penalty on E²), clip gradients (train.grad_clip), or set "
                f"train.on_divergence: rollback to restart from the last good checkpoint.{resume}"
            )
        if len(self.rollbacks) >= c.max_rollbacks or latest is None:
            raise NonFiniteError(
                f"training diverged at step {d.step}: {d.describe()}, after {len(self.rollbacks)} rollbacks "
                f"(train.max_rollbacks = {c.max_rollbacks}; learning rates now {lr}). Lower train.lr, add an "
                "energy regulariser to the method, or allow more rollbacks."
            )
        ckpt = self.ckpts.load(latest)
        self._restore(ckpt, monitor=False)
        n = len(self.rollbacks) + 1
        self.method_seed = (
            derive_seed(c.seed, "rollback", n) if self.rank == 0 else derive_seed(c.seed, "rollback", n, self.rank)
        )
        self.generator.manual_seed(self.method_seed)
        self.lr_scale *= c.rollback_lr_factor
        self._apply_hyperparameters()
        event = {"step": ckpt.step, "event": "rollback", "diverged_at": d.step, "signal": d.signal}
        event |= {"value": _finite_or_none(d.value), "reason": d.reason, "rollback": n}
        event |= {"seed": self.method_seed, "lr_scale": self.lr_scale}
        self.rollbacks.append(event)
        assert self.logger is not None
        self.logger.log(event)
        log.warning(
            "step %d: %s; rolled back to step %d (rollback %d/%d, new seed %d, lr x%g)",
            d.step, d.describe(), ckpt.step, n, c.max_rollbacks, self.method_seed, self.lr_scale,
        )  # fmt: skip
        if self.bar is not None:
            self.bar.n = self.step
            self.bar.refresh()

    # -- the run -------------------------------------------------------------------------------
    def summary(self, status: str) -> dict[str, Any]:
        history = self.logger.history if self.logger is not None else []
        final: dict[str, Any] = {}
        for record in history:
            if "event" not in record:
                final |= {k: v for k, v in record.items() if k not in ("step", "time")}
        return {
            "status": status,
            "steps": self.step,
            "planned_steps": self.config.steps,
            "seed": self.config.seed,
            "wall_time_s": round(self._elapsed(), 3),
            "resumed_from": self.resumed_from,
            "rollbacks": self.rollbacks,
            "final_metrics": final,
            "method": type(self.method).__name__,
            "device": str(self.device),
            "versions": _versions(),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }

    def _write_summary(self, status: str) -> dict[str, Any]:
        summary = self.summary(status)
        if not self.strategy.is_main:
            return summary
        text = json.dumps(summary, indent=2, default=str)
        atomic_write_text(self.run_dir / SUMMARY_FILE, text + "\n")
        return summary

    def run(self, resume: bool, experiment_config: Mapping[str, Any] | None) -> Run:
        ckpt = self._validate(resume)  # validate first, write after: a refused resume leaves RUN_DIR untouched
        self._prepare(experiment_config)
        status = "failed"
        try:
            self._start(ckpt, resume)
            self.bar = _progress_bar(self.config, self.step) if self.strategy.is_main else None
            while self.step < self.config.steps:
                first = self.logged_keys is None
                if first:
                    self.logged_keys = set()
                divergence = self._train_step()
                if first and divergence is None:
                    check_watched_keys(self.config, self.logged_keys or (), type(self.method).__name__)
                if divergence is not None:
                    self._on_divergence(divergence)
                    continue
                self._after_step()
            status = "completed"
        except NonFiniteError:
            status = "diverged"
            raise
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            if self.bar is not None:
                self.bar.close()
            summary = self._write_summary(status)
            if self.logger is not None:
                with contextlib.suppress(OSError):
                    self.logger.write_csv()
                self.logger.close()
        history = list(self.logger.history) if self.logger is not None else []
        return Run(self.method, self.run_dir, self.step, status, history, summary)


def _rescaled_position(state: Mapping[str, Any], global_batch: int) -> dict[str, int]:
    """The data position of a checkpoint, in batches of this run's global size (the world size may differ)."""
    old = int(state.get("global_batch", global_batch))
    return {"epoch": int(state["epoch"]), "position": int(state["position"]) * old // global_batch}


def _method_seed(seed: int, rank: int) -> int:
    """Rank 0 keeps the single-process stream (so one process is unchanged); rank r > 0 its own."""
    return derive_seed(seed, "method") if rank == 0 else derive_seed(seed, "method", "rank", rank)


def _progress_bar(config: TrainConfig, initial: int) -> Any:
    if not (config.progress and sys.stderr.isatty()):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.steps, initial=initial, desc="training", unit="step", dynamic_ncols=True)


def _as_config(config: TrainConfig | Mapping[str, Any] | None) -> TrainConfig:
    if config is None:
        return TrainConfig()
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, Mapping):
        return from_dict(TrainConfig, config, "train")
    raise ConfigError(f"config must be a TrainConfig or a dict of train settings, got {type(config).__name__}.")


def fit(
    method: nn.Module,
    data: Tensor | Iterable[Any] | None = None,
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    evaluate: Evaluate | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    experiment_config: Mapping[str, Any] | None = None,
) -> Run:
    """Train ``method`` by minimising its ``losses`` for ``config.steps`` optimiser steps.

    Args:
        method: an ``nn.Module`` with ``losses(batch, ctx) -> Losses``, usually a
            :class:`~ebmlab.training.Method` subclass (its hooks have defaults).
        data: a tensor ``(n, *event)`` (seeded mini-batches of ``config.batch_size``, reshuffled every
            epoch), a DataLoader-like iterable of batches, or ``None`` (energy-only methods get
            ``batch=None``).
        config: a :class:`TrainConfig` (or a dict of its fields); default ``TrainConfig()``.
        evaluate: ``evaluate(method, step) -> {name: float}``, called every ``config.eval_every``
            steps and at the end (method in eval mode); logged with an ``eval/`` prefix. It must use
            its own randomness, not the training generator.
        run_dir: directory for ``config.yaml``, ``metrics.jsonl``, ``metrics.csv``, ``checkpoints/``,
            ``figures/``, ``summary.json``; ``None`` uses a temporary directory removed at the end.
        resume: continue from the latest checkpoint in ``run_dir`` (exactly: same parameters,
            optimiser moments, RNG streams, data position and metric accumulators as a run never
            stopped). Without a checkpoint the run starts at step 0.
        callbacks: ``callback(step, values)`` after each step and its checkpoint; an exception from
            one stops the run (the checkpoints written so far remain resumable).
        experiment_config: the resolved experiment config written to ``config.yaml`` and into every
            checkpoint (default: ``{"train": config}``).

    Returns:
        A :class:`Run` with the history of logged metrics and the summary.

    Raises:
        NonFiniteError: the run diverged and ``on_divergence`` is ``"stop"`` (or rollbacks ran out).
        CheckpointError: a checkpoint could not be written or read.
        ConfigError: invalid settings, or a method that breaks the protocol.
    """
    config = _as_config(config)
    if not isinstance(method, nn.Module) or not callable(getattr(method, "losses", None)):
        raise ConfigError(
            f"fit needs an nn.Module with a losses(batch, ctx) method (subclass ebmlab.training.Method), "
            f"got {type(method).__name__}."
        )
    with contextlib.ExitStack() as stack:
        persist = run_dir is not None
        if run_dir is None:
            run_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="ebmlab-run-"))
        else:
            if int(os.environ.get("RANK", "0")) == 0:
                stack.enter_context(RunLock(run_dir))  # one writer per run directory (rank 0 writes)
        stack.enter_context(torch.random.fork_rng(devices=[]))
        if not persist and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError(
                "fit under torchrun needs a run_dir (on a filesystem every rank can read) for checkpoints."
            )
        trainer = _Trainer(method, data, config, evaluate, Path(run_dir), callbacks, persist=persist)
        result = trainer.run(resume, experiment_config)
        if not persist:
            result.run_dir = None
        return result
