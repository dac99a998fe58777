"""Annealed importance sampling: exactness on Gaussians, and honest standard errors on many-well-32 and funnel-10.

Calibration uses one run split into 10 groups of independent chains (each group is an AIS estimate with
its own SE; groups share only the step-size schedule, adapted on the mean acceptance of all chains).
"""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.estimators import GaussianProposal, ais, log_mean_exp, log_z_ais
from ebmlab.experiments.logz_methods import AIS_SETTINGS, ais_base
from ebmlab.samplers import MALA, ULA, GeometricPath, geometric_betas, linear_betas, make_betas, sigmoid_betas
from ebmlab.targets import get_target


def _calibration(name: str, seed: int, groups: int = 10, chains: int = 64) -> None:
    target = get_target(name)
    settings = {k: v for k, v in AIS_SETTINGS.get(name, {}).items() if k != "std"}
    result = ais(GeometricPath(ais_base(target), target), "hmc", groups * chains, 1000, seed=seed, **settings)
    truth = target.log_z()
    zs = []
    for log_w in result.log_weights.reshape(groups, chains):
        value, se, _ = log_mean_exp(log_w)
        zs.append((value - truth) / se)
    mean_z2 = sum(z * z for z in zs) / groups
    positive = sum(z > 0 for z in zs)
    assert mean_z2 < 3.0, f"{name}: z-scores {zs} have mean z² {mean_z2:.2f}; the SE is too small"
    assert 1 <= positive <= groups - 1, f"{name}: all z-scores on one side: {zs}"
    pooled = result.estimate()
    assert abs(pooled.z_score(truth)) < 3.0, f"{name}: {pooled} vs exact {truth}"
    assert pooled.ess > 50 and 0.5 < pooled.details["accept_rate"] < 0.8


def test_ais_many_well_32_is_calibrated() -> None:
    _calibration("many-well-32", seed=0)


def test_ais_funnel_10_is_calibrated() -> None:
    _calibration("funnel-10", seed=0)


@pytest.mark.parametrize("transition", ["mala", "hmc"])
def test_ais_gaussian_to_gaussian(transition: str) -> None:
    """Base N(0, 2² I), target E = ½ (x − 1)ᵀ diag(1/s²) (x − 1) in 4-D: log Z = Σ log(√(2π) sᵢ)."""
    s = torch.tensor([0.5, 1.0, 1.5, 0.8], dtype=torch.float64)
    energy = lambda x: 0.5 * (((x - 1.0) / s) ** 2).sum(1)  # noqa: E731
    truth = float((math.log(math.sqrt(2 * math.pi)) + s.log()).sum())
    base = GaussianProposal(torch.zeros(4), std=2.0, dtype=torch.float64)
    est = log_z_ais(energy, base, 256, 200, transition=transition, seed=1)
    assert est.stderr < 0.05
    assert abs(est.value - truth) < 4 * est.stderr
    assert log_z_ais(energy, base, 256, 200, transition=transition, seed=1).value == est.value


def test_geometric_path_energy_and_grad() -> None:
    """E_0.3 = 0.7·(−log q) + 0.3·E, and the analytic gradient (from the base's and target's) equals autograd."""
    target = get_target("many-well-32")
    base = GaussianProposal(torch.zeros(32), std=2.0, dtype=torch.float64)
    path = GeometricPath(base, target).at(0.3)
    x = base.sample(5, torch.Generator().manual_seed(0)).requires_grad_(True)
    e = 0.7 * -base.log_prob(x) + 0.3 * target(x)
    (g_auto,) = torch.autograd.grad(e.sum(), x)
    e2, g2 = path.energy_and_grad(x.detach())
    assert torch.allclose(e.detach(), e2) and torch.allclose(g_auto, g2) and torch.allclose(path(x.detach()), e2)


def test_schedules() -> None:
    for betas in (linear_betas(11), geometric_betas(11), sigmoid_betas(11), make_betas("geometric", 11)):
        assert betas[0] == 0 and betas[-1] == 1 and bool((betas.diff() > 0).all()) and betas.numel() == 11
    with pytest.raises(ConfigError, match="increase"):
        make_betas(torch.tensor([0.0, 0.7, 0.5, 1.0]))
    with pytest.raises(ConfigError, match="unknown schedule"):
        make_betas("cosine", 10)


def test_ais_bad_input() -> None:
    base = GaussianProposal(torch.zeros(2), std=1.0)
    energy = lambda x: (x**2).sum(1)  # noqa: E731
    path = GeometricPath(base, energy)
    with pytest.raises(ConfigError, match="exactly invariant"):
        ais(path, ULA(0.1), 8, 10)
    with pytest.raises(ConfigError, match="unknown AIS transition"):
        ais(path, "gibbs", 8, 10)
    with pytest.raises(ConfigError, match="step_ladder"):
        ais(path, "hmc", 8, 10, step_ladder=(0.5,))
    with pytest.raises(ConfigError, match="Density"):
        GeometricPath(energy, energy)  # type: ignore[arg-type]
    assert ais(path, MALA(0.1), 8, 10, seed=0).log_w.shape == (8,)


