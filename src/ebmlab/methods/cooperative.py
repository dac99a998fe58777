"""Cooperative learning of an EBM with a VAE as amortised sampler (seed 001, Xie, Zheng & Li 2021).

Per training step, with data x₁…x_n, EBM p_θ(x) ∝ exp(−U_θ(x)) and VAE (q_α(z) q_α(x|z), encoder π_β(z|x)):

1. draw z ~ N(0, I) and decode x̂ = g_α(z) (the decoder mean);
2. revise x̂ by K Langevin steps on U_θ: x̃_{t+1} = x̃_t − (δ²/2)∇U_θ(x̃_t) + δ ξ_t, x̃_0 = x̂ — this is
   ``ULA(step_size=δ²/2)`` (noise σ = √(2λ) = δ); ``langevin_noise=False`` drops the noise term, as the official
   TensorFlow code does (its noise line is commented out: gradient descent on U, not a sampler);
3. θ by maximum likelihood with the revised samples as negatives: L(θ) = mean U_θ(x) − mean U_θ(x̃);
4. (α, β) by "MCMC teaching": maximise the ELBO of the revised samples with weight γ on the KL,
   L(α, β) = −Σ_i [E_π log q_α(x̃_i | z) − γ KL(π_β(z | x̃_i) ‖ q(z))]; since log q_α(x̃) = ELBO + KL(π ‖ q_α(z|x̃)),
   this is seed 001's Σ[−log q_α(x̃) + γ KL(π_β(z|x̃) ‖ q_α(z|x̃))] at γ = 1, up to constants.

Parameter groups ``"ebm"`` and ``"vae"`` are updated simultaneously (the negatives are detached). Ablations:
``vae_training="data"`` fits the VAE to the data instead of x̃ (no MCMC teaching); ``"frozen"`` keeps a VAE
(e.g. pre-trained on data with :class:`VAETraining`, ``vae: {name: from-run, run_dir: RUN_DIR}`` in a config) fixed, so only θ learns.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebmlab.energies.base import evaluate_energy
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError
from ebmlab.generators import VAE
from ebmlab.samplers.base import Sampler
from ebmlab.samplers.chains import run_chains
from ebmlab.samplers.langevin import ULA
from ebmlab.training.method import Losses, Method, StepContext

__all__ = [
    "VAE_TRAINING",
    "CooperativeLearning",
    "VAETraining",
    "check_noise_switch",
    "langevin_revise",
]

VAE_TRAINING = ("revised", "data", "frozen")


def check_noise_switch(sampler: Sampler, noise: bool) -> None:
    """Only ULA's noise term can be switched off (x' = x − λ∇U: gradient descent, as seed 001's official code)."""
    if not noise and not isinstance(sampler, ULA):
        raise ConfigError(
            f"langevin_noise=False needs the ULA sampler (noise-free gradient descent), got {sampler.name}."
        )


def langevin_revise(
    energy: nn.Module,
    x0: Tensor,
    sampler: Sampler,
    n_steps: int,
    generator: torch.Generator,
    noise: bool = True,
    clamp: tuple[float, float] | None = None,
) -> Tensor:
    """``n_steps`` sampler steps on ``energy`` from ``x0`` (detached); ``noise=False`` zeroes ULA's noise term."""
    check_noise_switch(sampler, noise)
    if noise:  # the library's one chain loop
        x = run_chains(sampler, energy, x0.detach(), n_steps, generator).state.x
    else:  # the official code's noise-free variant: gradient descent x − λ∇U (ULA with its noise set to 0)
        assert isinstance(sampler, ULA)  # check_noise_switch
        state = sampler.init(energy, x0.detach())
        for _ in range(n_steps):
            state, _ = sampler.step(energy, state, generator, noise=torch.zeros_like(state.x))
        x = state.x
    x = x if clamp is None else x.clamp(*clamp)
    return x.detach()


def check_batch(batch: object, where: str) -> Tensor:
    if not isinstance(batch, Tensor) or batch.dim() < 2 or batch.shape[0] < 1:
        raise ShapeError(f"{where} needs a data batch of shape (n, *event), got {getattr(batch, 'shape', batch)!r}.")
    return batch


