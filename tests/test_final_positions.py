"""``run_chains(..., final_energy=False)``: ULA / kinetic Langevin move to x_K without evaluating E and ∇E there (the
negatives of maximum-likelihood training use only x_K; the loss evaluates E there itself). The same x_K bit for bit
as the default path, a positions-only state (never a stale energy), a non-finite x_K named at step K, and E(x_K)
non-finite named by the loss; temporary training runs write their files without fsync."""

from __future__ import annotations

import os

import pytest
import torch

from ebmlab.energies import MLPEnergy
from ebmlab.errors import ConfigError, NonFiniteError
from ebmlab.methods.contrastive_divergence import ContrastiveDivergence
from ebmlab.samplers import ULA, KineticLangevin
from ebmlab.samplers.chains import run_chains
from ebmlab.training import StepContext, TrainConfig, fit

KERNELS = [ULA(0.05), KineticLangevin(0.3, friction=0.7)]


def mixture(x: torch.Tensor) -> torch.Tensor:
    a = (x - 1.5).square().sum(-1)
    b = (x + 1.5).square().sum(-1)
    return -torch.logsumexp(torch.stack([-a, -b]), 0)


class Kick(torch.nn.Module):
    """E = w · Σ s·sin(x) with s = 1, except s = ``scale`` at call ``at`` (0-based; call 0 is the chains' start), and
    NaN where |x| > ``limit``: a huge but finite gradient at x_{K−1} throws x_K far out."""

    def __init__(self, at: int, scale: float, limit: float = float("inf")) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))
        self.at, self.scale, self.limit, self.calls = at, scale, limit, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale if self.calls == self.at else 1.0
        self.calls += 1
        e = self.w * (s * torch.sin(x)).sum(-1)
        return torch.where(x.abs().amax(-1) > self.limit, float("nan"), e)


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
@pytest.mark.parametrize("energy", [mixture, MLPEnergy(2, (16, 16))], ids=["function", "mlp"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_positions_and_generator_as_the_default(kernel, energy, dtype) -> None:
    x0 = torch.randn(33, 2, generator=torch.Generator().manual_seed(3), dtype=dtype) * 2
    e = energy.to(dtype) if isinstance(energy, torch.nn.Module) else energy
    runs, gens = [], []
    for final in (True, False):
        gens.append(torch.Generator().manual_seed(7))
        runs.append(run_chains(kernel, e, x0, 12, gens[-1], final_energy=final))
    full, lean = runs
    assert torch.equal(full.x, lean.x)
    assert torch.equal(gens[0].get_state(), gens[1].get_state())
    assert full.state.evaluated and full.state.energy is not None and full.state.grad is not None
    assert not lean.state.evaluated
    assert lean.state.energy is None and lean.state.grad is None and lean.state.momentum is None
    assert lean.state.iteration == full.state.iteration == 12
    assert torch.equal(lean.accept, full.accept) and torch.equal(lean.nonfinite, full.nonfinite)


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
def test_a_positions_only_state_is_evaluated_or_refused(kernel) -> None:
    """run_chains evaluates E and ∇E at a positions-only start; a kernel's own step refuses it in one line."""
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lean = run_chains(kernel, mixture, x0, 5, torch.Generator().manual_seed(1), final_energy=False).state
    with pytest.raises(ConfigError, match="holds positions only"):
        kernel.step(mixture, lean, torch.Generator())
    fresh = kernel.init(mixture, lean.x)
    a = run_chains(kernel, mixture, lean, 4, torch.Generator().manual_seed(2))
    b = run_chains(kernel, mixture, fresh, 4, torch.Generator().manual_seed(2))
    assert torch.equal(a.x, b.x) and torch.equal(a.state.energy, b.state.energy)
    assert a.state.iteration == 9  # the count goes on


def test_keeping_states_evaluates_the_last_one() -> None:
    """keep_every > 0 stores E at kept steps, so the last step is evaluated whatever final_energy says."""
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    run = run_chains(ULA(0.05), mixture, x0, 6, torch.Generator().manual_seed(1), keep_every=3, final_energy=False)
    assert run.state.evaluated
    assert torch.equal(run.energies[-1], run.state.energy)


@pytest.mark.parametrize("kernel", [ULA(10.0), KineticLangevin(10.0)], ids=lambda k: k.name)
@pytest.mark.parametrize("n_steps", [1, 6])
def test_nonfinite_final_positions_raise_at_step_k(kernel, n_steps) -> None:
    """∇E = 2e38·cos x at x_{K−1} (E + ∇E finite) overflows x_K to ±inf: the step-K error, naming the positions."""
    x0 = torch.full((4, 1), 0.1)
    energy = Kick(at=n_steps - 1, scale=2e38)
    with pytest.raises(NonFiniteError, match=rf"^{kernel.name} diverged at step {n_steps}: [1-4] of 4 chains have "
                                            r"non-finite positions \(first chains: \["):  # fmt: skip
        run_chains(kernel, energy, x0, n_steps, torch.Generator().manual_seed(0), final_energy=False)
    assert energy.calls == n_steps  # E at x₀ … x_{K−1}: none at x_K


def cd_with(energy: torch.nn.Module, n_steps: int) -> ContrastiveDivergence:
    return ContrastiveDivergence(energy, ULA(0.1), "short_run", n_steps=n_steps, init_scale=0.5, event_shape=(1,))


def test_nonfinite_energy_at_the_negatives_is_named_by_the_loss() -> None:
    """x_K finite but E(x_K) NaN: the chains no longer test E there; the loss names the cause in one line."""
    k = 5
    cd = cd_with(Kick(at=k - 1, scale=1e5, limit=1e3), k)  # x_K ≈ x_{K−1} − 0.1 · 1e5 cos x: |x_K| > 1e3
    data = torch.zeros(6, 1)
    with pytest.raises(NonFiniteError) as err:
        cd.losses(data, StepContext(1, torch.Generator().manual_seed(0)))
    message = str(err.value)
    assert message.startswith(
        "maximum likelihood: the energy is non-finite at 6 of 6 negative samples after 5 ula steps"
    )
    assert "\n" not in message and "clamp=(low, high)" in message


def test_nonfinite_energy_at_the_data_is_named_by_the_loss() -> None:
    cd = cd_with(Kick(at=-1, scale=1.0, limit=1e3), 3)
    data = torch.zeros(6, 1)
    data[4] = 2e3
    with pytest.raises(NonFiniteError, match=r"non-finite at 1 of 6 data points \(first: \[4\]\)"):
        cd.losses(data, StepContext(1, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("persist", [False, True])
def test_only_a_temporary_run_skips_fsync(persist, tmp_path, monkeypatch) -> None:
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    cd = ContrastiveDivergence(MLPEnergy(2, (8,)), ULA(0.01), n_steps=2, event_shape=(2,))
    data = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    run = fit(
        cd, data, TrainConfig(steps=2, batch_size=8, progress=False), run_dir=tmp_path / "run" if persist else None
    )
    assert run.status == "completed"
    assert (len(calls) > 0) == persist
