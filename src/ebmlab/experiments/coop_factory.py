"""Config factory of ``method: {name: coop}``: lives in the experiments layer because ``vae_from`` rebuilds a
finished run (``load_run``), which the methods package must not import (no import cycles)."""

from __future__ import annotations

from torch import nn

from ebmlab.errors import ConfigError
from ebmlab.experiments.run import load_run
from ebmlab.generators import VAE
from ebmlab.methods.cooperative import CooperativeLearning
from ebmlab.samplers.base import Sampler

__all__ = ["coop_method"]


def coop_method(
    energy: nn.Module | None,
    sampler: Sampler | None,
    event_shape: tuple[int, ...] | None,
    latent_dim: int = 2,
    hidden: list[int] = [64, 64],  # noqa: B006 (never mutated)
    likelihood: str = "gaussian",
    obs_scale: float | None = None,
    init_obs_scale: float = 1.0,
    n_steps: int = 20,
    kl_weight: float = 1.0,
    langevin_noise: bool = True,
    vae_training: str = "revised",
    vae_from: str | None = None,
    energy_reg: float = 0.0,
    data_noise: float = 0.0,
    clamp: tuple[float, float] | None = None,
    init_scale: float = 1.0,
) -> CooperativeLearning:
    """Config factory of ``method: {name: coop, ...}``; ``vae_from``: a ``vae`` (or ``coop``) run directory whose
    VAE is loaded (the VAE settings here are then ignored)."""
    if energy is None or event_shape is None:
        raise ConfigError("method: coop needs an energy section and a data section (e.g. `energy: {name: mlp}`).")
    if vae_from is not None:
        vae = getattr(load_run(vae_from)[1], "vae", None)
        if not isinstance(vae, VAE) or vae.event_shape != tuple(event_shape):
            raise ConfigError(
                f"method.vae_from: {vae_from} holds no VAE on data of shape {tuple(event_shape)}; pass the run "
                "directory of a `method: vae` (or `coop`) run on the same data."
            )
        vae.train()
    else:
        vae = VAE(event_shape, latent_dim, hidden, likelihood, obs_scale, init_obs_scale)
    return CooperativeLearning(
        energy,
        vae,
        sampler,
        n_steps,
        kl_weight,
        langevin_noise,
        vae_training,
        energy_reg,
        data_noise,
        clamp,
        init_scale,
    )