def ebm_loss(
    energy: nn.Module, data: Tensor, negatives: Tensor, energy_reg: float
) -> tuple[Tensor, dict[str, Tensor | float]]:
    """mean U(x) − mean U(x̃) (+ α(mean U(x)² + mean U(x̃)²)) and its logged parts; non-finite energies raise."""
    e_data, e_neg = evaluate_energy(energy, data), evaluate_energy(energy, negatives)
    if not bool(torch.isfinite(e_data).all() & torch.isfinite(e_neg).all()):  # one host read
        raise NonFiniteError(
            "cooperative: non-finite energy on the data or the revised samples; lower the Langevin step size, "
            "raise energy_reg, or clip samples with clamp=(low, high)."
        )
    loss = e_data.mean() - e_neg.mean()
    if energy_reg > 0:
        loss = loss + energy_reg * (e_data.square().mean() + e_neg.square().mean())
    gap = (e_neg.mean() - e_data.mean()).detach()
    return loss, {"energy_data": e_data.mean().detach(), "energy_neg": e_neg.mean().detach(), "gap": gap}


class CooperativeLearning(Method):
    """EBM + VAE cooperative learning (module doc).

    Args:
        energy: U_θ, ``(n, *event) -> (n,)``.
        vae: the amortised sampler (its ``event_shape`` must match the data).
        sampler: Langevin kernel; default ``ULA(step_size=0.01)`` (δ = √0.02).
        n_steps: K, Langevin steps per revision (training and, by default, sampling).
        kl_weight: γ, weight of the KL in the VAE's loss on the revised samples.
        langevin_noise: keep the δξ noise term (default); False: the official code's noise-free descent.
        vae_training: ``"revised"`` (MCMC teaching), ``"data"`` (VAE fit to the data) or ``"frozen"``.
        energy_reg: α ≥ 0, energy-magnitude penalty; data_noise: σ of Gaussian noise added to the data.
        clamp: ``(low, high)`` clip of the revised samples (e.g. the pixel range); init_scale: half-width of
            the uniform noise that ``sample(start="noise")`` starts from.
    """

    def __init__(
        self,
        energy: nn.Module,
        vae: VAE,
        sampler: Sampler | None = None,
        n_steps: int = 20,
        kl_weight: float = 1.0,
        langevin_noise: bool = True,
        vae_training: str = "revised",
        energy_reg: float = 0.0,
        data_noise: float = 0.0,
        clamp: tuple[float, float] | None = None,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if not isinstance(vae, VAE):
            raise ConfigError(f"cooperative: vae must be an ebmlab.generators.VAE, got {type(vae).__name__}.")
        if vae_training not in VAE_TRAINING:
            raise ConfigError(f"cooperative: vae_training must be one of {VAE_TRAINING}, got {vae_training!r}.")
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
            raise ConfigError(f"cooperative: n_steps (K) must be an int >= 0, got {n_steps!r}.")
        for name, v in (("kl_weight", kl_weight), ("energy_reg", energy_reg), ("data_noise", data_noise)):
            if not (float(v) >= 0 and math.isfinite(float(v))):
                raise ConfigError(f"cooperative: {name} must be a finite number >= 0, got {v!r}.")
        if clamp is not None and not (len(clamp) == 2 and float(clamp[0]) < float(clamp[1])):
            raise ConfigError(f"cooperative: clamp must be a pair (low, high) with low < high, got {clamp!r}.")
        self.energy, self.vae = energy, vae
        self.sampler = sampler if sampler is not None else ULA(step_size=0.01)
        self.n_steps, self.kl_weight, self.langevin_noise = n_steps, float(kl_weight), bool(langevin_noise)
        self.vae_training, self.energy_reg, self.data_noise = vae_training, float(energy_reg), float(data_noise)
        self.clamp = None if clamp is None else (float(clamp[0]), float(clamp[1]))
        self.init_scale = float(init_scale)
        if vae_training == "frozen":
            vae.requires_grad_(False)
        check_noise_switch(self.sampler, self.langevin_noise)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {"ebm": [p for p in self.energy.parameters() if p.requires_grad]}
        if self.vae_training != "frozen":
            groups["vae"] = [p for p in self.vae.parameters() if p.requires_grad]
        return groups

    def revise(self, x0: Tensor, generator: torch.Generator, n_steps: int | None = None) -> Tensor:
        """K Langevin steps on U_θ from ``x0``."""
        k = self.n_steps if n_steps is None else n_steps
        return langevin_revise(self.energy, x0, self.sampler, k, generator, self.langevin_noise, self.clamp)

    def losses(self, batch: Tensor | None, ctx: StepContext) -> Losses:
        """``minimize = {"ebm": L(θ), "vae": −mean ELBO_γ}``; logs energies, ELBO parts and ‖x̃ − x̂‖."""
        data = check_batch(batch, "CooperativeLearning.losses").detach()
        g = ctx.generator
        if self.data_noise > 0:
            data = data + self.data_noise * torch.randn(data.shape, generator=g, dtype=data.dtype, device=data.device)
        with torch.no_grad():
            x_hat = self.vae.decode(self.vae.sample_latent(data.shape[0], g).to(data.dtype))
        x_tilde = self.revise(x_hat, g)
        loss_ebm, log = ebm_loss(self.energy, data, x_tilde, self.energy_reg)
        log["revision"] = (x_tilde - x_hat).reshape(data.shape[0], -1).norm(dim=1).mean()
        minimize = {"ebm": loss_ebm}
        if self.vae_training != "frozen":
            target = x_tilde if self.vae_training == "revised" else data
            elbo, recon, kl = self.vae.elbo(target, g, kl_weight=self.kl_weight)
            minimize["vae"] = -elbo.mean()
            log |= {"elbo": elbo.mean().detach(), "recon": recon.mean().detach(), "kl": kl.mean().detach()}
        return Losses(minimize, log)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, n_steps: int | None = None, start: str = "vae") -> Tensor:
        """``n`` samples: K (default: the training K) Langevin steps from g(z) (``start="vae"``) or from uniform
        noise on [−init_scale, init_scale] (``"noise"``); ``n_steps=0`` returns the starting points."""
        if start not in ("vae", "noise"):
            raise ConfigError(f"cooperative sample: start must be 'vae' or 'noise', got {start!r}.")
        dtype = next(self.vae.parameters()).dtype
        if start == "vae":
            x0 = self.vae.decode(self.vae.sample_latent(n, generator).to(dtype))
        else:
            u = torch.rand((n, *self.vae.event_shape), generator=generator, dtype=dtype, device=generator.device)
            x0 = (2 * u - 1) * self.init_scale
        return self.revise(x0, generator, n_steps)


