"""``TrainConfig``: every knob of :func:`ebmlab.training.fit`, typed and validated.

In an experiment YAML this is the ``train:`` section; ``train.groups.<name>`` overrides the
optimiser settings of one parameter group of a multi-objective method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ebmlab.schema import at_least, interval, meta, nonnegative, positive, validate

__all__ = ["DEFAULT_MAX_ABS", "GroupConfig", "LRSchedule", "OptimizerName", "TrainConfig", "lr_factor"]

OptimizerName = Literal["adam", "adamw", "sgd"]
LRSchedule = Literal["constant", "cosine", "linear"]

#: default runaway thresholds: a logged value whose magnitude exceeds these is a divergence
DEFAULT_MAX_ABS: dict[str, float] = {"energy_data": 1e4, "energy_neg": 1e4, "gap": 1e4}

_UNIT = interval(0, 1, hi_open=True)


@dataclass
class GroupConfig:
    """Optimiser overrides for one parameter group (``train.groups.<name>``); null = inherit."""

    optimizer: OptimizerName | None = field(default=None, metadata=meta(help="optimiser of this group"))
    lr: float | None = field(default=None, metadata=meta(help="learning rate of this group", check=positive()))
    betas: tuple[float, float] | None = field(
        default=None, metadata=meta(help="Adam/AdamW (β₁, β₂) of this group", check=_UNIT)
    )
    momentum: float | None = field(default=None, metadata=meta(help="SGD momentum of this group", check=_UNIT))
    weight_decay: float | None = field(
        default=None, metadata=meta(help="weight decay of this group", check=nonnegative())
    )
    grad_clip: float | None = field(
        default=None, metadata=meta(help="max gradient norm of this group", check=positive())
    )

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class TrainConfig:
    """Settings of the training loop (the ``train:`` section of an experiment)."""

    steps: int = field(default=1000, metadata=meta(help="total optimisation steps", check=at_least(1)))
    batch_size: int = field(
        default=128, metadata=meta(help="mini-batch size drawn from a data tensor", check=at_least(1))
    )
    seed: int = field(
        default=0, metadata=meta(help="seed of all randomness (data order, method generator, weight init)")
    )
    optimizer: OptimizerName = field(default="adam", metadata=meta(help="optimiser"))
    lr: float = field(default=1e-3, metadata=meta(help="learning rate", check=positive()))
    betas: tuple[float, float] = field(default=(0.9, 0.999), metadata=meta(help="Adam/AdamW (β₁, β₂)", check=_UNIT))
    momentum: float = field(default=0.0, metadata=meta(help="SGD momentum", check=_UNIT))
    weight_decay: float = field(
        default=0.0, metadata=meta(help="L2 (Adam, SGD) or decoupled (AdamW) weight decay", check=nonnegative())
    )
    grad_clip: float | None = field(
        default=None, metadata=meta(help="clip each group's gradient to this global norm", check=positive())
    )
    fused_optimizer: bool = field(
        default=False,
        metadata=meta(help="PyTorch's fused optimiser kernels: faster steps, different rounding from the default"),
    )
    lr_schedule: LRSchedule = field(
        default="constant",
        metadata=meta(help="learning-rate decay after warm-up: constant, cosine or linear down to final_lr_fraction"),
    )
    warmup_steps: int = field(
        default=0, metadata=meta(help="linear learning-rate warm-up over this many steps", check=at_least(0))
    )
    final_lr_fraction: float = field(
        default=0.0, metadata=meta(help="lr at the last step, as a fraction of lr (cosine/linear)", check=_UNIT)
    )
    groups: dict[str, GroupConfig] = field(
        default_factory=dict, metadata=meta(help="per-group optimiser overrides for multi-objective methods")
    )
    shuffle: bool = field(default=True, metadata=meta(help="reshuffle a data tensor every epoch (seeded)"))
    drop_last: bool = field(default=True, metadata=meta(help="drop the last incomplete batch of an epoch"))
    log_every: int = field(
        default=10,
        metadata=meta(help="log the mean of each metric over this many steps (lr: current value)", check=at_least(1)),
    )
    eval_every: int = field(
        default=0,
        metadata=meta(help="run the evaluation hook every this many steps; 0: at the end only", check=at_least(0)),
    )
    checkpoint_every: int = field(
        default=0, metadata=meta(help="checkpoint every this many steps; 0: at the end only", check=at_least(0))
    )
    keep_checkpoints: int = field(
        default=3, metadata=meta(help="number of most recent checkpoints kept", check=at_least(1))
    )
    progress: bool = field(default=True, metadata=meta(help="show a tqdm progress bar (only on a terminal)"))
    tensorboard: bool = field(
        default=False, metadata=meta(help="also log to TensorBoard if the `tensorboard` package is installed")
    )
    dist_timeout_s: float = field(
        default=300.0,
        metadata=meta(
            help="distributed runs: seconds a rank waits for the others before stopping with an error", check=positive()
        ),
    )
    on_divergence: Literal["stop", "rollback"] = field(
        default="stop",
        metadata=meta(help="stop: raise NonFiniteError; rollback: reload the last checkpoint, reseed, scale lr"),
    )
    monitor: list[str] | None = field(
        default=None,
        metadata=meta(help="logged keys checked for NaN/inf; null: all (the optimised losses always are)"),
    )
    max_abs: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_MAX_ABS),
        metadata=meta(
            help="runaway thresholds: diverged when abs(value) of a key exceeds its limit",
            check=positive(allow_inf=True),
        ),
    )
    max_rollbacks: int = field(default=3, metadata=meta(help="rollbacks allowed before stopping", check=at_least(0)))
    rollback_lr_factor: float = field(
        default=0.5,
        metadata=meta(
            help="learning rates are multiplied by this at each rollback", check=interval(0, 1, lo_open=True)
        ),
    )

    def __post_init__(self) -> None:
        validate(self)


def lr_factor(step: int, config: TrainConfig) -> float:
    """Multiplier of every group's lr at optimisation step ``step`` (1-based): a pure function of the step, so a
    resumed run follows the same schedule.

    Warm-up: step/w for step ≤ w = ``warmup_steps``. Then, with progress u = (step − w)/(steps − w) ∈ [0, 1] and
    f = ``final_lr_fraction``: constant 1; linear 1 − (1 − f)·u; cosine f + (1 − f)·(1 + cos πu)/2.
    """
    w = config.warmup_steps
    if step <= w:
        return step / w
    if config.lr_schedule == "constant":
        return 1.0
    u = min(1.0, (step - w) / max(config.steps - w, 1))
    f = config.final_lr_fraction
    if config.lr_schedule == "linear":
        return 1.0 - (1.0 - f) * u
    return f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * u))
