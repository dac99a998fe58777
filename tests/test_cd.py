"""Contrastive divergence: the gradient identity, convergence to the Gaussian MLE, negatives, state, errors."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from ebmlab.diagnostics import ess_basic
from ebmlab.energies import MLPEnergy
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.methods.contrastive_divergence import ContrastiveDivergence
from ebmlab.samplers import MALA, ULA
from ebmlab.training import StepContext


def _cd(method: ContrastiveDivergence, batch: Tensor, generator: torch.Generator, step: int = 1) -> dict[str, Tensor]:
    """One ``losses`` call, flattened: the minimised value as ``"loss"`` beside the logged values."""
    out = method.losses(batch, StepContext(step, generator))
    return {"loss": out.minimize["model"], **{k: torch.as_tensor(v) for k, v in out.log.items()}}


class GaussianEnergy(nn.Module):
    """E(x) = ½ (x − μ)ᵀ P (x − μ), P = L Lᵀ with L lower-triangular, diag(L) = exp(raw diag) > 0 (SPD)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mu = nn.Parameter(torch.zeros(dim))
        self.raw = nn.Parameter(torch.zeros(dim, dim))

    def chol(self) -> Tensor:
        return torch.tril(self.raw, -1) + torch.diag(torch.diagonal(self.raw).exp())

    def precision(self) -> Tensor:
        lower = self.chol()
        return lower @ lower.T

    def log_z(self) -> Tensor:
        """log ∫ exp(−E) = (d/2) log 2π − Σ log Lᵢᵢ."""
        return 0.5 * self.dim * math.log(2 * math.pi) - torch.diagonal(self.raw).sum()

    def exact_sample(self, n: int, generator: torch.Generator) -> Tensor:
        """x = μ + L⁻ᵀ ξ has covariance (L Lᵀ)⁻¹ = P⁻¹."""
        xi = torch.randn(n, self.dim, generator=generator)
        lower = self.chol().detach()
        return self.mu.detach() + torch.linalg.solve_triangular(lower.T, xi.T, upper=True).T

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * ((x - self.mu) @ self.chol()).square().sum(-1)


def _data(n: int = 400) -> Tensor:
    g = torch.Generator().manual_seed(1)
    c, s = math.cos(0.5), math.sin(0.5)
    a = torch.tensor([[c, -s], [s, c]]) @ torch.diag(torch.tensor([0.5, 0.7]))
    return torch.randn(n, 2, generator=g) @ a.T + torch.tensor([1.0, -0.5])


def _grads(module: nn.Module) -> Tensor:
    return torch.cat([p.grad.reshape(-1) for p in module.parameters()])


def test_gradient_identity_with_exact_negatives() -> None:
    """E[∇θ L_CD] = ∇θ NLL when the negatives are exact model samples (MALA from exact samples stays exact)."""
    torch.manual_seed(0)
    energy = GaussianEnergy(2)
    with torch.no_grad():
        energy.mu.copy_(torch.tensor([0.3, -0.2]))
        energy.raw.copy_(torch.tensor([[0.2, 0.0], [0.4, -0.1]]))
    data = _data()
    nll = energy(data).mean() + energy.log_z()
    exact = torch.autograd.grad(nll, list(energy.parameters()))
    exact = torch.cat([g.reshape(-1) for g in exact])
    method = ContrastiveDivergence(
        energy, MALA(step_size=0.1), "persistent", n_steps=3, buffer_size=256, reinit_prob=0.0
    )
    gen = torch.Generator().manual_seed(2)
    reps = []
    for _ in range(150):
        x0 = energy.exact_sample(256, gen)
        method.negatives.buffer.load_state_dict(  # type: ignore[attr-defined]
            {"buffer": x0, "ptr": torch.tensor(0), "count": torch.tensor(0)}
        )
        method.n_negatives = 256
        energy.zero_grad()
        _cd(method, data, gen)["loss"].backward()
        reps.append(_grads(energy).clone())
    g = torch.stack(reps).double()
    se = g.std(0) / math.sqrt(len(reps))
    z = (g.mean(0) - exact.double()) / se
    mask = se > 0  # the upper triangle of raw does not enter E: both gradients are exactly 0 there
    assert torch.equal(g[:, ~mask].abs().sum(0), torch.zeros(int((~mask).sum()), dtype=torch.float64))
    assert float(z[mask].abs().max()) < 4.0, z


