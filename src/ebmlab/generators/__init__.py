"""Generators: latent-variable models with a sampler and a likelihood bound (VAEs).

:class:`VAE` is usable on its own as a density-like object (``event_shape``, ``sample(n, generator)``,
``elbo(x, generator, kl_weight, k) -> (elbo, recon, kl)``) and as the amortised sampler of cooperative
learning (:mod:`ebmlab.methods.cooperative`); :class:`ConditionalVAE` models x given a context.
"""

from ebmlab.generators.vae import LIKELIHOODS, VAE, ConditionalVAE, diagonal_normal_log_prob, mlp

__all__ = ["LIKELIHOODS", "VAE", "ConditionalVAE", "diagonal_normal_log_prob", "mlp"]
