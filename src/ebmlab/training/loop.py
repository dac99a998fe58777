"""``fit``: the one training loop every method uses.

Each step: draw the next mini-batch; for each update stage of the method call
``method.losses(batch, ctx)`` (:class:`~ebmlab.training.method.StepContext`), check the values with the
divergence monitor, differentiate each minimised loss w.r.t. its own parameter group, clip, step that
stage's optimisers; then log, evaluate and checkpoint on schedule. See ``docs/training.md``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ebmlab.device_copies import device_of
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.schema import from_dict, suggest
from ebmlab.training import rundir
from ebmlab.training.accumulate import RunningSums, Value, as_floats, keep_on_device
from ebmlab.training.checkpoint import CheckpointManager
from ebmlab.training.data import BatchIterator
from ebmlab.training.distributed import Strategy, strategy_from_env
from ebmlab.training.lock import RunLock
from ebmlab.training.logs import MetricsLogger, NullLogger
from ebmlab.training.method import Losses, StepContext, resolve_groups, stages_of
from ebmlab.training.monitor import Divergence, DivergenceMonitor
from ebmlab.training.optim import build_optimizer, group_gradients, group_settings
from ebmlab.training.options import TrainConfig, lr_factor
from ebmlab.training.result import Run
from ebmlab.training.throughput import ThroughputWatch
from ebmlab.training.watch import check_watched_keys

__all__ = ["Callback", "Evaluate", "Run", "Trainer", "build_optimizer", "fit"]

log = logging.getLogger("ebmlab.training")

#: ``evaluate(method, step) -> {name: value}``, logged with an ``eval/`` prefix
Evaluate = Callable[[nn.Module, int], Mapping[str, float]]
#: ``callback(step, values)`` after every step (after its checkpoint); raising stops the run
Callback = Callable[[int, dict[str, float]], None]


class Trainer:
    """State and steps of one :func:`fit` call (``fit`` is the API; the run-directory side is
    :mod:`ebmlab.training.rundir`)."""

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
        self.device = device_of(method)
        self.on_device = keep_on_device(self.device)  # logged values stay tensors between records
        self.params = list(method.parameters())  # zero_grad over this list (Module.zero_grad walks the tree)
        self.groups = resolve_groups(method)
        self.settings = group_settings(config, self.groups, type(method).__name__)
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
        # a temporary run (removed when fit returns) writes atomically but without fsync
        self.ckpts = CheckpointManager(run_dir / "checkpoints", keep=config.keep_checkpoints, durable=persist)
        self.logger: MetricsLogger | NullLogger | None = None
        self.bar: Any = None
        self.step = 0
        self.method_seed = rundir.method_seed(config.seed, self.rank)
        self.lr_scale = 1.0
        self.rollbacks: list[dict[str, Any]] = []
        self.sums = RunningSums()
        self.elapsed = 0.0
        self.t0 = time.perf_counter()
        self.resumed_from: int | None = None
        self.last_values: dict[str, Value] = {}
        self.throughput = ThroughputWatch()
        self.logged_keys: set[str] | None = None  # keys seen in the first step, to check train.monitor/max_abs
        self.collecting_keys = False  # True during the first step: its keys go into logged_keys

    def elapsed_s(self) -> float:
        """Wall time of the run so far (across resumes)."""
        return self.elapsed + (time.perf_counter() - self.t0)

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

    def _values(self, out: Losses) -> dict[str, Value]:
        """The stage's logged values: detached 0-d tensors on an accelerator (no device→host transfer), Python
        floats on the CPU (read one by one: the same numbers as :func:`as_floats`, fewer tensor ops)."""
        scalar = (lambda v: v.detach().reshape(())) if self.on_device else (lambda v: float(v.detach()))
        values: dict[str, Value] = {f"loss/{g}": scalar(v) for g, v in out.minimize.items()}
        for key, value in out.log.items():
            if isinstance(value, Tensor):
                if value.numel() != 1:
                    raise ShapeError(
                        f"{type(self.method).__name__}.losses().log[{key!r}] has shape {tuple(value.shape)}; "
                        "logged values must be scalars (reduce with .mean())."
                    )
                values[key] = scalar(value)
            else:
                values[key] = float(value)
        return values

    def _train_step(self) -> Divergence | None:
        """One optimiser step per stage; a divergence (checked before any parameter moves) is returned."""
        step = self.step + 1
        batch = self.data.next()
        if isinstance(batch, Tensor):
            batch = self.strategy.shard(batch)
        ctx = StepContext(step, self.generator, self.rank, self.world_size)
        values: dict[str, Value] = {}
        factor = lr_factor(step, self.config)
        for stage in self.stages:
            out = self._checked(self.method.losses(batch, ctx.at_stage(stage)), stage)  # type: ignore[operator]
            stage_values = self._values(out)
            hook = getattr(self.method, "divergence_signals", None)
            signals: dict[str, Value] = (
                {k: v.detach() if isinstance(v, Tensor) else float(v) for k, v in hook(out).items()} if hook else {}
            )
            signals = self._kept(signals)
            loss_keys = [f"loss/{g}" for g in out.minimize]
            if self.collecting_keys and self.logged_keys is not None:  # the run's first step only
                self.logged_keys |= {*stage_values, *signals, "loss", *(f"grad_norm/{g}" for g in out.minimize)}
                self.logged_keys |= {f"lr/{g}" for g in self.optimizers}
            self._zero_grad()
            norms: dict[str, Value] = dict(group_gradients(out.minimize, self.groups, self.settings, self.strategy))
            norms = self._kept(norms)
            # one flag per stage crosses to the host; the values only when it is set (to name the cause)
            flagged = self.monitor.flagged({**stage_values, **signals}, always=loss_keys, finite=norms)
            if self.strategy.any(flagged):  # every rank rolls back (or stops) together
                self._zero_grad()
                return self._divergence(step, {**stage_values, **signals}, loss_keys, norms)
            for g in out.minimize:
                for pg in self.optimizers[g].param_groups:
                    pg["lr"] = self.settings[g]["lr"] * self.lr_scale * factor
                self.optimizers[g].step()
            self._zero_grad()
            values |= stage_values | norms
        # the total in float64, as the sum of Python floats it replaces
        values["loss"] = sum(
            v.double() if isinstance(v, Tensor) else v for k, v in values.items() if k.startswith("loss/")
        )
        for g, opt in self.optimizers.items():
            values[f"lr/{g}"] = float(opt.param_groups[0]["lr"])
        self.step = step
        self.last_values = values
        return None

    def _kept(self, values: Mapping[str, Value]) -> dict[str, Value]:
        """``values`` as kept between records: tensors on an accelerator, Python floats on the CPU (read one by one,
        the numbers :func:`as_floats` gives)."""
        return dict(values) if self.on_device else {k: float(v) for k, v in values.items()}

    def _zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _divergence(
        self, step: int, values: Mapping[str, Value], loss_keys: list[str], norms: Mapping[str, Value]
    ) -> Divergence:
        """Name the cause of a flagged step: the first rule that fires, values first, then gradients."""
        found = self.monitor.check(step, as_floats(values), always=loss_keys)
        if found is not None:
            return found
        for key, norm in as_floats(norms).items():
            if not math.isfinite(norm):
                return Divergence(step, key, norm, "non-finite gradient")
        return Divergence(step, "another rank", math.nan, "diverged on another rank")

    # -- after a step --------------------------------------------------------------------------
    def _after_step(self) -> None:
        c, step = self.config, self.step
        self.sums.add(self.last_values)
        last = step == c.steps
        if step % c.log_every == 0 or last:
            record = {"step": step, "time": round(self.elapsed_s(), 3)}
            means = self.sums.means()
            record |= self.strategy.reduce_values(means, getattr(self.method, "log_domain_keys", ()))
            record |= {k: float(v) for k, v in self.last_values.items() if k.startswith("lr/")}
            assert self.logger is not None
            self.logger.log(record)
            if self.bar is not None:
                shown = {k: f"{v:.4g}" for k, v in record.items() if k not in ("step", "time") and v is not None}
                self.bar.set_postfix(dict(list(shown.items())[:5]), refresh=False)
        if self.evaluate is not None and ((c.eval_every and step % c.eval_every == 0) or last):
            self._evaluate()
        # the last step's checkpoint is for resuming or reading the run; a temporary run (no run_dir) is removed
        # when fit returns, so it skips it (its earlier checkpoints serve rollbacks)
        if (c.checkpoint_every and step % c.checkpoint_every == 0) or (last and self.persist):
            rundir.save(self)
        if self.bar is not None:
            self.bar.update(1)
        if self.config.progress and (slow := self.throughput.update(step)) is not None:
            log.warning("step %d: %s", step, slow)
        if self.callbacks:  # callbacks see floats: the one place that reads every step's values
            floats = as_floats(self.last_values)
            for callback in self.callbacks:
                callback(step, dict(floats))

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
        record: dict[str, Any] = {"step": self.step, "time": round(self.elapsed_s(), 3)}
        record |= {f"eval/{k}": float(v) for k, v in result.items()}
        self.logger.log(record)

    # -- the run -------------------------------------------------------------------------------
    def run(self, resume: bool, experiment_config: Mapping[str, Any] | None) -> Run:
        ckpt = rundir.validate(self, resume)  # validate first, write after: a refused resume leaves RUN_DIR untouched
        rundir.prepare(self, experiment_config)
        status = "failed"
        try:
            rundir.start(self, ckpt, resume)
            self.bar = _progress_bar(self.config, self.step) if self.strategy.is_main else None
            while self.step < self.config.steps:
                first = self.logged_keys is None
                if first:
                    self.logged_keys = set()
                self.collecting_keys = first
                divergence = self._train_step()
                if first and divergence is None:
                    check_watched_keys(self.config, self.logged_keys or (), type(self.method).__name__)
                if divergence is not None:
                    rundir.rollback(self, divergence)
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
            summary = rundir.write_summary(self, status)
            if self.logger is not None:
                if self.persist:  # a temporary run directory is removed when fit returns: no file to rewrite
                    with contextlib.suppress(OSError):
                        self.logger.write_csv()
                self.logger.close()
        history = list(self.logger.history) if self.logger is not None else []
        return Run(self.method, self.run_dir, self.step, status, history, summary)


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
        trainer = Trainer(method, data, config, evaluate, Path(run_dir), callbacks, persist=persist)
        result = trainer.run(resume, experiment_config)
        if not persist:
            result.run_dir = None
        return result
