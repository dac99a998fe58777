"""Optimisers per parameter group: settings (config defaults < the method's group < ``train.groups``),
construction, hyper-parameters re-applied after a restore, and clipped per-group gradients."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ebmlab.errors import ConfigError
from ebmlab.schema import from_dict, suggest, to_dict
from ebmlab.training.distributed import Strategy
from ebmlab.training.method import GROUP_KEYS
from ebmlab.training.options import GroupConfig, TrainConfig

#: torch ≥ 2.6; older versions clip by inf instead (the same numbers, one multiply more)
_total_norm = getattr(torch.nn.utils, "get_total_norm", None)

__all__ = [
    "apply_hyperparameters",
    "build_optimizer",
    "foreach_applies",
    "group_gradients",
    "group_settings",
    "implementation",
    "total_norm",
]


def total_norm(grads: list[Tensor]) -> Tensor:
    """‖(g₁, …, g_k)‖₂ as ``torch.nn.utils.get_total_norm`` computes it; for plain dense tensors of one device
    (CPU or CUDA) and dtype, its own two calls (one ``_foreach_norm``, the norm of the stacked norms) without its
    grouping by device and dtype in Python, so the same bits for less host time."""
    assert _total_norm is not None
    first = grads[0]
    same = all(
        type(g) is Tensor and g.layout == torch.strided and g.device == first.device and g.dtype == first.dtype
        for g in grads
    )
    if not same or first.device.type not in ("cpu", "cuda"):
        return _total_norm(grads)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)


def foreach_applies(params: Sequence[Tensor]) -> bool | None:
    """``foreach`` for an optimiser over ``params``: True for plain dense CPU / CUDA tensors, else None (PyTorch's
    own choice). PyTorch's default on the CPU is the per-parameter loop; its ``foreach`` implementation updates
    every parameter with one kernel per operation and gives the same bits (a test checks Adam, AdamW and SGD with
    momentum): Adam over the Boltzmann generator's 27 parameters took 0.60–0.86 instead of 0.78–1.02 ms per step on a
    Zen 4 EPYC (docs/performance_log.md, "Session 15")."""
    plain = all(type(p) in (Tensor, nn.Parameter) and p.layout == torch.strided for p in params)
    return True if params and plain and all(p.device.type in ("cpu", "cuda") for p in params) else None


def implementation(params: Sequence[Tensor], fused: bool) -> tuple[bool | None, bool | None]:
    """``(foreach, fused)`` for an optimiser over ``params``: PyTorch's fused kernels when asked
    (``train.fused_optimizer``: one kernel for all parameters, different rounding; Adam over bg's parameters 0.23–0.33
    instead of 0.78–1.02 ms per step), else foreach where it applies (:func:`foreach_applies`, the same bits)."""
    if not fused:
        return foreach_applies(params), None
    unfit = [p for p in params if not p.is_floating_point() or p.device.type not in ("cpu", "cuda")]
    if unfit:
        raise ConfigError(
            f"train.fused_optimizer: PyTorch's fused kernels need floating-point CPU / CUDA parameters, got a "
            f"{unfit[0].dtype} parameter on {unfit[0].device}; set train.fused_optimizer: false."
        )
    return None, True


def build_optimizer(params: Sequence[nn.Parameter], settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD over ``params`` with ``lr``, ``betas``, ``momentum``, ``weight_decay`` and the
    implementation :func:`implementation` picks (``settings["fused"]``, default False)."""
    name, lr, wd = settings["optimizer"], settings["lr"], settings["weight_decay"]
    foreach, fused = implementation(list(params), bool(settings.get("fused", False)))
    betas = tuple(settings["betas"])
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=wd, foreach=foreach, fused=fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd, foreach=foreach, fused=fused)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=settings["momentum"], weight_decay=wd, foreach=foreach, fused=fused
        )
    raise ConfigError(f"train.optimizer: expected one of 'adam', 'adamw', 'sgd', got {name!r}")


def group_settings(
    config: TrainConfig, groups: Mapping[str, Mapping[str, Any]], name: str
) -> dict[str, dict[str, Any]]:
    """Each group's optimiser settings: ``train`` defaults, then the method's ``param_groups`` entry, then
    ``train.groups.<g>`` (``name``: the method's class name, for errors)."""
    for g in config.groups:
        if g not in groups:
            raise ConfigError(
                f"train.groups.{g}: unknown parameter group; {suggest(g, groups)}groups of {name}: {', '.join(groups)}"
            )
    c = config
    base: dict[str, Any] = {"optimizer": c.optimizer, "lr": c.lr, "betas": c.betas, "momentum": c.momentum}
    base |= {"weight_decay": c.weight_decay, "grad_clip": c.grad_clip, "fused": c.fused_optimizer}
    settings = {}
    for g, entry in groups.items():
        own = from_dict(GroupConfig, {k: entry[k] for k in GROUP_KEYS if k in entry}, f"{name}.param_groups.{g}")
        merged = dict(base)
        for layer in (own, c.groups.get(g)):
            if layer is not None:
                merged |= {k: v for k, v in to_dict(layer).items() if v is not None}
        settings[g] = merged
    return settings


def apply_hyperparameters(
    optimizers: Mapping[str, torch.optim.Optimizer], settings: Mapping[str, Mapping[str, Any]], lr_scale: float
) -> None:
    """Config hyper-parameters (× the rollback lr scale) win over those stored in a checkpoint, and so does the
    implementation (:func:`implementation`; a checkpoint written before foreach was chosen holds None)."""
    for g, opt in optimizers.items():
        s = settings[g]
        for pg in opt.param_groups:
            pg["foreach"], pg["fused"] = implementation(pg["params"], bool(s.get("fused", False)))
            pg["lr"] = s["lr"] * lr_scale
            pg["weight_decay"] = s["weight_decay"]
            if "betas" in pg:
                pg["betas"] = tuple(s["betas"])
            if "momentum" in pg:
                pg["momentum"] = s["momentum"]


def group_gradients(
    objectives: Mapping[str, Tensor],
    groups: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Mapping[str, Any]],
    strategy: Strategy,
) -> dict[str, Tensor]:
    """∂loss_g/∂θ_g for every group at the same parameters (into ``.grad``), reduced across ranks and
    clipped per group; returns the pre-clipping norms ``{"grad_norm/<g>": 0-d tensor}`` (no host sync)."""
    norms = {}
    items = list(objectives.items())
    for i, (g, loss) in enumerate(items):
        params = groups[g]["params"]
        grads = torch.autograd.grad(loss, params, retain_graph=i < len(items) - 1, allow_unused=True)
        for p, grad in zip(params, grads, strict=True):
            p.grad = grad
        strategy.reduce_gradients(params)
        present = [p for p in params if p.grad is not None]
        clip = settings[g]["grad_clip"]
        if not present:
            norm = torch.zeros((), device=loss.device)
        elif clip is None and _total_norm is not None:  # the norm only (clipping by inf multiplies by 1)
            norm = total_norm([p.grad for p in present if p.grad is not None])
        else:
            clip = math.inf if clip is None else clip
            norm = torch.nn.utils.clip_grad_norm_(present, clip)
        norms[f"grad_norm/{g}"] = norm
    return norms
