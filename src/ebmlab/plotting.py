"""Figures people would rather look at than read: samples against exact densities.

Matplotlib is imported lazily with the non-interactive Agg backend, so plotting works headless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ebmlab.outputs import save_figure

__all__ = ["plot_samples_vs_density", "pyplot"]


def pyplot() -> Any:
    """matplotlib.pyplot with the headless Agg backend selected."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _box(target: Any, samples: Tensor, dims: int) -> list[tuple[float, float]]:
    bounds = getattr(target, "bounds", None)
    if bounds is not None and len(bounds) >= dims:
        return [tuple(map(float, b)) for b in bounds[:dims]]  # type: ignore[misc]
    lo, hi = samples.min(0).values, samples.max(0).values
    pad = 0.1 * (hi - lo) + 1e-3
    return [(float(lo[i] - pad[i]), float(hi[i] + pad[i])) for i in range(dims)]


def plot_samples_vs_density(
    target: Any, samples: Tensor, path: str | Path, title: str = "", generator: torch.Generator | None = None
) -> Path:
    """Save a figure of ``samples`` (n, *event) against the target's exact density.

    1-D: histogram over exp(−E)/Z. 2-D: scatter over the density's contours. Higher dimensions:
    the first two coordinates, against exact samples when the target has ``sample``.
    """
    plt = pyplot()
    x = samples.detach().reshape(samples.shape[0], -1).double().cpu()
    dim = x.shape[1]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    if dim == 1:
        ((lo, hi),) = _box(target, x, 1)
        grid = torch.linspace(lo, hi, 800, dtype=torch.float64)
        ax.hist(x[:, 0].clamp(lo, hi).numpy(), bins=80, range=(lo, hi), density=True, alpha=0.55, label="samples")
        if hasattr(target, "log_prob"):
            ax.plot(grid.numpy(), target.log_prob(grid[:, None]).exp().numpy(), "k-", lw=1.5, label="exact density")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.legend()
    elif dim == 2:
        (x0, x1), (y0, y1) = _box(target, x, 2)
        if hasattr(target, "log_prob"):
            gx, gy = torch.meshgrid(
                torch.linspace(x0, x1, 300, dtype=torch.float64, device="cpu"),  # plots are drawn on the CPU
                torch.linspace(y0, y1, 300, dtype=torch.float64, device="cpu"),
                indexing="xy",
            )
            dens = target.log_prob(torch.stack([gx.flatten(), gy.flatten()], 1)).exp().reshape(gx.shape)
            ax.contourf(gx.numpy(), gy.numpy(), torch.nan_to_num(dens).numpy(), levels=30, cmap="Blues")
        ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), s=2, c="tab:red", alpha=0.5, label="samples")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.legend(loc="upper right")
    else:
        if hasattr(target, "sample"):
            ref = target.sample(x.shape[0], generator=generator).reshape(x.shape[0], -1).double()
            ax.scatter(ref[:, 0].numpy(), ref[:, 1].numpy(), s=2, c="k", alpha=0.3, label="exact samples")
        ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), s=2, c="tab:red", alpha=0.5, label="samples")
        ax.set_xlabel("x[0]")
        ax.set_ylabel("x[1]")
        ax.legend(loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path
