"""Learning algorithms: each a small object with ``losses(batch, ctx) -> Losses`` (:class:`ebmlab.training.Method`).

The training loop lives in :mod:`ebmlab.training`; methods own parameters, not loops.
"""

from ebmlab.methods.boltzmann_generator import (
    BoltzmannGenerator,
    ConditionalGaussian,
    log_z_flow,
    select_latent_dim,
    train_boltzmann_generator,
)
from ebmlab.methods.contrastive_divergence import NEGATIVES, ContrastiveDivergence, cd_method, noise_init

__all__ = [
    "NEGATIVES",
    "BoltzmannGenerator",
    "ConditionalGaussian",
    "ContrastiveDivergence",
    "cd_method",
    "log_z_flow",
    "noise_init",
    "select_latent_dim",
    "train_boltzmann_generator",
]
