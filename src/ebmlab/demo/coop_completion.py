"""Demo section for seed 001's conditional half: digit completion by conditional cooperative learning,
read from the full experiment's config (``configs/coop_digits_completion.yaml``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from ebmlab.demo.configs import load_config
from ebmlab.report import Row, Section
from ebmlab.verdicts import beats

CONFIG = "coop_digits_completion"
COOP, NOISE, NN = (
    "pixel error, cooperative (cVAE proposal + K Langevin)",
    "pixel error, same EBM from noise (K Langevin)",
    "pixel error, nearest training digit",
)


def digit_completion(out: Path, quick: bool, seed: int, progress: bool) -> Section:
    """Complete the bottom half of held-out digits; squared error on the missing pixels against two baselines."""
    from ebmlab.data.real import load_digits
    from ebmlab.experiments.run import run_experiment
    from ebmlab.experiments.spec import load_experiment_config
    from ebmlab.methods.cooperative_completion import completion_mask
    from ebmlab.metrics.completion import completion_quality, nearest_neighbour_completion

    steps, n_test, k = (200, 50, 10) if quick else (600, 100, 10)
    overrides = [f"train.seed={seed}", f"train.steps={steps}", "train.batch_size=64", f"method.n_steps={k}"]
    overrides.append(f"train.checkpoint_every={steps}")
    config = load_experiment_config(load_config(CONFIG, overrides))
    config.train.progress = progress
    run_dir = out / "coop_completion_run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    method: Any = run_experiment(config, run_dir).method
    test, train = load_digits("test"), load_digits("train")
    if test.y is None:
        raise RuntimeError("the digits test split has no labels")
    x, labels = test.x[:n_test], test.y[:n_test]
    g = torch.Generator(device="cpu").manual_seed(seed)
    mask = completion_mask("top_bottom", n_test, x.shape[1], g)
    reps = 4
    xr, mr = x.repeat_interleave(reps, 0), mask.repeat_interleave(reps, 0)
    arms = {
        COOP: method.complete(xr, mr, g, start="vae").reshape(n_test, reps, -1),
        NOISE: method.complete(xr, mr, g, start="noise").reshape(n_test, reps, -1),
        NN: nearest_neighbour_completion(x, mask, train.x, k=1),
    }
    quality = {name: completion_quality(c, x, mask, labels) for name, c in arms.items()}
    rows = [
        Row(name, q["pixel_mse"], stderr=q["pixel_mse_se"], note=f"accuracy {q['accuracy']:.2f}")
        for name, q in quality.items()
    ]
    return Section(
        title="Digit completion (seed 001): conditional cooperative learning",
        claim=(
            "Conditional cooperative learning — a conditional VAE proposes the missing pixels and the EBM revises "
            "them by Langevin with the observed pixels clamped — completes occluded digits better than the same EBM "
            "from noise and than a nearest-neighbour look-up."
        ),
        rules=[beats(COOP, NOISE, 2.0), beats(COOP, NN, 2.0)],
        config=f"configs/{CONFIG}.yaml",
        overrides=overrides,
        text=(
            f"8×8 digits in [−1, 1]; trained {steps} steps (batch 64, one random mask per example). The bottom half "
            f"of the first {n_test} test digits is missing; {reps} completions each. Error: mean squared error on "
            "the missing pixels, SE over digits; accuracy: the digits classifier on the completed images. "
            "docs/cooperative.md has 3 seeds, three masks and the cVAE trained alone."
        ),
        rows=rows,
    )