def test_sampling_touches_x_gradients_only() -> None:
    energy = MLPEnergy(2, (16, 16))
    for negatives in ("short_run", "persistent", "cd_k"):
        method = ContrastiveDivergence(energy, ULA(0.01), negatives, n_steps=5, buffer_size=64)
        out = _cd(method, torch.randn(32, 2), torch.Generator().manual_seed(0))
        assert all(p.grad is None for p in energy.parameters())
        out["loss"].backward()
        assert all(p.grad is not None for p in energy.parameters())
        energy.zero_grad(set_to_none=True)
    x = torch.randn(8, 2, requires_grad=True)
    method.sample(8, torch.Generator().manual_seed(0), n_steps=3, x0=x)
    assert x.grad is None and all(p.grad is None for p in energy.parameters())


def test_cd_with_mala_converges_to_the_gaussian_mle() -> None:
    """Persistent CD (MALA negatives, SGD) reaches the sample mean and inverse sample covariance.

    The tolerance is 4 standard errors of the iterate average over the last 2/3 of training, the SE being
    std/√ESS with the ESS of the parameter trace (Geyer's initial monotone sequence, ebmlab.diagnostics).
    """
    torch.manual_seed(0)
    data = _data()
    xbar = data.mean(0)
    precision = torch.linalg.inv((data - xbar).T @ (data - xbar) / len(data))
    mle = torch.cat([xbar, precision[[0, 1, 1], [0, 0, 1]]]).double()
    energy = GaussianEnergy(2)
    method = ContrastiveDivergence(
        energy, MALA(step_size=0.1), "persistent", n_steps=5, n_negatives=1000, buffer_size=1000,
        reinit_prob=0.0, init="gaussian",
    )  # fmt: skip
    opt = torch.optim.SGD(method.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(4)
    trace, accept = [], []
    # 600 steps (was 1500): max |z| 0.9 / 2.0 / 2.5 for generator seeds 4 / 5 / 6, start-to-MLE > 237 SE
    for _ in range(600):
        out = _cd(method, data, gen)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        trace.append(torch.cat([energy.mu.detach(), energy.precision().detach()[[0, 1, 1], [0, 0, 1]]]))
        accept.append(float(out["accept"]))
    tr = torch.stack(trace[200:]).double()
    se = tr.std(0) / ess_basic(tr[:, None, :]).sqrt()
    start = torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    assert float(((start - mle).abs() / se).min()) > 20  # the test can tell the start from the MLE
    z = (tr.mean(0) - mle) / se
    assert float(z.abs().max()) < 4.0, z
    assert 0.5 < sum(accept) / len(accept) < 1.0


@pytest.mark.parametrize("negatives", ["short_run", "persistent", "cd_k"])
def test_losses_keys_shapes_and_determinism(negatives: str) -> None:
    def run() -> dict[str, Tensor]:
        torch.manual_seed(0)
        method = ContrastiveDivergence(
            MLPEnergy(2, (16,)), MALA(0.05), negatives, n_steps=4, buffer_size=50, energy_reg=0.1, data_noise=0.01
        )
        gen = torch.Generator().manual_seed(3)
        batch = torch.randn(20, 2, generator=gen)
        _cd(method, batch, gen)
        return _cd(method, batch, gen)

    a, b = run(), run()
    assert set(a) == {"loss", "energy_data", "energy_neg", "gap", "neg_norm", "accept"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in a.values())
    assert all(torch.equal(a[k], b[k]) for k in a)
    e_d, e_n = float(a["energy_data"]), float(a["energy_neg"])
    assert float(a["gap"]) == pytest.approx(e_n - e_d, abs=1e-6)
    # With α > 0 the loss exceeds the contrastive term by α·(E_d² + E_n²) means ≥ α·(ē_d² + ē_n²).
    assert float(a["loss"].detach()) >= e_d - e_n + 0.1 * (e_d**2 + e_n**2) - 1e-6
    assert "accept" not in _cd(
        ContrastiveDivergence(MLPEnergy(2, (8,)), ULA(0.01)), torch.randn(4, 2), torch.Generator().manual_seed(0)
    )


def test_annealed_negatives_weight_separated_modes_correctly() -> None:
    """AIS weights recover mode weights the chains cannot: 0.8·N(−3, 0.3²) + 0.2·N(3, 0.3²) in 1-D.

    From the symmetric base N(0, 2²) about half the chains end in each mode (MALA never crosses the
    barrier); the self-normalised AIS weights must put 0.2 of the mass on the right mode. Tolerance: 4 SE
    over independent replicates (the self-normalisation bias is O(1/n), far below that).
    """
    from ebmlab.targets.gmm import GaussianMixture

    target = GaussianMixture([[-3.0], [3.0]], 0.3, [0.8, 0.2])
    method = ContrastiveDivergence(target, MALA(0.02), "annealed", n_steps=100, init="gaussian", init_scale=2.0)
    method.event_shape = (1,)
    gen = torch.Generator().manual_seed(0)
    weighted, unweighted = [], []
    for _ in range(16):
        res = method.negatives.anneal(target, 256, gen)  # type: ignore[attr-defined]
        x, log_w, accept = res.x, res.log_w, float(res.accept_rate.mean())
        right = (x[:, 0] > 0).double()
        weighted.append(float((torch.softmax(log_w, 0) * right).sum()))
        unweighted.append(float(right.mean()))
    w = torch.tensor(weighted)
    assert abs(float(w.mean()) - 0.2) < 4 * float(w.std()) / 4.0  # 16 replicates: SE = std/4
    assert abs(sum(unweighted) / 16 - 0.2) > 0.15  # the chains alone are far off
    assert accept > 0.5
    out = _cd(
        ContrastiveDivergence(MLPEnergy(1, (8,)), MALA(0.02), "annealed", n_steps=5, init="gaussian"),
        torch.randn(32, 1),
        gen,
    )
    assert 0 < float(out["ess"]) <= 1 and "accept" in out
    with pytest.raises(ConfigError, match="init='gaussian'"):
        ContrastiveDivergence(MLPEnergy(1, (8,)), negatives="annealed")


def test_persistent_chains_survive_a_resume() -> None:
    def make() -> ContrastiveDivergence:
        torch.manual_seed(0)
        return ContrastiveDivergence(MLPEnergy(2, (8,)), ULA(0.01), "persistent", n_steps=3, buffer_size=40)

    data = torch.randn(16, 2, generator=torch.Generator().manual_seed(9))
    straight, gen = make(), torch.Generator().manual_seed(1)
    for _ in range(3):
        _cd(straight, data, gen)
    saved, gen_state = straight.extra_state(), gen.get_state()
    assert set(saved) == {"replay_buffer.buffer", "replay_buffer.ptr", "replay_buffer.count"}
    expected = _cd(straight, data, gen)
    resumed = make()
    resumed.load_extra_state(saved)
    gen2 = torch.Generator()
    gen2.set_state(gen_state)
    got = _cd(resumed, data, gen2)
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert torch.equal(resumed.buffer.buffer, straight.buffer.buffer)
    assert ContrastiveDivergence(MLPEnergy(2, (8,)), negatives="short_run").extra_state() == {}


def test_sample_starts_and_clamp() -> None:
    torch.manual_seed(0)
    method = ContrastiveDivergence(MLPEnergy(2, (8,)), ULA(0.5), "persistent", n_steps=2, buffer_size=10, clamp=(-1, 1))
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ConfigError, match="filled replay buffer"):
        method.sample(5, gen, start="buffer")
    _cd(method, torch.randn(4, 2), gen)
    assert method.sample(7, gen, start="buffer").shape == (7, 2)
    x = method.sample(50, gen, n_steps=20)
    assert x.shape == (50, 2) and float(x.abs().max()) <= 1.0
    assert torch.equal(method.sample(3, gen, n_steps=0, x0=torch.ones(3, 2)), torch.ones(3, 2))


