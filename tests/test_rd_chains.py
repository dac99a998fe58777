"""EBA's chains against exact Gaussian tilting, its source-based start and Polyak average; user sources on the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from ebmlab.cli import main
from ebmlab.experiments.rate_distortion import train_eba
from ebmlab.methods.eba import EBA
from ebmlab.ratedistortion import GaussianSource
from ebmlab.samplers.langevin import MALA
from ebmlab.training.method import Losses, Method, StepContext


@pytest.mark.parametrize(("burn_in", "biased"), [(None, False), (0, True)])
def test_fresh_conditional_chains_match_the_exact_tilted_gaussian(burn_in: int | None, biased: bool) -> None:
    # r = N(0, s²) fixed; x|y is exactly N(2βs²y/a, s²/a), a = 1 + 2βs². Every y is redrawn each step
    # (refresh = 1), so every chain starts at x = y: the standardised residual z, signed towards y, has mean 0
    # once burnt in. Negative control: without burn-in, 10 MALA steps (λ = 0.2) leave ≈ 0.8¹⁰ of the offset.
    beta, s2, n = 0.61, 0.18, 4096
    m = EBA(GaussianSource([1.0]), "squared", beta, variant="ba", sampler=MALA(0.2), n_chains=n, refresh=1.0)
    m.burn_in = m.burn_in if burn_in is None else burn_in
    m.init_from_source = False
    with torch.no_grad():
        m.energy.log_scale.fill_(0.5 * math.log(s2))
    g = torch.Generator().manual_seed(0)
    m.advance(g)
    m.advance(g)
    a = 1 + 2 * beta * s2
    yy = torch.cat((m.chains["y"], m.chains["y"]))
    mean, sd = 2 * beta * s2 / a * yy, math.sqrt(s2 / a)
    z = ((m.chains["x"] - mean) / sd * (yy - mean).sign()).flatten().double()
    se = float(z.std() / math.sqrt(n))
    assert (float(z.mean()) > 8 * se) == biased
    if not biased:
        assert abs(float(z.mean())) < 4 * se and abs(float(z.var()) - 1) < 0.1


def test_energy_starts_at_the_source_moments() -> None:
    src = GaussianSource([4.0, 0.01])
    m = EBA(src, "squared", 1.0, variant="ba", sampler=MALA(0.2), n_chains=64)
    m.advance(torch.Generator().manual_seed(0))
    assert torch.allclose(m.energy.scale(), torch.tensor([2.0, 0.1]), rtol=0.05)
    off = EBA(src, "squared", 1.0, variant="ba", sampler=MALA(0.2), n_chains=64, init_from_source=False)
    off.advance(torch.Generator().manual_seed(0))
    assert torch.allclose(off.energy.scale(), torch.ones(2))


def test_polyak_average_is_loaded_after_training() -> None:
    torch.manual_seed(0)
    m = EBA(GaussianSource([1.0]), "squared", 2.0, variant="ba", sampler=MALA(0.2), n_chains=64, n_steps=2)
    seen: list[torch.Tensor] = []
    train_eba(m, 8, seed=0, average=0.5, callbacks=[lambda step, v: seen.append(m.energy.log_scale.detach().clone())])
    expected = torch.stack(seen[4:]).mean(0)
    assert torch.allclose(m.energy.log_scale.detach(), expected, atol=1e-6)
    assert not torch.allclose(seen[-1], expected, atol=1e-6)  # the last iterate differs: the average was loaded


def _rd(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["rd", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


EBA_ARGS = ["--distortion", "squared", "--beta", "2", "--method", "eba", "--steps", "3", "--chains", "16", "--json"]


def test_cli_user_sources(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "y.npy", np.random.default_rng(0).normal(size=(300, 1)))
    code, out, _ = _rd(["--source-file", str(tmp_path / "y.npy"), *EBA_ARGS], capsys)
    assert code == 0 and json.loads(out)[0]["rate_closed_form"] is None
    (tmp_path / "src.py").write_text(
        "import torch\ndef normal(n, generator):\n    return torch.randn(n, 1, generator=generator)\n"
    )
    code, out, _ = _rd(["--source", f"{tmp_path / 'src.py'}:normal", *EBA_ARGS], capsys)
    (p,) = json.loads(out)
    assert code == 0 and p["distortion"] > 0 and math.isfinite(p["rate"])


@pytest.mark.parametrize(
    ("make", "argv", "expected"),
    [
        ("obj", ["--source-file", "{d}/o.npy"], "not a plain numeric .npy"),
        ("nan", ["--source-file", "{d}/n.npy"], "NaN/inf"),
        ("3d", ["--source-file", "{d}/t.npy"], "shape (N, dim)"),
        ("py", ["--source", "{d}/s.py:missing"], "has no 'missing'"),
        ("py", ["--source", "{d}/s.py:bad"], "non-finite samples"),
        ("py", ["--source", "{d}/s.py:wide", "--dim", "1"], "returned shape"),
        ("py", ["--source", "{d}/s.py:bad", "--source-file", "{d}/o.npy"], "exactly one of"),
        ("py", ["--source", "gaussian", "--dim", "2"], "--dim applies"),
    ],
)
def test_cli_user_source_errors_are_one_line(
    make: str, argv: list[str], expected: str, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    if make == "obj":
        np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif make == "nan":
        np.save(tmp_path / "n.npy", np.array([[1.0], [np.nan], [0.0]]))
    elif make == "3d":
        np.save(tmp_path / "t.npy", np.zeros((4, 2, 2)))
    else:
        (tmp_path / "s.py").write_text(
            "import torch\n"
            "def bad(n, generator):\n    return torch.full((n, 1), float('nan'))\n"
            "def wide(n, generator):\n    return torch.zeros(n, 2)\n"
        )
    code, _, err = _rd([a.format(d=tmp_path) for a in argv] + EBA_ARGS, capsys)
    assert code == 2 and expected in err and err.count("\n") == 1, err


class _SlowNoiseQuadratic(Method):
    """n independent copies of a flat quadratic ½hθ² whose gradient carries AR(1) noise (correlation ``rho``
    per step): the critic-based EBA φ-gradient on ln s at the scalar β = 0.61 optimum (curvature h = 0.065,
    per-step noise sd 0.008, correlated over many steps by the critic's lag; ln s starts 0.86 from the optimum)."""

    critic = None

    def __init__(self, n: int, steps: int, rho: float, h: float = 0.065, sd: float = 0.008) -> None:
        super().__init__()
        self.energy = nn.Module()
        self.energy.theta = nn.Parameter(torch.full((n,), 0.86))
        white = torch.randn(steps + 1, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        xi = torch.zeros_like(white)
        for t in range(1, steps + 1):
            xi[t] = rho * xi[t - 1] + math.sqrt(1 - rho**2) * sd * white[t]
        self.xi, self.h = xi.float(), h

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"energy": list(self.energy.parameters())}

    def losses(self, batch: object, ctx: StepContext) -> Losses:
        theta = self.energy.theta
        return Losses(minimize={"energy": (0.5 * self.h * theta.square() + self.xi[ctx.step] * theta).sum()})


def test_constant_lr_polyak_tail_reaches_the_averaging_limit_where_cosine_decay_does_not() -> None:
    # Adam is per coordinate, so 1024 coordinates are 1024 independent runs of the same stochastic approximation.
    # Polyak–Ruppert: an average over T mixing steps has variance σ²τ/(h²T) (τ = (1 + ρ)/(1 − ρ), the noise's
    # integrated autocorrelation time). A cosine decay freezes the iterate in the averaged half (its relaxation
    # time lr·h/√v grows past the steps left), so its average is of few effective samples; a constant lr keeps it
    # mixing. Negative control: the cosine schedule, which must stay clearly above the limit.
    steps, rho, n = 300, 0.95, 1024
    rms = {}
    for schedule, average in (("cosine", 0.5), ("constant", 0.75)):
        m = _SlowNoiseQuadratic(n, steps, rho)
        train_eba(m, steps, seed=0, average=average, schedule=schedule)
        rms[schedule] = float(m.energy.theta.detach().square().mean().sqrt())
    limit = math.sqrt(0.008**2 * (1 + rho) / (1 - rho) / (0.065**2 * int(0.75 * steps)))
    assert rms["constant"] < 1.15 * limit < rms["cosine"], (rms, limit)
