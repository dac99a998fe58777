"""The user-style energies of benchmarks/samplers_user.py, in PyTorch, with their weights as arrays for JAX.

* ``mog8`` — a plain function: 8 Gaussians, σ = 0.5, means on a radius-4 circle (2-D), E = −log Σₖ exp(−‖x − μₖ‖²/(2σ²));
* ``many-well`` — a plain function, 32-D: 16 pairs of x₁⁴ − 6x₁² + 0.5x₁ + 0.5x₂²;
* ``mlp`` — ``MLPEnergy(64, (256, 256))`` (SiLU), seeded weights;
* ``conv`` — ``ConvEnergy(channels=8)`` on 1×8×8 images (conv 3×3 → 4×4/2 → 4×4/2, SiLU, linear), seeded;
* ``mlp-module`` — the same network and weights as ``mlp``, written as a user would: an ``nn.Sequential`` called in a
  plain function, its parameters requiring grad (not frozen), ∇E by autograd on PyTorch's default BLAS;
* ``mlp-module-onednn`` — that module through ``ebmlab.energies.onednn_linears`` (its linears on oneDNN).

Each problem gives the energy, its starting points, step size and the arrays (weights) that
benchmarks/jax_peer.py needs to build the same energy in JAX.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ebmlab.energies import ConvEnergy, MLPEnergy, onednn_linears

__all__ = ["ENERGIES", "Problem", "build_problem", "mlp_flops"]

ENERGIES = ("mog8", "many-well", "mlp", "conv", "mlp-module", "mlp-module-onednn")
MLP_DIM, MLP_HIDDEN = 64, (256, 256)
CONV_CHANNELS = 8

_ANGLES = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
_MEANS64 = 4.0 * torch.stack([_ANGLES.cos(), _ANGLES.sin()], dim=1)


_MEANS: dict[tuple[torch.device, torch.dtype], Tensor] = {}


def mog8(x: Tensor) -> Tensor:
    """Plain-function mixture energy (unnormalised), ``(n, 2) -> (n,)``.

    The means are copied to x's device once and cached: a host-to-device copy inside the energy would
    make every call synchronise (and CUDA-graph capture impossible).
    """
    key = (x.device, x.dtype)
    if key not in _MEANS:
        _MEANS[key] = _MEANS64.to(device=x.device, dtype=x.dtype)
    means = _MEANS[key]
    sq = (x[:, None, :] - means).square().sum(-1)
    return -torch.logsumexp(-sq / (2 * 0.25), dim=1)


def many_well(x: Tensor) -> Tensor:
    """Plain-function 32-D many-well energy, ``(n, 32) -> (n,)``."""
    a, b = x[:, 0::2], x[:, 1::2]
    return (a**4 - 6 * a**2 + 0.5 * a + 0.5 * b**2).sum(-1)


@dataclass
class Problem:
    """One benchmark energy: E, event shape, step size, starting-point scale and JAX arrays."""

    name: str
    energy: torch.nn.Module | object
    event: tuple[int, ...]
    step_size: float
    init_scale: float
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def x0(self, n: int, device: torch.device | str = "cpu") -> Tensor:
        g = torch.Generator().manual_seed(1)
        return (self.init_scale * torch.randn((n, *self.event), generator=g)).to(device)

    def to(self, device: torch.device | str) -> Problem:
        if isinstance(self.energy, torch.nn.Module):
            self.energy = self.energy.to(device)
        return self


def _arrays(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k.replace(".", "_"): v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def build_problem(name: str) -> Problem:
    """The named problem with seeded weights (seed 0), float32."""
    torch.manual_seed(0)
    if name == "mog8":
        return Problem(name, mog8, (2,), 1e-2, 2.0)
    if name == "many-well":
        return Problem(name, many_well, (32,), 5e-3, 1.0)
    if name == "mlp":
        net = MLPEnergy(MLP_DIM, MLP_HIDDEN).eval().requires_grad_(False)
        return Problem(name, net, (MLP_DIM,), 1e-2, 1.0, _arrays(net))
    if name == "conv":
        net = ConvEnergy(CONV_CHANNELS).eval().requires_grad_(False)
        return Problem(name, net, (1, 8, 8), 1e-2, 1.0, _arrays(net))
    if name in ("mlp-module", "mlp-module-onednn"):
        net = MLPEnergy(MLP_DIM, MLP_HIDDEN).eval().requires_grad_(False)  # the weights of "mlp"
        # as a user writes it: parameters that require grad (frozen, onednn_linears once paid for ∂W: session 22)
        plain = copy.deepcopy(net.net).requires_grad_(True)
        module = plain if name == "mlp-module" else onednn_linears(plain)

        def user_mlp(x: Tensor) -> Tensor:
            return module(x).squeeze(-1)

        return Problem(name, user_mlp, (MLP_DIM,), 1e-2, 1.0, _arrays(net))
    raise SystemExit(f"unknown energy {name!r}; choose from {', '.join(ENERGIES)}")


def mlp_flops(n: int) -> float:
    """FLOPs of one MLP energy + input gradient for n rows: forward and input-backward matmuls."""
    widths = [MLP_DIM, *MLP_HIDDEN, 1]
    forward = sum(a * b for a, b in itertools.pairwise(widths))
    backward = sum(a * b for a, b in itertools.pairwise(widths[:-1]))
    return 2.0 * n * (forward + backward)
