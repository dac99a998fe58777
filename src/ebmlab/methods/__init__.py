"""Learning algorithms: each a small object with ``losses(batch, ctx) -> Losses`` (:class:`ebmlab.training.Method`).

The training loop lives in :mod:`ebmlab.training`; methods own parameters, not loops.
"""

from ebmlab.methods.boltzmann_generator import BoltzmannGenerator
from ebmlab.methods.boltzmann_generator_tools import log_z_flow, select_latent_dim, train_boltzmann_generator
from ebmlab.methods.conditional_gaussian import ConditionalGaussian
from ebmlab.methods.contrastive_divergence import NEGATIVES, ContrastiveDivergence, cd_method, init_density
from ebmlab.methods.maximum_likelihood import MaximumLikelihood, ml_loss
from ebmlab.methods.negatives import Annealed, FromData, NegativeBatch, Negatives, Persistent, ShortRun, Tempered

__all__ = [
    "NEGATIVES",
    "Annealed",
    "BoltzmannGenerator",
    "ConditionalGaussian",
    "ContrastiveDivergence",
    "FromData",
    "MaximumLikelihood",
    "NegativeBatch",
    "Negatives",
    "Persistent",
    "ShortRun",
    "Tempered",
    "cd_method",
    "init_density",
    "log_z_flow",
    "ml_loss",
    "select_latent_dim",
    "train_boltzmann_generator",
]
