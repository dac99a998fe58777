"""The training loop: optimisation, parameter groups, data iteration, logging, evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from ebmlab.errors import ConfigError, ShapeError
from ebmlab.training import (
    BatchIterator,
    GroupConfig,
    Losses,
    Method,
    StepContext,
    TrainConfig,
    build_optimizer,
    fit,
    read_metrics,
)
from ebmlab.training.examples import GaussianMLE, ReverseKLGaussian
from ebmlab.training.optim import apply_hyperparameters, foreach_applies


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"progress": False, **kw})


def _gaussian_data(n: int, mean: torch.Tensor, std: torch.Tensor, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return mean + std * torch.randn(n, mean.numel(), generator=g)


# ----------------------------------------------------------------------------------- optimisation
def test_full_batch_mle_reaches_closed_form_and_truth():
    mean, std, n = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.5, 1.0, 2.0]), 1000
    x = _gaussian_data(n, mean, std)
    run = fit(GaussianMLE(3), x, _cfg(steps=600, batch_size=n, lr=0.05))
    mu, sigma = run.method.mu.detach(), run.method.log_sigma.detach().exp()
    # the optimiser reaches the closed-form MLE (sample mean, biased sample std) ...
    assert torch.allclose(mu, x.mean(0), atol=1e-3 * float(std.min()))
    assert torch.allclose(sigma, x.std(0, unbiased=False), rtol=1e-3)
    # ... which is within 4 standard errors of the truth: SE(mean) = σ/√n, SE(std) ≈ σ/√(2n)
    assert ((mu - mean).abs() < 4 * std / math.sqrt(n)).all()
    assert ((sigma - std).abs() < 4 * std / math.sqrt(2 * n)).all()


def test_energy_only_reverse_kl_fits_target_and_is_seeded():
    mean, std = torch.tensor([1.0, -1.0]), torch.tensor([0.5, 2.0])

    def energy(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((x - mean) / std).square().sum(-1)

    n_samples = 1024
    cfg = _cfg(steps=500, lr=0.02, seed=1)
    run = fit(ReverseKLGaussian(energy, 2, n_samples=n_samples), None, cfg)
    again = fit(ReverseKLGaussian(energy, 2, n_samples=n_samples), None, cfg)
    other = fit(ReverseKLGaussian(energy, 2, n_samples=n_samples), None, _cfg(steps=500, lr=0.02, seed=2))
    mu, sigma = run.method.mu.detach(), run.method.log_sigma.detach().exp()
    assert torch.equal(run.method.mu, again.method.mu)  # same seed, same result
    assert not torch.equal(run.method.mu, other.method.mu)  # the generator drives the loss
    # each step's minimiser is μ* = m - σ ε̄ with SE σ/√n_samples per coordinate
    assert ((mu - mean).abs() < 4 * std / math.sqrt(n_samples)).all()
    assert ((sigma - std).abs() < 4 * std / math.sqrt(n_samples)).all()


def test_global_rng_untouched_and_no_run_dir_left(tmp_path: Path):
    data = torch.randn(64, 2)
    state = torch.get_rng_state()
    run = fit(GaussianMLE(2), data, _cfg(steps=5, batch_size=32))
    assert torch.equal(torch.get_rng_state(), state)
    assert run.run_dir is None and run.step == 5 and run.status == "completed"


def test_grad_clip_bounds_the_update():
    class Quadratic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.theta = nn.Parameter(torch.zeros(4))

        def losses(self, batch, ctx):
            return Losses({"model": 0.5 * (self.theta - 5.0).square().sum()})

    method = Quadratic()
    run = fit(method, None, _cfg(steps=1, optimizer="sgd", lr=1.0, grad_clip=1.0))
    assert run.history[0]["grad_norm/model"] == pytest.approx(10.0)  # logged before clipping
    assert float(method.theta.detach().norm()) == pytest.approx(1.0, rel=1e-6)


def test_build_optimizer_settings():
    p = [nn.Parameter(torch.zeros(2))]
    base = {"lr": 0.1, "betas": (0.5, 0.9), "momentum": 0.3, "weight_decay": 0.01}
    adamw = build_optimizer(p, {**base, "optimizer": "adamw"})
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["betas"] == (0.5, 0.9)
    sgd = build_optimizer(p, {**base, "optimizer": "sgd"})
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.3
    assert build_optimizer(p, {**base, "optimizer": "adam"}).param_groups[0]["weight_decay"] == 0.01


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_optimizers_run_foreach_with_the_per_parameter_loops_bits(name: str) -> None:
    """build_optimizer picks PyTorch's foreach implementation on the CPU (its default there is the per-parameter
    loop), and 40 steps of it give the loop's bits exactly, weight decay, betas and momentum included."""
    gen = torch.Generator().manual_seed(0)
    shapes = [(16, 2), (16,), (16, 16), (1, 16), (1,)]
    start = [torch.randn(s, generator=gen) for s in shapes]
    ours = [nn.Parameter(t.clone()) for t in start]
    loop = [nn.Parameter(t.clone()) for t in start]
    settings = {"optimizer": name, "lr": 0.05, "betas": (0.8, 0.95), "momentum": 0.7, "weight_decay": 0.01}
    opt = build_optimizer(ours, settings)
    assert opt.param_groups[0]["foreach"] is True
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
    extra = {"momentum": 0.7} if name == "sgd" else {"betas": (0.8, 0.95)}
    reference = kind(loop, lr=0.05, weight_decay=0.01, foreach=False, **extra)
    for _ in range(40):
        grads = [torch.randn(s, generator=gen) for s in shapes]
        for params, optimizer in ((ours, opt), (loop, reference)):
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad.clone()
            optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(ours, loop, strict=True))


