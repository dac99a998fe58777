"""Components every installation has: data from files or analytic targets, neural and analytic
energies, the MCMC kernels, and the two example methods of :mod:`ebmlab.training.examples`."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.energies import ConvEnergy, MLPEnergy
from ebmlab.errors import ConfigError
from ebmlab.experiments.registry import register_data, register_energy, register_method, register_sampler
from ebmlab.samplers import HMC, MALA, ULA, BlockGibbs, KineticLangevin
from ebmlab.training.examples import GaussianMLE, ReverseKLGaussian

__all__ = ["file_data", "gaussian_mle", "gaussian_reverse_kl", "mlp_energy", "target_data", "target_energy"]


def _get_target(name: str):
    try:
        from ebmlab.targets import get_target
    except ImportError:
        raise ConfigError(
            "analytic targets (ebmlab.targets.get_target) are not available in this installation."
        ) from None
    return get_target(name)


def _dim(event_shape: tuple[int, ...] | None, dim: int | None, who: str) -> int:
    if dim is not None:
        return dim
    if event_shape is None:
        raise ConfigError(f"{who}.dim: needed when the experiment has no data section to infer it from")
    return math.prod(event_shape)


# -- data ------------------------------------------------------------------------------------------
def target_data(target: str, n: int, generator: torch.Generator) -> Tensor:
    """``n`` exact samples (float32) of the analytic target named ``target`` (see ``ebmlab.targets``)."""
    return _get_target(target).sample(n, generator)


def file_data(path: str, key: str = "data") -> Tensor:
    """A float32 tensor ``(n, *event)`` from ``path``: a ``.safetensors`` file (tensor ``key``) or ``.npy``
    (loaded with ``allow_pickle=False``: no code runs)."""
    from ebmlab.data.files import load_array_file

    return load_array_file(path, key)  # checked: dtype, shape, finite values (file and row named)


register_data("target", target_data)
register_data("file", file_data)


# -- energies --------------------------------------------------------------------------------------
def mlp_energy(
    event_shape: tuple[int, ...] | None,
    hidden: list[int] = [128, 128],  # noqa: B006 (never mutated)
    spectral_norm: bool = False,
    dim: int | None = None,
) -> MLPEnergy:
    """An MLP energy on flat vectors; ``dim`` defaults to the data's."""
    return MLPEnergy(_dim(event_shape, dim, "energy"), hidden=hidden, spectral_norm=spectral_norm)


def conv_energy(channels: int = 32, spectral_norm: bool = False) -> ConvEnergy:
    """The small ConvNet energy for 8×8 images."""
    return ConvEnergy(channels=channels, spectral_norm=spectral_norm)


def target_energy(target: str):
    """The energy of an analytic target (with exact log Z and samples for evaluation)."""
    return _get_target(target)


register_energy("mlp", mlp_energy)
register_energy("conv", conv_energy)
register_energy("target", target_energy)

# -- samplers --------------------------------------------------------------------------------------
for _name, _cls in {"ula": ULA, "mala": MALA, "hmc": HMC, "kinetic": KineticLangevin, "gibbs": BlockGibbs}.items():
    register_sampler(_name, _cls)


# -- example methods -------------------------------------------------------------------------------
def gaussian_mle(event_shape: tuple[int, ...] | None, dim: int | None = None) -> GaussianMLE:
    """Maximum-likelihood diagonal Gaussian (a reference method)."""
    return GaussianMLE(_dim(event_shape, dim, "method"))


def gaussian_reverse_kl(
    energy, event_shape: tuple[int, ...] | None, n_samples: int = 256, dim: int | None = None
) -> ReverseKLGaussian:
    """Diagonal Gaussian fitted to exp(-E) by reverse KL (a reference energy-only method)."""
    if energy is None:
        raise ConfigError("method: gaussian-reverse-kl needs an energy section (e.g. `energy: {name: target, ...}`)")
    return ReverseKLGaussian(energy, _dim(event_shape, dim, "method"), n_samples=n_samples)


register_method("gaussian-mle", gaussian_mle)
register_method("gaussian-reverse-kl", gaussian_reverse_kl)