def test_bad_input_errors() -> None:
    energy = MLPEnergy(2, (8,))
    with pytest.raises(ConfigError, match="negatives must be one of"):
        ContrastiveDivergence(energy, negatives="pcd")
    with pytest.raises(ConfigError, match="only used with negatives='persistent'"):
        from ebmlab.samplers.buffer import ReplayBuffer

        ContrastiveDivergence(energy, buffer=ReplayBuffer(10, (2,)))
    with pytest.raises(ConfigError, match=r"ebmlab\.samplers kernel"):
        ContrastiveDivergence(energy, sampler="ula")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="init must be one of"):
        ContrastiveDivergence(energy, init="normal")
    with pytest.raises(ConfigError, match="init_scale"):
        ContrastiveDivergence(energy, init_scale=0.0)
    with pytest.raises(ConfigError, match="reinit_prob"):
        ContrastiveDivergence(energy, negatives="persistent", reinit_prob=1.5)
    method = ContrastiveDivergence(energy, n_steps=1)
    with pytest.raises(ShapeError, match="data batch"):
        _cd(method, torch.randn(5), torch.Generator())
    with pytest.raises(ShapeError, match="event shape"):
        _cd(method, torch.randn(5, 3), torch.Generator())
    with pytest.raises(ConfigError, match=r"StepContext with a torch\.Generator"):
        method.losses(torch.randn(5, 2), None)  # type: ignore[arg-type]  # no StepContext
    with pytest.raises(ConfigError, match="n_negatives"):
        _cd(ContrastiveDivergence(energy, negatives="cd_k", n_negatives=9), torch.randn(5, 2), torch.Generator())