def test_restored_optimizer_runs_foreach_again() -> None:
    """A checkpoint written before the implementation was chosen holds ``foreach: None``: restoring it and
    re-applying the config's settings (what a resume does) gives foreach back."""
    params = [nn.Parameter(torch.zeros(3))]
    settings = {"optimizer": "adam", "lr": 0.1, "betas": (0.9, 0.99), "momentum": 0.0, "weight_decay": 0.0}
    opt = build_optimizer(params, settings)
    old = opt.state_dict()
    old["param_groups"][0]["foreach"] = None
    opt.load_state_dict(old)
    assert opt.param_groups[0]["foreach"] is None
    apply_hyperparameters({"model": opt}, {"model": settings}, 1.0)
    assert opt.param_groups[0]["foreach"] is True
    assert foreach_applies([]) is None
    assert foreach_applies([torch.zeros(2, 2).to_sparse()]) is None
    half = {**settings, "fused": True}
    with pytest.raises(
        ConfigError, match=r"fused_optimizer: .* torch.int64 parameter on cpu; set train.fused_optimizer"
    ):
        build_optimizer([nn.Parameter(torch.zeros(2, dtype=torch.long), requires_grad=False)], half)


# ------------------------------------------------------------------------------- parameter groups
class MinMax(Method):
    """min_a max_b a·b as two objectives: minimise a·b over a and −a·b over b; b skips odd steps if asked."""

    def __init__(self, skip_b_on_odd: bool = False) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(1.0))
        self.b = nn.Parameter(torch.tensor(2.0))
        self.skip = skip_b_on_odd

    def param_groups(self):
        return {"a": [self.a], "b": {"params": [self.b], "lr": 0.5}}

    def losses(self, batch, ctx):
        minimize = {"a": self.a * self.b}
        if not (self.skip and not ctx.every(2)):
            minimize["b"] = -self.a * self.b
        return Losses(minimize, {"value": (self.a * self.b).detach()})


def test_groups_simultaneous_updates_with_own_lr():
    method = MinMax()
    run = fit(method, None, _cfg(steps=1, optimizer="sgd", lr=0.1))
    # simultaneous gradient steps at (a, b) = (1, 2): a -= 0.1·b, b += 0.5·a (the method's group lr)
    assert float(method.a.detach()) == pytest.approx(1.0 - 0.1 * 2.0)
    assert float(method.b.detach()) == pytest.approx(2.0 + 0.5 * 1.0)
    record = run.history[0]
    assert record["lr/a"] == 0.1 and record["lr/b"] == 0.5
    assert record["grad_norm/a"] == pytest.approx(2.0) and record["grad_norm/b"] == pytest.approx(1.0)
    assert record["loss"] == pytest.approx(record["loss/a"] + record["loss/b"])


class SequentialMinMax(MinMax):
    """The same objectives updated in turn: b (the critic) first, then a against the new b."""

    stages = (("b",), ("a",))

    def losses(self, batch, ctx):
        self.seen = [*getattr(self, "seen", []), ctx.stage]
        if ctx.stage == ("b",):
            return Losses({"b": -self.a * self.b})
        return Losses({"a": self.a * self.b})


def test_groups_sequential_updates_see_the_earlier_stage():
    method = SequentialMinMax()
    fit(method, None, _cfg(steps=1, optimizer="sgd", lr=0.1))
    b1 = 2.0 + 0.5 * 1.0  # the critic moves first
    assert float(method.b.detach()) == pytest.approx(b1)
    assert float(method.a.detach()) == pytest.approx(1.0 - 0.1 * b1)  # a's gradient at the updated b
    assert method.seen == [("b",), ("a",)]


