"""The catalogue: every built-in component name, one line each.

Classes are registered directly (their constructor's parameters are the config keys); a
``"module:attr"`` string is a lazy reference written here, in code, and imported on first use, so a
method whose module fails to import loses only its own name. **Adding a method is one line** at the
end of the methods block::

    register_method("my-method", "ebmlab.methods.my_method:MyMethod")

Data sources are small functions turning a data set into a tensor ``(n, *event)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlab.energies import ConvEnergy, MLPEnergy
from ebmlab.experiments.registry import (
    register,
    register_data,
    register_density,
    register_energy,
    register_evaluator,
    register_kind,
    register_method,
    register_sampler,
)
from ebmlab.samplers import HMC, MALA, ULA, BlockGibbs, KineticLangevin

__all__ = ["digits_data", "file_data", "tabular_data", "target_data", "target_energy", "toy_data"]


# -- data ------------------------------------------------------------------------------------------
def target_data(target: str, n: int, generator: torch.Generator) -> Tensor:
    """``n`` exact samples (float32) of the analytic target named ``target`` (see ``ebmlab.targets``)."""
    from ebmlab.targets import get_target

    return get_target(target).sample(n, generator)


def file_data(path: str, key: str = "data") -> Tensor:
    """A float32 tensor ``(n, *event)`` from ``path``: a ``.safetensors`` file (tensor ``key``) or ``.npy``
    (loaded with ``allow_pickle=False``: no code runs)."""
    from ebmlab.data.files import load_array_file

    return load_array_file(path, key)  # checked: dtype, shape, finite values (file and row named)


def digits_data(split: str = "train", scale: str = "symmetric", image: bool = False, seed: int = 0) -> Tensor:
    """The digits split as a tensor (see :func:`ebmlab.data.load_digits`)."""
    from ebmlab.data import load_digits

    return load_digits(split, scale=scale, image=image, seed=seed).x


def tabular_data(dataset: str, split: str = "train", seed: int = 0) -> Tensor:
    """A standardised tabular split as a tensor (see :func:`ebmlab.data.load_tabular`)."""
    from ebmlab.data import load_tabular

    return load_tabular(dataset, split, seed=seed).x


def toy_data(target: str, split: str = "train", n: int | None = None, seed: int = 0) -> Tensor:
    """A fixed toy split as a tensor (see :func:`ebmlab.data.load_toy`)."""
    from ebmlab.data import load_toy

    return load_toy(target, split, n=n, seed=seed).x


register_data("target", target_data)
register_data("file", file_data)
register_data("digits", digits_data)
register_data("tabular", tabular_data)
register_data("toy", toy_data)
register_data("gebm-ring", "ebmlab.methods.gebm_toys:ring_data")
register_data("gebm-grid25", "ebmlab.methods.gebm_toys:grid_data")
register_data("binary-digits", "ebmlab.data.binary:binary_digits_data")
register_data("bars-and-stripes", "ebmlab.data.binary:bars_and_stripes_data")


# -- energies and densities ------------------------------------------------------------------------
def target_energy(target: str):
    """The energy of an analytic target (with exact log Z and samples for evaluation)."""
    from ebmlab.targets import get_target

    return get_target(target)


register_energy("mlp", MLPEnergy)  # dim: the data's, unless given
register_energy("conv", ConvEnergy)
register_energy("target", target_energy)
register_energy("rbm", "ebmlab.energies.binary:RBM")
register_energy("fvbm", "ebmlab.energies.binary:FullyVisibleBM")  # dim: the data's
register_energy("rd-energy", "ebmlab.ratedistortion.model:RDEnergy")
register_density("standard-normal", "ebmlab.densities:StandardNormal")  # event_shape: the data's

# -- generators and sources (parameters `vae`, `cvae`, `source`; GEBM's `base`) ---------------------------
register_kind("vae", "VAE")
register("vae", "vae", "ebmlab.generators:VAE")  # event_shape: the data's
register("vae", "from-run", "ebmlab.experiments.vae_from_run:vae_from_run")  # a finished run's VAE
register_kind("source", "rate-distortion source")
register("source", "gaussian", "ebmlab.ratedistortion.sources:GaussianSource")
register("source", "bernoulli", "ebmlab.ratedistortion.sources:BernoulliSource")
register("source", "laplace", "ebmlab.ratedistortion.sources:LaplaceSource")
register("source", "npy", "ebmlab.ratedistortion.sources:npy_source")
register_kind("cvae", "conditional VAE")
register("cvae", "completion-cvae", "ebmlab.methods.cooperative_completion:completion_cvae")  # context 2·dim
register_kind("gebm-base", "GEBM base")  # GEBM's `base` parameter
register("gebm-base", "mlp-generator", "ebmlab.methods.gebm_parts:MLPGenerator")  # dim: the data's
register("gebm-base", "realnvp", "ebmlab.methods.gebm_parts:realnvp_base")
register("gebm-base", "nice", "ebmlab.methods.gebm_parts:nice_base")

# -- samplers --------------------------------------------------------------------------------------
register_sampler("ula", ULA)
register_sampler("mala", MALA)
register_sampler("hmc", HMC)
register_sampler("kinetic", KineticLangevin)
register_sampler("gibbs", BlockGibbs)

# -- methods (one line each) -----------------------------------------------------------------------
register_method("gaussian-mle", "ebmlab.training.examples:GaussianMLE")
register_method("gaussian-reverse-kl", "ebmlab.training.examples:ReverseKLGaussian")
register_method("cd", "ebmlab.methods.contrastive_divergence:ContrastiveDivergence")
register_method("boltzmann-generator", "ebmlab.methods.boltzmann_generator:BoltzmannGenerator")
register_method("coop", "ebmlab.methods.cooperative:CooperativeLearning")
register_method("vae", "ebmlab.methods.cooperative:VAETraining")
register_method("eba", "ebmlab.methods.eba:EBA")
register_method("rbm", "ebmlab.methods.rbm:BoltzmannMachineCD")
register_method("coop-completion", "ebmlab.methods.cooperative_completion:CooperativeCompletion")
register_method("gebm", "ebmlab.methods.gebm:GEBM")

# -- evaluators ------------------------------------------------------------------------------------
register_evaluator("toy-quality", "ebmlab.metrics.evaluators:toy_evaluator")
register_evaluator("digits-quality", "ebmlab.metrics.evaluators:digits_evaluator")
register_evaluator("flow-logz", "ebmlab.methods.boltzmann_generator_tools:logz_evaluator")
