"""Cooperative learning (seed 001): losses and groups, the Langevin noise switch, training, completion, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from ebmlab.cli import main
from ebmlab.energies import MLPEnergy
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.generators import VAE, ConditionalVAE
from ebmlab.methods.cooperative import CooperativeLearning, VAETraining, langevin_revise
from ebmlab.methods.cooperative_completion import CooperativeCompletion, completion_mask
from ebmlab.samplers import MALA, ULA
from ebmlab.training import StepContext, fit


class Quadratic(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * x.square().sum(-1)


def coop(**kw: object) -> CooperativeLearning:
    torch.manual_seed(0)
    return CooperativeLearning(MLPEnergy(2, (16,)), VAE((2,), 2, (16,)), ULA(0.05), **kw)  # type: ignore[arg-type]


def test_losses_are_the_ebm_likelihood_gradient_and_the_gamma_weighted_elbo_of_revised_samples() -> None:
    method = coop(n_steps=3, kl_weight=0.5)
    assert set(method.param_groups()) == {"ebm", "vae"}
    data = torch.randn(32, 2, generator=torch.Generator().manual_seed(1))
    out = method.losses(data, StepContext(1, torch.Generator().manual_seed(2)))
    g = torch.Generator().manual_seed(2)  # replay the same random stream by hand
    x_hat = method.vae.decode(method.vae.sample_latent(32, g))
    x_tilde = langevin_revise(method.energy, x_hat, method.sampler, 3, g)
    expected_ebm = method.energy(data).mean() - method.energy(x_tilde).mean()
    elbo, _, kl = method.vae.elbo(x_tilde, g, kl_weight=0.5)
    assert float(out.minimize["ebm"].detach()) == pytest.approx(float(expected_ebm.detach()), abs=1e-6)
    assert float(out.minimize["vae"].detach()) == pytest.approx(float(-elbo.mean().detach()), abs=1e-6)
    assert float(out.log["kl"]) == pytest.approx(float(kl.mean().detach()), abs=1e-6)
    out.minimize["ebm"].backward(retain_graph=True)  # each loss reaches only its own group
    assert all(p.grad is None for p in method.vae.parameters())
    method.zero_grad()
    out.minimize["vae"].backward()
    assert all(p.grad is None for p in method.energy.parameters())
    # ablations: a frozen VAE is no group; "data" teaches the VAE on the data, not on x̃
    assert set(coop(vae_training="frozen").param_groups()) == {"ebm"}
    on_data = coop(n_steps=3, vae_training="data").losses(data, StepContext(1, torch.Generator().manual_seed(2)))
    assert float(on_data.minimize["vae"]) != pytest.approx(float(out.minimize["vae"]), abs=1e-3)


def test_langevin_noise_switch_on_a_gaussian() -> None:
    """Noise off: x_K = (1 − λ)^K x_0 exactly. On: ULA's stationary variance for N(0, 1) is 1 / (1 − λ/2)."""
    lam, k = 0.2, 60
    x0 = torch.full((4000, 2), 3.0, dtype=torch.float64)
    off = langevin_revise(Quadratic(), x0, ULA(lam), k, torch.Generator().manual_seed(0), noise=False)
    assert torch.allclose(off, x0 * (1 - lam) ** k)
    on = langevin_revise(Quadratic(), x0, ULA(lam), k, torch.Generator().manual_seed(0), noise=True)
    var, expected = float(on.var()), 1.0 / (1.0 - lam / 2)
    assert abs(var - expected) < 4 * expected * math.sqrt(2 / on.numel())
    assert abs(float(off.var()) - expected) > 0.5  # the control: without noise the chains collapse
    with pytest.raises(ConfigError, match="ULA"):
        langevin_revise(Quadratic(), x0, MALA(0.1), 1, torch.Generator(), noise=False)


def test_short_2d_training_beats_its_start() -> None:
    """150 steps on eight-gaussians: the samples' MMD² to test data falls 5-fold and the VAE's test ELBO rises.

    (The EBM's exact NLL is not used here: after so few steps the energy is still unconstrained far from the
    VAE-started chains, so the box-normalised NLL first grows; see docs/cooperative.md.)
    """
    from ebmlab.data import load_toy
    from ebmlab.metrics import mmd2_rbf

    train, test = load_toy("eight-gaussians", "train").x, load_toy("eight-gaussians", "test").x[:500]
    torch.manual_seed(0)
    method = CooperativeLearning(MLPEnergy(2, (32, 32)), VAE((2,), 2, (32,)), ULA(0.01), n_steps=5, init_scale=3.4)

    def quality() -> tuple[float, float]:
        with torch.no_grad():
            elbo = float(method.vae.elbo(test, torch.Generator().manual_seed(0), k=8)[0].mean())
        return mmd2_rbf(method.sample(500, torch.Generator().manual_seed(1)), test).value, elbo

    mmd0, elbo0 = quality()
    groups = {"vae": {"lr": 2e-3, "betas": [0.9, 0.999]}}
    fit(
        method,
        train,
        {
            "steps": 150,
            "batch_size": 128,
            "lr": 5e-3,
            "betas": [0.0, 0.999],
            "groups": groups,
            "seed": 0,
            "progress": False,
        },
    )
    mmd1, elbo1 = quality()
    assert mmd1 < mmd0 / 5 and elbo1 > elbo0 + 0.3, (mmd0, mmd1, elbo0, elbo1)
    x = method.sample(64, torch.Generator().manual_seed(1))
    assert x.shape == (64, 2) and bool(torch.isfinite(x).all())
    assert method.sample(8, torch.Generator().manual_seed(1), n_steps=0, start="noise").abs().max() <= 3.4