def test_logged_keys_are_stable_with_and_without_groups():
    run = fit(GaussianMLE(2), torch.randn(16, 2), _cfg(steps=1, batch_size=8))
    assert {"loss", "loss/model", "grad_norm/model", "lr/model", "nll"} <= set(run.history[0])
    run = fit(MinMax(), None, _cfg(steps=1))
    assert {"loss", "loss/a", "loss/b", "grad_norm/a", "lr/b"} <= set(run.history[0])


def test_step_context_every_and_stage():
    seen: list[tuple[int, bool]] = []

    class Probe(GaussianMLE):
        def losses(self, batch, ctx):
            seen.append((ctx.step, ctx.every(3)))
            assert (ctx.rank, ctx.world_size, ctx.stage) == (0, 1, ("model",)) and ctx.updates("model")
            return super().losses(batch, ctx)

    fit(Probe(2), torch.randn(16, 2), _cfg(steps=6, batch_size=8))
    assert seen == [(1, False), (2, False), (3, True), (4, False), (5, False), (6, True)]
    with pytest.raises(ConfigError, match="k must be an int >= 1"):
        StepContext(1, torch.Generator()).every(0)
    with pytest.raises(ConfigError, match="stages"):

        class BadStages(MinMax):
            stages = (("a",), ("c",))

        fit(BadStages(), None, _cfg(steps=1))


def test_config_group_overrides_method_defaults_and_absent_key_skips_group():
    method = MinMax(skip_b_on_odd=True)
    cfg = _cfg(steps=2, optimizer="sgd", lr=0.1, groups={"b": GroupConfig(lr=0.25)})
    fit(method, None, cfg)
    a1 = 1.0 - 0.1 * 2.0  # step 1: only a moves
    assert float(method.b.detach()) == pytest.approx(2.0 + 0.25 * a1)  # step 2: b moves with the config's lr
    assert float(method.a.detach()) == pytest.approx(a1 - 0.1 * 2.0)


def test_group_errors():
    with pytest.raises(ConfigError, match=r"train.groups.c: unknown parameter group; groups of MinMax: a, b"):
        fit(MinMax(), None, _cfg(steps=1, groups={"c": GroupConfig(lr=0.1)}))

    class Typo(MinMax):
        def losses(self, batch, ctx):
            return Losses({"a": self.a * self.b, "bb": -self.a * self.b})

    with pytest.raises(ConfigError, match=r"minimises group 'bb', which is not a parameter group.*did you mean 'b'"):
        fit(Typo(), None, _cfg(steps=1))

    class Shared(MinMax):
        def param_groups(self):
            return {"a": [self.a, self.b], "b": [self.b]}

    with pytest.raises(ConfigError, match="in both 'a' and 'b'"):
        fit(Shared(), None, _cfg(steps=1))


def test_protocol_errors():
    class NoLoss(GaussianMLE):
        def losses(self, batch, ctx):
            return {"loss": super().losses(batch, ctx).minimize["model"]}

    class VectorLoss(GaussianMLE):
        def losses(self, batch, ctx):
            return Losses({"model": -self.log_prob(batch)})

    class Detached(GaussianMLE):
        def losses(self, batch, ctx):
            return Losses({"model": super().losses(batch, ctx).minimize["model"].detach()})

    x = torch.randn(8, 2)
    with pytest.raises(ConfigError, match=r"must return ebmlab\.training\.Losses"):
        fit(NoLoss(2), x, _cfg(steps=1, batch_size=4))
    with pytest.raises(ShapeError, match="must be a scalar"):
        fit(VectorLoss(2), x, _cfg(steps=1, batch_size=4))
    with pytest.raises(ConfigError, match="does not depend on any trainable parameter"):
        fit(Detached(2), x, _cfg(steps=1, batch_size=4))
    with pytest.raises(ConfigError, match=r"needs an nn\.Module"):
        fit(lambda b, g: {}, x, _cfg(steps=1))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"train\.batch_size: 16 is larger than the 8 data points"):
        fit(GaussianMLE(2), x, _cfg(steps=1, batch_size=16))


# --------------------------------------------------------------------------------- data iteration
def test_tensor_epochs_are_seeded_permutations_and_resumable():
    data = torch.arange(10).unsqueeze(1)
    it = BatchIterator(data, 3, seed=7, drop_last=False)
    epochs = [torch.cat([it.next() for _ in range(4)]).flatten() for _ in range(3)]
    for epoch in epochs:
        assert sorted(epoch.tolist()) == list(range(10))  # every point once per epoch
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled
    again = BatchIterator(data, 3, seed=7, drop_last=False)
    assert torch.equal(torch.cat([again.next() for _ in range(12)]).flatten(), torch.cat(epochs))
    resumed = BatchIterator(data, 3, seed=7, drop_last=False)
    resumed.load_state({"epoch": 1, "position": 2})
    assert torch.equal(resumed.next().flatten(), epochs[1][6:9])
    other = BatchIterator(data, 3, seed=8, drop_last=False)
    assert not torch.equal(torch.cat([other.next() for _ in range(4)]).flatten(), epochs[0])