def _straight_and_resumed(
    make: Callable[[], ContrastiveDivergence], tmp_path: Path
) -> tuple[ContrastiveDivergence, ContrastiveDivergence]:
    """Through ``fit``: a 10-step run, and a run stopped at step 5 (checkpointed) then resumed to step 10."""
    from ebmlab.training import TrainConfig, fit

    data = torch.randn(128, 2, generator=torch.Generator().manual_seed(0))
    cfg = dict(batch_size=32, lr=1e-2, checkpoint_every=5, progress=False, log_every=1)
    straight = make()
    fit(straight, data, TrainConfig(steps=10, **cfg), run_dir=tmp_path / "a")
    fit(make(), data, TrainConfig(steps=5, **cfg), run_dir=tmp_path / "b")
    resumed = make()
    fit(resumed, data, TrainConfig(steps=10, **cfg), run_dir=tmp_path / "b", resume=True)
    return straight, resumed


def test_fit_resume_restores_the_replay_buffer_exactly(tmp_path) -> None:
    """Through the training loop: a run stopped and resumed equals a run never stopped (weights and chains)."""

    def make() -> ContrastiveDivergence:
        torch.manual_seed(0)
        return ContrastiveDivergence(MLPEnergy(2, (16,)), ULA(0.01), "persistent", n_steps=3, buffer_size=64)

    straight, resumed = _straight_and_resumed(make, tmp_path)
    assert torch.equal(resumed.buffer.buffer, straight.buffer.buffer)
    assert all(torch.equal(p, q) for p, q in zip(resumed.parameters(), straight.parameters(), strict=True))