@pytest.mark.parametrize("adapt", [False, True])
@pytest.mark.parametrize("gpu_path, per_temperature", [(True, 0), (False, 1)])
def test_an_ais_temperature_reads_the_host_only_on_the_cpu_path(
    adapt: bool, gpu_path: bool, per_temperature: int, monkeypatch, sync_counter
) -> None:
    """On the GPU path (finite_watch.DEFER_ON_CPU) an AIS temperature does not read the host: path.track_on_device,
    and the step size adapted on the device, one value per chain. On the CPU path (the control) track's test reads
    once per transition, and adapting (a Python float step size) reads the acceptance too. Before session 17 it
    was 5 reads without adaptation: three of the β schedule, the acceptance, track's test."""
    from ebmlab.samplers import finite_watch

    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", gpu_path)
    base = GaussianProposal(torch.zeros(2), std=1.5)
    path = GeometricPath(base, lambda x: 0.5 * (x - 1.0).square().sum(1))
    counts = []
    for n_temperatures in (10, 30):
        counter = sync_counter()
        result = ais(path, MALA(0.3), 16, n_temperatures, adapt=adapt, seed=0)
        counts.append(counter.count)
        monkeypatch.undo()  # stops the counter and resets DEFER_ON_CPU: set it again
        monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", gpu_path)
        assert result.accept_rate.shape == (n_temperatures - 2,) and bool((result.accept_rate > 0.3).all())
    expected = per_temperature + (adapt and not gpu_path)
    assert (counts[1] - counts[0]) / 20 == expected, counts


@pytest.mark.parametrize("kernel", ["mala", "hmc"])
def test_ais_adapting_on_the_device_agrees_with_the_host_to_rounding(kernel: str, monkeypatch) -> None:
    """The GPU path adapts ε on the device, one float64 value per chain handed to the kernel in float32; the host
    path a Python float. The log-weights agree to float32 rounding (a rare flipped acceptance aside) and the
    adapted step sizes to 1 %; the estimate stays within 4 SE of log Z = log 2π."""
    from ebmlab.samplers import finite_watch

    base = GaussianProposal(torch.zeros(2), std=1.5)
    path = GeometricPath(base, lambda x: 0.5 * (x - 1.0).square().sum(1))
    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", False)  # the host path (also under pytest --gpu-path)
    now = ais(path, kernel, 256, 50, n_steps=2, seed=0)
    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", True)
    late = ais(path, kernel, 256, 50, n_steps=2, seed=0)
    assert float(((now.log_w - late.log_w).abs() < 1e-4).double().mean()) >= 0.9
    assert torch.allclose(now.step_sizes, late.step_sizes, rtol=1e-2) and not torch.equal(
        now.step_sizes, late.step_sizes
    )
    est = late.estimate()
    assert abs(est.value - math.log(2 * math.pi)) < 4 * est.stderr


@pytest.mark.parametrize("kernel", ["mala", "hmc"])
def test_ais_on_the_gpu_path_gives_the_same_weights_and_names_a_kernel_that_looks_elsewhere(
    kernel: str, monkeypatch, looks_elsewhere
) -> None:
    """Skipping track's test (path.track_on_device) changes no number for MALA and HMC (without adaptation, which
    the GPU path does on the device: the test above); a kernel that evaluates
    elsewhere last, which the CPU path repairs by evaluating those chains again, raises at the end instead of
    returning stale weights, and runs when told to check (ends_at_proposal = False)."""
    from ebmlab.errors import EbmlabError
    from ebmlab.samplers import finite_watch

    base = GaussianProposal(torch.zeros(2), std=1.5)
    path = GeometricPath(base, lambda x: 0.5 * (x - 1.0).square().sum(1))
    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", False)  # the CPU path (also under pytest --gpu-path)
    now = ais(path, kernel, 32, 12, n_steps=2, seed=4, adapt=False)
    wrong = ais(path, looks_elsewhere(0.3), 32, 12, seed=4, adapt=False)
    assert wrong.info["recomputed_parts"] > 0
    monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", True)
    late = ais(path, kernel, 32, 12, n_steps=2, seed=4, adapt=False)
    assert torch.equal(now.log_w, late.log_w) and torch.equal(now.x, late.x)
    assert torch.equal(now.accept_rate, late.accept_rate) and torch.equal(now.step_sizes, late.step_sizes)
    with pytest.raises(EbmlabError, match="ends_at_proposal = False"):
        ais(path, looks_elsewhere(0.3), 32, 12, seed=4, adapt=False)
    checked = looks_elsewhere(0.3)
    checked.ends_at_proposal = False
    assert torch.equal(ais(path, checked, 32, 12, seed=4, adapt=False).log_w, wrong.log_w)
