"""Rate–distortion: sources, distortions, closed forms, Blahut–Arimoto, sandwich bounds, EBA runs.

All rates in nats (totals over dimensions unless a name says per dimension).
"""

from ebmlab.ratedistortion.blahut_arimoto import BAResult, blahut_arimoto, discretize_density
from ebmlab.ratedistortion.bounds import RDBounds, gaussian_marginal_terms, rd_bounds, sample_marginal_terms
from ebmlab.ratedistortion.closed_form import (
    RDPoint,
    bernoulli_rd,
    binary_entropy,
    gaussian_conditional,
    gaussian_rate_at,
    gaussian_rd,
    laplace_rd,
    shannon_lower_bound,
)
from ebmlab.ratedistortion.distortions import DISTORTIONS, get_distortion, pairwise
from ebmlab.ratedistortion.mixture import MixtureEnergy
from ebmlab.ratedistortion.sources import (
    BernoulliSource,
    CallableSource,
    GaussianSource,
    LaplaceSource,
    SampleSource,
    Source,
    get_source,
)

__all__ = [
    "DISTORTIONS",
    "BAResult",
    "BernoulliSource",
    "CallableSource",
    "GaussianSource",
    "LaplaceSource",
    "MixtureEnergy",
    "RDBounds",
    "RDPoint",
    "SampleSource",
    "Source",
    "bernoulli_rd",
    "binary_entropy",
    "blahut_arimoto",
    "discretize_density",
    "gaussian_conditional",
    "gaussian_marginal_terms",
    "gaussian_rate_at",
    "gaussian_rd",
    "get_distortion",
    "get_source",
    "laplace_rd",
    "pairwise",
    "rd_bounds",
    "sample_marginal_terms",
    "shannon_lower_bound",
]