def test_tempered_negatives_follow_the_model_mode_weights() -> None:
    """With the true 0.8/0.2 mixture as the energy, the persistent replicas' β = 1 rung (the negatives) puts 0.2
    of its chains on the right mode within 4 SE (time averages of i.i.d. columns), and the logs are sane."""
    from ebmlab.targets.gmm import GaussianMixture

    target = GaussianMixture([[-3.0], [3.0]], 0.3, [0.8, 0.2])
    method = ContrastiveDivergence(
        target, MALA(0.05), "tempered", n_steps=5, init="gaussian", init_scale=3.0, n_rungs=6, beta_min=0.02
    )
    gen = torch.Generator().manual_seed(0)
    batch = torch.zeros(200, 1)
    fractions = []
    for t in range(60):
        out = _cd(method, batch, gen)
        if t >= 10:
            fractions.append(method.replicas.x[-1, :, 0] > 0)
    right = torch.stack(fractions).double().mean(0)
    se = float(right.std()) / math.sqrt(right.numel())
    assert abs(float(right.mean()) - 0.2) < 4 * se
    assert {"swap_accept", "swap_accept_min", "accept"} <= set(out)
    assert 0 < float(out["swap_accept_min"]) <= float(out["swap_accept"]) <= 1
    assert method.sample(50, gen, n_steps=20, start="tempered").shape == (50, 1)
    with pytest.raises(ConfigError, match="init='gaussian'"):
        ContrastiveDivergence(MLPEnergy(1, (8,)), negatives="tempered")
    with pytest.raises(ConfigError, match="keep n_negatives"):
        _cd(method, torch.zeros(10, 1), gen)


def test_fit_resume_restores_the_replicas_exactly(tmp_path) -> None:
    """Tempered negatives through the training loop: stopped at step 5 and resumed equals 10 steps straight."""

    def make(n_rungs: int = 4) -> ContrastiveDivergence:
        torch.manual_seed(0)
        return ContrastiveDivergence(
            MLPEnergy(2, (16,)), MALA(0.05), "tempered", n_steps=3, init="gaussian", init_scale=2.0, n_rungs=n_rungs
        )

    straight, resumed = _straight_and_resumed(make, tmp_path)
    assert torch.equal(resumed.replicas.x, straight.replicas.x) and resumed.replicas.round == straight.replicas.round
    assert all(torch.equal(p, q) for p, q in zip(resumed.parameters(), straight.parameters(), strict=True))
    with pytest.raises(ConfigError, match="n_rungs must match"):
        make(n_rungs=5).load_extra_state(straight.extra_state())
    with pytest.raises(ConfigError, match="replica-exchange chains"):
        ContrastiveDivergence(MLPEnergy(2, (8,)), negatives="persistent").load_extra_state(straight.extra_state())


@pytest.mark.parametrize("weighted", [False, True], ids=["equal-weights", "log-weights"])
def test_ml_loss_values_against_their_formulas(weighted: bool) -> None:
    """ml_loss's loss and logs against the formulas written out, with equal weights (plain means) and with
    self-normalised log-weights: E_data mean, Σ w̃ E(x̃), the gap, Σ w̃ ‖x̃‖ and the energy-magnitude penalty."""
    from ebmlab.methods.maximum_likelihood import ml_loss
    from ebmlab.methods.negatives import NegativeBatch

    gen = torch.Generator().manual_seed(0)
    data, neg = (
        torch.randn(7, 3, generator=gen, dtype=torch.float64),
        torch.randn(5, 3, generator=gen, dtype=torch.float64),
    )
    log_w = torch.randn(5, generator=gen, dtype=torch.float64) if weighted else None
    w = torch.softmax(log_w, 0) if weighted else torch.full((5,), 0.2, dtype=torch.float64)
    scale = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)

    def energy(x: Tensor) -> Tensor:
        return scale * x.sum(1) + x.square().sum(1)

    loss, log = ml_loss(energy, data, NegativeBatch(neg, neg, log_w, {}, "x"), energy_reg=0.3)
    e_d, e_n = energy(data).detach(), energy(neg).detach()
    expected = e_d.mean() - (w * e_n).sum() + 0.3 * (e_d.square().mean() + (w * e_n.square()).sum())
    assert float(loss) == pytest.approx(float(expected), rel=1e-12)
    assert float(log["energy_data"]) == pytest.approx(float(e_d.mean()), rel=1e-12)
    assert float(log["energy_neg"]) == pytest.approx(float((w * e_n).sum()), rel=1e-12)
    assert float(log["gap"]) == pytest.approx(float((w * e_n).sum() - e_d.mean()), rel=1e-12)
    assert float(log["neg_norm"]) == pytest.approx(float((w * neg.norm(dim=1)).sum()), rel=1e-12)
    assert loss.requires_grad and not any(v.requires_grad for v in log.values())
