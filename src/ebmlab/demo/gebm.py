"""Demo section for seed 002: a generalized EBM against its own base, and kinetic against overdamped latent
Langevin, read from the full experiment's config (``configs/gebm_ring.yaml``)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import torch

from ebmlab.demo.configs import load_config
from ebmlab.report import Row, Section
from ebmlab.verdicts import beats

CONFIG = "gebm_ring"
OUT_BASE, OUT_GEBM = "mass outside the modes, base", "mass outside the modes, GEBM (latent ULA)"
TV_ULA, TV_KIN = "mode-weight TV, latent ULA", "mode-weight TV, latent kinetic Langevin"
SAMPLERS: dict[str, dict[str, Any]] = {
    "base": {"latent_sampler": "base"},
    "ula": {"latent_sampler": "ula", "n_steps": 400, "step_size": 0.01},
    "kinetic": {"latent_sampler": "kinetic", "n_steps": 400, "step_size": 0.05, "friction": 1.0},
}


def gebm_vs_base(out: Path, quick: bool, seed: int, progress: bool) -> Section:
    """Train the ring GEBM; compare samples of the base, of ℚ by latent ULA and by latent kinetic Langevin."""
    from ebmlab.experiments.run import run_experiment
    from ebmlab.experiments.spec import load_experiment_config
    from ebmlab.methods.gebm_toys import weighted_ring
    from ebmlab.metrics.coverage import mode_coverage

    overrides = [f"train.seed={seed}", *(["train.steps=300", "train.checkpoint_every=300"] if quick else [])]
    config = load_experiment_config(load_config(CONFIG, overrides))
    config.train.progress = progress
    run_dir = out / "gebm_run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    method: Any = run_experiment(config, run_dir).method
    target = weighted_ring()
    n = 2000 if quick else 4000
    cov = {}
    for name, opts in SAMPLERS.items():
        x = method.sample(n, torch.Generator(device="cpu").manual_seed(100 + seed), **opts)
        cov[name] = mode_coverage(x.double(), target.means, 1.5, weights=target.weights)

    def outside(name: str) -> Row:
        p = cov[name].outside
        return Row(OUT_BASE if name == "base" else OUT_GEBM, p, stderr=math.sqrt(max(p * (1 - p), 1e-12) / n))

    return Section(
        title="Generalized EBM (seed 002): the ring of 8 unequal modes",
        claim=(
            "A GEBM — a base generator G(z) reweighted by an energy, sampled by Langevin in latent space — improves "
            "on its own base, and kinetic (underdamped) latent Langevin samples it better than overdamped Langevin "
            "at the same number of gradient evaluations."
        ),
        rules=[beats(OUT_GEBM, OUT_BASE, 2.0), beats(TV_KIN, TV_ULA, 2.0)],
        config=f"configs/{CONFIG}.yaml",
        overrides=overrides,
        text=(
            f"Ring of 8 Gaussians (σ = 0.5, weights ∝ 8, 4, 2, 1, 1, 2, 4, 8); MLP base and MLP energy trained "
            f"{config.train.steps} steps by KALE. {n} samples each: the base (z ~ N(0, I)), ℚ by 400 latent ULA steps "
            "(h = 0.01) and by 400 latent kinetic Langevin steps (h = 0.05, friction 1). A sample counts for the "
            "nearest mode within 1.5; SEs are binomial / from mode_coverage. docs/gebm.md has 3 seeds and more samplers."
        ),
        rows=[
            outside("base"),
            outside("ula"),
            Row("mode-weight TV, base", cov["base"].tv, stderr=cov["base"].tv_se),
            Row(TV_ULA, cov["ula"].tv, stderr=cov["ula"].tv_se),
            Row(TV_KIN, cov["kinetic"].tv, stderr=cov["kinetic"].tv_se),
        ],
    )