def test_iterable_data_resumes_by_skipping_and_unwraps_singletons():
    loader = [(torch.full((2, 1), float(i)),) for i in range(3)]
    it = BatchIterator(loader, 2, seed=0)
    values = [float(it.next()[0, 0]) for _ in range(5)]
    assert values == [0.0, 1.0, 2.0, 0.0, 1.0] and it.state() == {"epoch": 1, "position": 2}
    resumed = BatchIterator(loader, 2, seed=0)
    resumed.load_state(it.state())
    assert float(resumed.next()[0, 0]) == 2.0
    assert BatchIterator(None, 2, seed=0).next() is None


# ------------------------------------------------------------------------------ logs, evaluation
class Counter(Method):
    """Logs its call count, so logged means are checkable."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.calls = 0

    def losses(self, batch, ctx):
        self.calls += 1
        return Losses({"model": self.w.square().sum()}, {"count": torch.tensor(float(self.calls))})


def test_metrics_files_eval_hook_and_summary(tmp_path: Path):
    seen = []

    def evaluate(method, step):
        seen.append((step, method.training))
        return {"score": float(step) / 10}

    run = fit(Counter(), None, _cfg(steps=25, log_every=10, eval_every=10), evaluate=evaluate, run_dir=tmp_path)
    assert seen == [(10, False), (20, False), (25, False)]  # every eval_every and at the end, in eval mode
    records = read_metrics(tmp_path / "metrics.jsonl")
    train = [r for r in records if "loss" in r]
    assert [r["step"] for r in train] == [10, 20, 25]
    assert [r["count"] for r in train] == [5.5, 15.5, 23.0]  # means over each logging interval
    evals = [r for r in records if "eval/score" in r]
    assert [(r["step"], r["eval/score"]) for r in evals] == [(10, 1.0), (20, 2.0), (25, 2.5)]
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["step", "time"] and {"loss", "count", "eval/score"} <= set(header)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 25 and summary["seed"] == 0
    assert summary["final_metrics"]["eval/score"] == 2.5 and summary["final_metrics"]["count"] == 23.0
    assert set(summary["versions"]) == {"python", "torch", "ebmlab"}
    assert (tmp_path / "config.yaml").exists() and (tmp_path / "figures").is_dir()
    assert run.series("count") == ([10, 20, 25], [5.5, 15.5, 23.0])


def test_fresh_run_refuses_a_directory_with_checkpoints(tmp_path: Path):
    fit(Counter(), None, _cfg(steps=2), run_dir=tmp_path)
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        fit(Counter(), None, _cfg(steps=2), run_dir=tmp_path)


def test_tensorboard_is_optional(tmp_path: Path, caplog):
    import importlib.util

    with caplog.at_level("WARNING", logger="ebmlab.training"):
        run = fit(Counter(), None, _cfg(steps=3, tensorboard=True), run_dir=tmp_path)
    assert run.status == "completed"
    if importlib.util.find_spec("tensorboard") is None:
        assert "`tensorboard` package is not installed" in caplog.text
        assert not (tmp_path / "tensorboard").exists()
    else:
        assert (tmp_path / "tensorboard").is_dir()


def test_lr_schedules_warm_up_and_decay_and_are_logged(tmp_path: Path):
    from ebmlab.training import lr_factor

    cos = _cfg(steps=110, lr_schedule="cosine", warmup_steps=10, final_lr_fraction=0.1)
    assert [lr_factor(s, cos) for s in (1, 5, 10)] == pytest.approx([0.1, 0.5, 1.0])
    assert lr_factor(60, cos) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way: (1 + cos π/2)/2 = 1/2
    assert lr_factor(110, cos) == pytest.approx(0.1)
    lin = _cfg(steps=100, lr_schedule="linear")
    assert [lr_factor(s, lin) for s in (1, 50, 100)] == pytest.approx([0.99, 0.5, 0.0])
    assert all(lr_factor(s, _cfg(steps=100)) == 1.0 for s in (1, 50, 100))
    data = _gaussian_data(256, torch.zeros(2), torch.ones(2))
    run = fit(GaussianMLE(dim=2), data, _cfg(steps=20, batch_size=32, lr=0.1, lr_schedule="linear", log_every=1))
    lrs = [r["lr/model"] for r in run.history]
    assert lrs == pytest.approx([0.1 * (1 - s / 20) for s in range(1, 21)])
    with pytest.raises(ConfigError, match="lr_schedule"):
        _cfg(lr_schedule="step")
    with pytest.raises(ConfigError, match="final_lr_fraction"):
        _cfg(final_lr_fraction=1.5)
