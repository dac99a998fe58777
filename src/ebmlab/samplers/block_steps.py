"""One sampler step as a pure tensor function, and a block of K of them: what the block runners
(:mod:`ebmlab.samplers.compiled`) run eagerly, capture in a CUDA graph or compile.

A step maps ``(x, e, g, v, noise, u) -> (x, e, g, v, accept, ok, divergent)`` with the kernels' own
arithmetic, op for op (ULA and kinetic Langevin run their ``transition`` itself; MALA and HMC as in langevin.py
and hmc.py), and never synchronises with the host.

ULA and kinetic Langevin accept every move and their step uses the flags only to stop at a non-finite one,
so their step returns ``accept = ok = divergent = None`` and the block derives the flags once for all K steps:
acceptance 1, and ``ok`` = finite(E + Σ∇E) per row (:func:`~ebmlab.samplers.base.finite_rows`) of the stacked
E and ∇E of every step, the same test as the step by step path, with one reduction per block instead of per
step. (The row sums are only tested for finiteness: a NaN or inf anywhere in the row makes them non-finite in
any summation order.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ebmlab.errors import ConfigError
from ebmlab.samplers.base import Sampler, clamp_log_alpha_, select
from ebmlab.samplers.hmc import HMC
from ebmlab.samplers.kinetic import KineticLangevin
from ebmlab.samplers.langevin import MALA, ULA, log_ratio

__all__ = ["block_extras", "block_fn", "step_fn"]


def step_fn(sampler: Sampler, eg: Callable[[Tensor], tuple[Tensor, Tensor]], lam: float) -> Callable:
    """One step of ``sampler`` with step size ``lam`` and E, ∇E by ``eg`` (module doc)."""
    temp = sampler.temperature
    if isinstance(sampler, (ULA, KineticLangevin)):
        step = sampler.transition(lam)  # the kernel's own arithmetic (advance's), constants computed once
        drift, kick = step.drift, step.kick

        def unadjusted(x, e, g, v, noise, u):
            x, v = drift(x, v, g, noise)
            e, g = eg(x)
            return x, e, g, kick(v, g), None, None, None

        return unadjusted
    if isinstance(sampler, MALA):
        scale = math.sqrt(2.0 * lam * temp)

        def mala(x, e, g, v, noise, u):  # returns (…, clamped log α, non-finite mask, None): block_extras
            (log_u,) = u  # this step's log u, taken for the whole block (block_extras)
            y = x.add(g, alpha=-lam).add_(noise, alpha=scale)
            e_y, g_y = eg(y)
            log_alpha, bad = clamp_log_alpha_(log_ratio(e, e_y, g, g_y, noise, lam, temp))
            acc = log_u < log_alpha
            return select(acc, y, x, fresh=True), torch.where(acc, e_y, e), select(acc, g_y, g), v, log_alpha, bad, None

        return mala
    if isinstance(sampler, HMC):
        inv_t, n_leap, thresh = 1.0 / temp, sampler.n_leapfrog, sampler.divergence_threshold

        def hmc(x0, e0, g0, v, p0, u):  # returns (…, clamped log α, non-finite mask, ΔH > threshold): block_extras
            log_u, k0 = u  # this step's log u and ½‖p₀‖², taken for the whole block (block_extras)
            x, g, e = x0, g0, e0
            p = p0.add(g, alpha=-0.5 * lam * inv_t)
            for i in range(n_leap):
                x = x.add(p, alpha=lam)
                e, g = eg(x)
                p.add_(g, alpha=-(0.5 if i == n_leap - 1 else 1.0) * lam * inv_t)  # p is this step's own tensor
            k1 = p.reshape(p.shape[0], -1).square_().sum(1).mul_(0.5)  # 0.5 · Σp², the same bits
            d = e - e0 if temp == 1.0 else (e - e0).mul_(inv_t)  # d · 1 is d, bit for bit
            delta_h = d.add_(k1).sub_(k0)
            far = delta_h > thresh
            log_alpha, bad = clamp_log_alpha_(delta_h.neg_())
            acc = log_u < log_alpha
            return select(acc, x, x0, fresh=True), torch.where(acc, e, e0), select(acc, g, g0), v, log_alpha, bad, far

        return hmc
    raise ConfigError(f"no block runner for {type(sampler).__name__}; use capture='off'.")


def block_extras(sampler: Sampler) -> tuple[Callable[[Tensor, Tensor | None], tuple[Tensor, ...]] | None, bool]:
    """``(inputs, log_space)`` for :func:`block_fn`: what a block takes once for all K steps.

    ``inputs``: what the steps get instead of their uniforms (None: each step's uniforms): MALA ``(log u,)`` and HMC
    ``(log u, ½‖p₀‖²)`` (p₀: the momentum drawn as the step's noise) of every step, shape ``(K, n)`` each. ``log_space``: the
    steps return the clamped log α, the non-finite mask and ``ΔH > threshold`` (HMC; MALA: None) instead of
    (α, ok, divergent); the block takes ``exp``, the negation and the or once for its K steps (MALA:
    divergent = non-finite; HMC: non-finite or ΔH above the threshold). Elementwise ops over the stacked steps and row sums
    over the same rows give the same bits as step by step, with one dispatch per block instead of one per step.
    """
    if not isinstance(sampler, MALA | HMC):
        return None, False
    hmc = isinstance(sampler, HMC)

    def log_u_and_half_sq(noise: Tensor, u: Tensor | None) -> tuple[Tensor, ...]:
        assert u is not None
        if not hmc:  # MALA's log α needs no ‖ξ‖² (langevin.log_ratio)
            return (torch.log(u),)
        return torch.log(u), 0.5 * noise.reshape(noise.shape[0], noise.shape[1], -1).square().sum(2)

    return log_u_and_half_sq, True


def block_fn(step: Callable, inputs: Callable | None = None, log_space: bool = False) -> Callable:
    """``(x, e, g, v, noise (K, …), u (K, n) | None) -> (x, e, g, v, xs, es, accept, ok, divergent, accept_mean)``.

    ``inputs``, ``log_space``: see :func:`block_extras`. ``records=False`` (an eager caller that keeps no state of
    these steps) leaves out the stacked positions and energies (``xs``, ``es`` None): one copy of the chains per
    step fewer. ULA / kinetic Langevin still stack the energies their finiteness test reads.
    """

    def block(x, e, g, v, noise, u, records=True):
        xs, es, gs, acc, oks, divs = [], [], [], [], [], []
        if inputs is not None:
            extra = list(zip(*(t.unbind(0) for t in inputs(noise, u)), strict=True))
        else:
            extra = [None] * noise.shape[0] if u is None else list(u.unbind(0))
        for noise_t, extra_t in zip(noise.unbind(0), extra, strict=True):
            x, e, g, v, a, ok, div = step(x, e, g, v, noise_t, extra_t)
            if records:
                xs.append(x)
            if a is None:  # unadjusted: flags once per block (module doc)
                es.append(e)
                gs.append(g)
                continue
            if records:
                es.append(e)
            acc.append(a)
            oks.append(ok)
            divs.append(div)
        positions = torch.stack(xs) if records else None
        if gs:
            energies = torch.stack(es)
            k, n = energies.shape
            ok_all = torch.isfinite(energies + torch.stack(gs).reshape(k, n, -1).sum(dim=2))
            ones = torch.ones_like(energies)
            return x, e, g, v, positions, energies if records else None, ones, ok_all, ~ok_all, ones[:, 0]
        if log_space:  # (clamped log α, non-finite, ΔH > threshold | None) per step: exp, negation, or per block
            accept, bad_k = torch.stack(acc).exp(), torch.stack(oks)
            ok_k = ~bad_k
            div_k = bad_k if divs[0] is None else bad_k | torch.stack(divs)
        else:
            accept, ok_k, div_k = torch.stack(acc), torch.stack(oks), torch.stack(divs)
        energies = torch.stack(es) if records else None
        # each step's mean acceptance: row means of the stacked K × n values, the same bits as the step's own mean
        return x, e, g, v, positions, energies, accept, ok_k, div_k, accept.mean(dim=1)

    return block
