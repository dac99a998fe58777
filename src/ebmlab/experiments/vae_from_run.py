"""``vae: {name: from-run, run_dir: DIR}``: the trained VAE of a finished run, as a component.

A factory (not a class registered directly) because it *loads* a part instead of constructing one: it
rebuilds a finished ``vae`` or ``coop`` run with :func:`~ebmlab.experiments.load_run`, which lives in the
experiments layer (the methods package must not import it: no import cycles).
"""

from __future__ import annotations

from ebmlab.errors import ConfigError
from ebmlab.experiments.run import load_run
from ebmlab.generators import VAE

__all__ = ["vae_from_run"]


def vae_from_run(run_dir: str, event_shape: tuple[int, ...] | None = None) -> VAE:
    """The VAE of the ``vae`` (or ``coop``) run in ``run_dir``, in training mode, checked against the data's shape."""
    vae = getattr(load_run(run_dir)[1], "vae", None)
    if not isinstance(vae, VAE) or (event_shape is not None and vae.event_shape != tuple(event_shape)):
        raise ConfigError(
            f"vae.run_dir: {run_dir} holds no VAE on data of shape {event_shape}; pass the run "
            "directory of a `method: vae` (or `coop`) run on the same data."
        )
    vae.train()
    return vae