class VAETraining(Method):
    """A VAE fit to the data by its ELBO alone (arm C0; also the pre-training of a frozen cooperative VAE)."""

    def __init__(self, vae: VAE, kl_weight: float = 1.0, data_noise: float = 0.0, sample_noise: bool = True) -> None:
        super().__init__()
        self.vae, self.kl_weight, self.data_noise, self.sample_noise = vae, float(kl_weight), data_noise, sample_noise

    def losses(self, batch: Tensor | None, ctx: StepContext) -> Losses:
        data = check_batch(batch, "VAETraining.losses").detach()
        if self.data_noise > 0:
            data = data + self.data_noise * torch.randn(
                data.shape, generator=ctx.generator, dtype=data.dtype, device=data.device
            )
        elbo, recon, kl = self.vae.elbo(data, ctx.generator, kl_weight=self.kl_weight)
        log: dict[str, Tensor | float] = {"elbo": elbo.mean().detach(), "recon": recon.mean().detach()}
        return Losses({"model": -elbo.mean()}, log | {"kl": kl.mean().detach()})

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, n_steps: int | None = None) -> Tensor:
        """x ~ p(x) (``sample_noise=False``: decoder means g(z)); ``n_steps`` is ignored (no MCMC)."""
        return self.vae.sample(n, generator, noise=self.sample_noise)
