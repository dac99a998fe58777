"""Conditional cooperative learning for image completion (seed 001's conditional predictive learning).

An EBM U_θ(x) over the whole image and a conditional VAE q_α(x | z, c) with context c = (m ⊙ x, m), m the
mask of observed pixels. Per training step, for data x and a random mask m per example:

1. x̂ = g_α(z, c), z ~ N(0, I), with the observed pixels written in;
2. K Langevin steps on the clamped energy U_θ(m ⊙ x + (1 − m) ⊙ x̃) (:class:`~ebmlab.energies.Clamped`): the free
   pixels move, the observed ones are held at their values, giving completions x̃;
3. θ: mean U_θ(x) − mean U_θ(x̃) — the gradient of the conditional log-likelihood log p_θ(x_free | x_obs)
   averaged over the data (the negatives are conditional samples, not samples of p_θ(x));
4. (α, β): maximise the conditional ELBO of x̃ given c with weight γ on the KL (MCMC teaching).

Masks (True = observed), for square images of side s flattened row-major: ``block`` (a random s/2 × s/2 block
missing), ``left_right`` (the right half missing), ``top_bottom`` (the bottom half missing).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebmlab.energies import Clamped
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.generators import ConditionalVAE
from ebmlab.methods.cooperative import check_batch, check_noise_switch, ebm_loss, langevin_revise
from ebmlab.samplers.base import Sampler
from ebmlab.samplers.langevin import ULA
from ebmlab.training.method import Losses, Method, StepContext

__all__ = ["MASKS", "CooperativeCompletion", "completion_cvae", "completion_mask"]

MASKS = ("block", "left_right", "top_bottom")


def completion_mask(kind: str, n: int, dim: int, generator: torch.Generator) -> Tensor:
    """Boolean masks ``(n, dim)`` of observed pixels (True) for square images of ``dim`` = side² pixels."""
    side = math.isqrt(dim)
    if side * side != dim or side < 2:
        raise ShapeError(f"completion masks need square images (dim = side², side >= 2), got dim={dim}.")
    if kind not in MASKS:
        raise ConfigError(f"unknown mask {kind!r}; masks: {', '.join(MASKS)}.")
    m = torch.ones(n, side, side, dtype=torch.bool, device="cpu")  # built on the CPU, moved once at the end
    half = side // 2
    if kind == "left_right":
        m[:, :, half:] = False
    elif kind == "top_bottom":
        m[:, half:, :] = False
    else:
        r, c = (torch.randint(0, side - half + 1, (2, n), generator=generator, device=generator.device)).cpu()
        rows = torch.arange(side, device="cpu")
        inside_r = (rows[None, :] >= r[:, None]) & (rows[None, :] < r[:, None] + half)
        inside_c = (rows[None, :] >= c[:, None]) & (rows[None, :] < c[:, None] + half)
        m = ~(inside_r[:, :, None] & inside_c[:, None, :])
    return m.reshape(n, dim).to(generator.device)


class CooperativeCompletion(Method):
    """EBM over whole images + conditional VAE given the observed part (module doc); data ``(n, dim)``.

    Args mirror :class:`~ebmlab.methods.cooperative.CooperativeLearning`; ``masks``: the mask kinds drawn
    uniformly per training example; ``cvae``: a :class:`ConditionalVAE` with ``context_dim = 2 · dim``.
    """

    def __init__(
        self,
        energy: nn.Module,
        cvae: ConditionalVAE,
        sampler: Sampler | None = None,
        n_steps: int = 20,
        kl_weight: float = 1.0,
        langevin_noise: bool = True,
        masks: tuple[str, ...] = MASKS,
        energy_reg: float = 0.0,
        data_noise: float = 0.0,
        clamp: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(cvae, ConditionalVAE) or len(cvae.event_shape) != 1 or cvae.context_dim != 2 * cvae.dim:
            raise ConfigError(
                "CooperativeCompletion: cvae must be a ConditionalVAE over (dim,) with context_dim = 2·dim."
            )
        if not masks or any(k not in MASKS for k in masks):
            raise ConfigError(f"CooperativeCompletion: masks must be a non-empty subset of {MASKS}, got {masks!r}.")
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
            raise ConfigError(f"CooperativeCompletion: n_steps (K) must be an int >= 0, got {n_steps!r}.")
        self.energy, self.cvae, self.masks = energy, cvae, tuple(masks)
        self.sampler = sampler if sampler is not None else ULA(step_size=0.01)
        self.n_steps, self.kl_weight, self.langevin_noise = n_steps, float(kl_weight), bool(langevin_noise)
        self.energy_reg, self.data_noise = float(energy_reg), float(data_noise)
        self.clamp = None if clamp is None else (float(clamp[0]), float(clamp[1]))
        check_noise_switch(self.sampler, self.langevin_noise)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"ebm": list(self.energy.parameters()), "vae": list(self.cvae.parameters())}

    @staticmethod
    def context(x: Tensor, mask: Tensor) -> Tensor:
        """c = (m ⊙ x, m), ``(n, 2·dim)``."""
        return torch.cat([torch.where(mask, x, torch.zeros_like(x)), mask.to(x.dtype)], dim=1)

    def random_masks(self, n: int, generator: torch.Generator) -> Tensor:
        kinds = torch.randint(0, len(self.masks), (n,), generator=generator, device=generator.device).cpu()
        out = torch.ones(n, self.cvae.dim, dtype=torch.bool, device=generator.device)
        for i, kind in enumerate(self.masks):
            rows = (kinds == i).nonzero().flatten()
            if rows.numel():
                out[rows] = completion_mask(kind, rows.numel(), self.cvae.dim, generator)
        return out

    def complete(
        self,
        x: Tensor,
        mask: Tensor,
        generator: torch.Generator,
        n_steps: int | None = None,
        start: str = "vae",
    ) -> Tensor:
        """Completions of ``x`` ``(n, dim)`` given ``mask`` (True = observed): K Langevin steps (default: the
        training K) on the clamped EBM from the conditional VAE's proposal (``start="vae"``) or from uniform noise
        on [−1, 1] in the missing pixels (``"noise"``). The observed pixels of the result equal ``x`` exactly."""
        if x.dim() != 2 or x.shape[1] != self.cvae.dim or mask.shape != x.shape or mask.dtype != torch.bool:
            raise ShapeError(
                f"complete: expected x (n, {self.cvae.dim}) and a boolean mask of the same shape, "
                f"got {tuple(x.shape)} and {tuple(mask.shape)} ({mask.dtype})."
            )
        if start not in ("vae", "noise"):
            raise ConfigError(f"complete: start must be 'vae' or 'noise', got {start!r}.")
        with torch.no_grad():
            if start == "vae":
                c = self.context(x, mask)
                x0 = self.cvae.decode(self.cvae.sample_latent(x.shape[0], generator).to(x.dtype), c)
            else:
                x0 = 2 * torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) - 1
        clamped = Clamped(self.energy, x.detach(), mask)
        k = self.n_steps if n_steps is None else n_steps
        x_t = langevin_revise(clamped, clamped.fill(x0), self.sampler, k, generator, self.langevin_noise, self.clamp)
        return clamped.fill(x_t)

    def losses(self, batch: Tensor | None, ctx: StepContext) -> Losses:
        """``{"ebm": mean U(x) − mean U(x̃), "vae": −mean conditional ELBO_γ(x̃ | c)}`` with random masks."""
        data = check_batch(batch, "CooperativeCompletion.losses").detach()
        g = ctx.generator
        if self.data_noise > 0:
            data = data + self.data_noise * torch.randn(data.shape, generator=g, dtype=data.dtype, device=data.device)
        mask = self.random_masks(data.shape[0], g)
        x_tilde = self.complete(data, mask, g)
        loss_ebm, log = ebm_loss(self.energy, data, x_tilde, self.energy_reg)
        elbo, recon, kl = self.cvae.elbo(x_tilde, self.context(data, mask), g, kl_weight=self.kl_weight)
        log |= {"elbo": elbo.mean().detach(), "recon": recon.mean().detach(), "kl": kl.mean().detach()}
        missing = ~mask
        log["completion_mse"] = ((x_tilde - data).square() * missing).sum() / missing.sum().clamp(min=1)
        return Losses({"ebm": loss_ebm, "vae": -elbo.mean()}, log)


def completion_cvae(
    event_shape: tuple[int, ...],
    latent_dim: int = 8,
    hidden: tuple[int, ...] = (256, 256),
    obs_scale: float | None = None,
    init_obs_scale: float = 0.3,
) -> ConditionalVAE:
    """The conditional VAE of ``cvae: {name: completion-cvae, ...}``: x ∈ ℝ^dim given c = (m ⊙ x, m).

    A component constructor only because the context width is derived from the data, 2·dim (the masked
    image plus the mask); the other arguments are :class:`ConditionalVAE`'s (defaults: the digits config's).
    """
    if event_shape is None or len(event_shape) != 1:
        raise ConfigError(f"completion-cvae needs flat image data (n, side²), got event shape {event_shape}.")
    dim = int(event_shape[0])
    return ConditionalVAE(
        (dim,), 2 * dim, latent_dim=latent_dim, hidden=hidden, obs_scale=obs_scale, init_obs_scale=init_obs_scale
    )
