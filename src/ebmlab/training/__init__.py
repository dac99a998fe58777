"""The one training loop: ``fit(method, data, config) -> Run``.

Methods (contrastive divergence, Boltzmann generators, cooperative VAE+EBM, ...) only compute their
losses; ``fit`` owns optimisation, seeded mini-batches, logging (``metrics.jsonl``/``.csv``, optional
TensorBoard, a tqdm bar), evaluation hooks, atomic pickle-free checkpoints with exact resume, and a
divergence monitor (stop or roll back).

>>> import torch
>>> from ebmlab.training import TrainConfig, fit
>>> from ebmlab.training.examples import GaussianMLE
>>> data = 2.0 + torch.randn(512, 3, generator=torch.Generator().manual_seed(0))
>>> run = fit(GaussianMLE(dim=3), data, TrainConfig(steps=300, batch_size=128, lr=0.05, progress=False))
>>> bool((run.method.mu - data.mean(0)).abs().max() < 0.05)
True
"""

from ebmlab.training.checkpoint import Checkpoint, CheckpointManager
from ebmlab.training.data import BatchIterator, derive_seed
from ebmlab.training.lock import RunLock
from ebmlab.training.logs import read_metrics
from ebmlab.training.loop import Callback, Evaluate, Run, build_optimizer, fit
from ebmlab.training.method import DEFAULT_GROUP, Losses, Method, StepContext, resolve_groups
from ebmlab.training.monitor import Divergence, DivergenceMonitor
from ebmlab.training.options import GroupConfig, TrainConfig, lr_factor
from ebmlab.training.restore import latest_checkpoint, load_weights, run_config

__all__ = [
    "DEFAULT_GROUP",
    "BatchIterator",
    "Callback",
    "Checkpoint",
    "CheckpointManager",
    "Divergence",
    "DivergenceMonitor",
    "Evaluate",
    "GroupConfig",
    "Losses",
    "Method",
    "Run",
    "RunLock",
    "StepContext",
    "TrainConfig",
    "build_optimizer",
    "derive_seed",
    "fit",
    "latest_checkpoint",
    "load_weights",
    "lr_factor",
    "read_metrics",
    "resolve_groups",
    "run_config",
]