def test_masks_and_completion_keep_observed_pixels_exactly() -> None:
    g = torch.Generator().manual_seed(0)
    assert int((~completion_mask("block", 5, 64, g)).sum(1).unique()) == 16
    assert bool((~completion_mask("left_right", 2, 64, g)).reshape(2, 8, 8)[:, :, 4:].all())
    assert int((~completion_mask("top_bottom", 2, 64, g)).reshape(2, 8, 8)[:, :4].sum()) == 0
    torch.manual_seed(0)
    method = CooperativeCompletion(
        MLPEnergy(64, (16,)), ConditionalVAE((64,), 128, latent_dim=2, hidden=(16,)), ULA(0.1)
    )
    x = torch.rand(6, 64, generator=g) * 2 - 1
    mask = method.random_masks(6, g)
    for start in ("vae", "noise"):
        done = method.complete(x, mask, g, n_steps=4, start=start)
        assert torch.equal(done[mask], x[mask]) and not torch.equal(done[~mask], x[~mask])
    out = method.losses(x, StepContext(1, g))
    assert set(out.minimize) == {"ebm", "vae"} and math.isfinite(float(out.log["completion_mse"]))
    with pytest.raises(ConfigError, match="unknown mask"):
        completion_mask("ring", 2, 64, g)
    with pytest.raises(ShapeError, match="square"):
        completion_mask("block", 2, 60, g)
    with pytest.raises(ShapeError, match="boolean mask"):
        method.complete(x, mask.float(), g)  # type: ignore[arg-type]


def test_config_training_and_complete_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ebmlab.experiments import load_experiment_config, run_experiment

    root = Path(__file__).resolve().parents[1]
    small = ["train.steps=2", "train.batch_size=16", "train.progress=false", "method.n_steps=2"]
    small += ["energy.hidden=[16]", "method.cvae.hidden=[16]", "method.cvae.latent_dim=2"]
    cfg = load_experiment_config(root / "configs/coop_digits_completion.yaml", small)
    run_experiment(cfg, tmp_path / "run")
    out = tmp_path / "done"
    argv = ["complete", str(tmp_path / "run"), "--mask", "block", "-n", "2", "--examples", "3", "--out", str(out)]
    assert main(argv) == 0
    assert {p.name for p in out.iterdir()} == {"completions.npy", "quality.json", "completions.png"}
    assert '"observed_max_abs_change": 0.0' in (out / "quality.json").read_text()
    assert main([*argv[:-1], str(tmp_path / "auto"), "--device", "auto"]) == 0  # the CPU here: the same draws
    assert np.array_equal(np.load(out / "completions.npy"), np.load(tmp_path / "auto" / "completions.npy"))
    cfg = load_experiment_config(root / "configs/coop_eight_gaussians.yaml", [*small[:3], "eval=null"])
    run_experiment(cfg, tmp_path / "toy")
    capsys.readouterr()
    assert main(["complete", str(tmp_path / "toy"), "--mask", "block"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "coop-completion" in err


def test_errors_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match="vae_training"):
        coop(vae_training="both")
    with pytest.raises(ConfigError, match="n_steps"):
        coop(n_steps=-1)
    with pytest.raises(ConfigError, match="ULA"):
        CooperativeLearning(MLPEnergy(2), VAE((2,)), MALA(0.1), langevin_noise=False)
    with pytest.raises(ConfigError, match="clamp"):
        coop(clamp=(1.0, 0.0))
    with pytest.raises(ShapeError, match="data batch"):
        coop().losses(None, StepContext(1, torch.Generator()))
    with pytest.raises(ConfigError, match="start"):
        coop().sample(2, torch.Generator(), start="buffer")
    with pytest.raises(ConfigError, match="ConditionalVAE"):
        CooperativeCompletion(MLPEnergy(64), ConditionalVAE((64,), 3))
    assert VAETraining(VAE((2,))).sample(3, torch.Generator()).shape == (3, 2)


def test_frozen_vae_loaded_from_a_vae_run_stays_fixed(tmp_path: Path) -> None:
    from ebmlab.experiments import build_experiment, load_experiment_config, load_run, run_experiment

    root = Path(__file__).resolve().parents[1]
    quick = ["train.steps=2", "train.batch_size=16", "train.progress=false", "eval=null"]
    run_experiment(
        load_experiment_config(root / "configs/coop_vae_eight_gaussians.yaml", [*quick, "method.vae.hidden=[8]"]),
        tmp_path / "vae",
    )
    frozen = [*quick, "method.vae_training=frozen", "train.groups={}", "method.n_steps=2", "energy.hidden=[8]"]
    run = run_experiment(
        load_experiment_config(
            root / "configs/coop_eight_gaussians.yaml",
            [*frozen, f"method.vae={{name: from-run, run_dir: {tmp_path / 'vae'}}}"],
        ),
        tmp_path / "coop",
    )
    pretrained = load_run(tmp_path / "vae")[1].vae.state_dict()
    after = run.method.vae.state_dict()
    assert set(after) == set(pretrained) and all(torch.equal(after[k], pretrained[k]) for k in after)
    coop_cfg = root / "configs/coop_eight_gaussians.yaml"
    with pytest.raises(ConfigError, match="not a run directory"):
        build_experiment(
            load_experiment_config(coop_cfg, [*frozen, f"method.vae={{name: from-run, run_dir: {tmp_path}}}"])
        )
    cd = load_experiment_config(root / "configs/cd_eight_gaussians_short_run.yaml", [*quick, "energy.hidden=[8]"])
    run_experiment(cd, tmp_path / "cd")  # a run without a VAE
    with pytest.raises(ConfigError, match="holds no VAE"):
        build_experiment(
            load_experiment_config(coop_cfg, [*frozen, f"method.vae={{name: from-run, run_dir: {tmp_path / 'cd'}}}"])
        )
