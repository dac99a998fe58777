"""ebmlab.device_audit, and the user log-Z pipeline on a chosen device (``log_z(device=)``, ``ebmlab logz --device``).

No GPU here: the audit stands in for one. On a CUDA run a factory without ``device=`` lands on the CPU; here every
such line the user pipeline runs is listed, and the list must be empty.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from ebmlab.cli import main
from ebmlab.device_audit import implicit_device_factories
from ebmlab.errors import ConfigError
from ebmlab.estimators.user import USER_METHODS, log_z

SMALL = {
    "is": {"n": 2000},
    "ais": {"n": 64, "n_temperatures": 30},
    "bracket": {"n": 64, "n_temperatures": 30, "tempering": {"n_chains": 16, "n_rungs": 6, "n_rounds": 200}},
    "stepping-stone": {"n": 32, "n_rounds": 60, "burn_in": 20, "adapt_rounds": 20, "n_rungs": 6},
    "flow": {"n": 2000, "steps": 30},
}


def _gaussian(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x.square() * torch.tensor([1.0, 0.25], dtype=x.dtype, device=x.device)).sum(1)


class _Built(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))  # construction: not counted


def test_the_audit_counts_lines_without_device_and_skips_module_init_and_tensor_copies() -> None:
    x = torch.ones(4, 2)
    with implicit_device_factories(root=".") as hits:
        _Built()
        torch.as_tensor(x, dtype=torch.float64)  # a copy keeps x's device
        torch.zeros(2, device=x.device)
        for _ in range(3):
            torch.randn(2)
    assert [(h.factory, h.count) for h in hits] == [("randn", 3)]
    assert "torch.randn without device= (3×)" in str(hits[0])
    with implicit_device_factories() as hits:  # default root: the ebmlab package; this file is outside it
        torch.randn(2)
    assert hits == []


class _Seeded(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)  # initial weights: construction, not counted
        self.w = torch.nn.Parameter(torch.randn(3, generator=gen))


def test_the_audit_counts_generators_made_without_a_device() -> None:
    before = torch.Generator()
    with implicit_device_factories(root=".") as hits:
        _Seeded()
        torch.Generator(device="cpu")
        torch.Generator("cpu")
        made = torch.Generator().manual_seed(3)
        torch.Generator()
        assert isinstance(before, torch.Generator) and isinstance(made, torch.Generator)
        drawn = torch.rand(2, generator=made, device="cpu")
    assert torch.equal(drawn, torch.rand(2, generator=torch.Generator(device="cpu").manual_seed(3)))
    assert [(h.factory, h.count) for h in hits] == [("Generator", 1), ("Generator", 1)]
    assert "torch.Generator without device=" in str(hits[0])
    with pytest.raises(ValueError), implicit_device_factories(root="."):
        raise ValueError
    assert torch.Generator is type(before)  # put back, also after an error


def test_every_generator_in_the_package_names_its_device() -> None:
    """A static pass over the lines the smoke check does not run: each ``torch.Generator(...)`` says where it draws
    (the data's device, or ``device="cpu"`` for host-side values such as initial weights and data sets)."""
    import ast
    from pathlib import Path

    import ebmlab

    unnamed = []
    for path in sorted(Path(ebmlab.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("torch.Generator", "Generator"):
                if not node.args and not any(k.arg == "device" for k in node.keywords):
                    unnamed.append(f"{path.name}:{node.lineno}")
    assert unnamed == []


def test_estimators_seeded_without_a_generator_draw_on_the_energy_device(monkeypatch) -> None:
    """``seed=`` alone: IS, AIS and stepping stone make their generator on the device of the module energy
    (``device_of``); a plain function's is the CPU's. The same numbers as before on the CPU."""
    from ebmlab.energies import MLPEnergy
    from ebmlab.estimators import GaussianProposal, log_z_ais, log_z_importance, log_z_stepping_stone
    from ebmlab.estimators import logz as logz_module

    asked: list[object] = []

    def device_of(obj: object) -> torch.device:
        asked.append(obj)
        return torch.device("cpu")

    monkeypatch.setattr(logz_module, "device_of", device_of)
    energy, base = MLPEnergy(2, (8,)), GaussianProposal(torch.zeros(2), std=2.0)
    log_z_importance(_gaussian, base, 100, seed=1)
    log_z_importance(energy, base, 100, seed=1)
    log_z_ais(energy, base, 8, 5, seed=1)
    log_z_stepping_stone(energy, 2, 4, 2, 0, n_rungs=3, adapt_rounds=0, seed=1)
    assert asked == [_gaussian, energy, energy, energy]
    with_seed = log_z_importance(_gaussian, base, 100, seed=1).value
    assert with_seed == log_z_importance(_gaussian, base, 100, torch.Generator(device="cpu").manual_seed(1)).value


@pytest.mark.parametrize("method", USER_METHODS)
def test_the_user_pipeline_names_a_device_for_every_tensor_it_makes(method: str) -> None:
    """Every method of ``log_z``, with the GPU path's checks: no ebmlab line makes a tensor on the default device, and
    ``device="cpu"`` gives the bits of the default."""
    from ebmlab.samplers import finite_watch

    finite_watch.DEFER_ON_CPU, before = True, finite_watch.DEFER_ON_CPU
    try:
        with implicit_device_factories() as hits:
            est = log_z(_gaussian, (2,), method, seed=3, device="cpu", **SMALL[method])
        assert est.value == log_z(_gaussian, (2,), method, seed=3, **SMALL[method]).value
    finally:
        finite_watch.DEFER_ON_CPU = before
    assert hits == [], [str(h) for h in hits]
    assert abs(est.value - math.log(2 * math.pi * 2.0)) < 4 * est.stderr  # a sanity bound: accuracy is test_logz_user's


def test_replica_exchange_builds_its_default_base_on_the_chains_device() -> None:
    """A base left on the CPU would be copied to the chains at every round (and made where the audit sees it)."""
    from ebmlab.samplers import MALA, ReplicaExchange

    pt = ReplicaExchange(MALA(0.1), n_rungs=3)
    gen = torch.Generator().manual_seed(0)
    with implicit_device_factories() as hits:
        pt.sample(_gaussian, 8, 2, 5, gen)
    assert hits == [], [str(h) for h in hits]


def test_logz_device_cli(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    """`--device cpu` is the default's bits; a method that runs only on the CPU and a CUDA device on a CPU-only build
    are one-line errors that name the fix."""
    from ebmlab.experiments.logz_methods import estimate_log_z
    from ebmlab.targets import get_target

    argv = ["logz", "mog8", "--method", "is", "--samples", "2000", "--json"]
    assert main(argv) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*argv, "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["log_z"] == plain["log_z"]
    small_pt = ["logz", "mog8", "--method", "pt", "--samples", "16", "--json"]
    with implicit_device_factories() as hits:
        assert main([*small_pt, "--device", "cpu"]) == 0
    assert hits == [], [str(h) for h in hits]
    on_cpu = json.loads(capsys.readouterr().out)["log_z"]
    assert main(small_pt) == 0 and json.loads(capsys.readouterr().out)["log_z"] == on_cpu
    with pytest.raises(ConfigError, match="runs on the CPU only; on a device use one of is, ais, pt"):
        estimate_log_z(get_target("mog8"), "quadrature", device="meta")
    if not torch.cuda.is_available():
        assert main(["logz", "mog8", "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert "CPU-only build" in err and len(err.strip().splitlines()) == 1
    energy = tmp_path / "mine.py"
    energy.write_text("def energy(x):\n    return 0.5 * (x ** 2).sum(1)\n")
    user = ["logz", f"{energy}:energy", "--dim", "2", "--method", "is", "--samples", "2000", "--json"]
    assert main([*user, "--device", "auto"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert abs(row["log_z"] - math.log(2 * math.pi)) < 5 * row["stderr"]


def test_copies_of_inference_tensors_and_in_place_changes() -> None:
    """`copies_on` keys its copies by each tensor's version counter: a change in place (a `load_state_dict`) is
    copied again; a tensor made under `inference_mode`, which has no counter, is copied once."""
    from ebmlab.densities import DiagonalNormal
    from ebmlab.device_copies import copies_on

    q = DiagonalNormal(torch.zeros(2), 1.0)
    first = copies_on(q, ("loc",), torch.device("cpu"), torch.float64)[0]
    q.load_state_dict({"loc": torch.ones(2), "log_scale": torch.zeros(2)})
    assert copies_on(q, ("loc",), torch.device("cpu"), torch.float64)[0].tolist() == [1.0, 1.0] != first.tolist()
    with torch.inference_mode():
        frozen = DiagonalNormal(torch.zeros(2), 1.0)
    assert copies_on(frozen, ("loc",), torch.device("cpu"), torch.float64)[0].dtype == torch.float64


def test_the_linear_gaussian_and_the_mixture_source_make_nothing_on_the_default_device() -> None:
    """Found by a static pass over the package's factories (session 19): PPCA's draws and covariances and the
    rate–distortion mixture's draws and exact terms follow their parameters' and inputs' device."""
    from ebmlab.densities.linear_gaussian import LinearGaussian
    from ebmlab.ratedistortion.mixture import MixtureEnergy, mixture_abs_terms

    ppca = LinearGaussian.random(4, 2, 0.5, torch.Generator(device="cpu").manual_seed(0))
    mixture = MixtureEnergy(2)
    gen = torch.Generator(device="cpu").manual_seed(1)
    with implicit_device_factories() as hits:
        x = ppca.sample(8, gen)
        ppca.log_prob(x), ppca.posterior(x)
        y = mixture.sample(8, gen)
        mixture_abs_terms(mixture, 2.0)(y)
    assert hits == [], [str(h) for h in hits]


class _CudaLabelled(torch.Generator):
    """A CPU generator that says it draws on CUDA: what a CPU generator is to chains on a GPU, seen from a CPU."""

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return torch.device("cuda", 0)


@pytest.mark.parametrize("kernel", ["mala", "ula", "gibbs"])
def test_a_generator_on_another_device_than_the_chains_is_a_one_line_error(kernel: str) -> None:
    """run_chains (under sample, the negatives, AIS, replica exchange) names the mismatch and the fix before any
    draw; without the check these draws would run (the generator really is a CPU one)."""
    from ebmlab.samplers import BlockGibbs, get_sampler, sample

    x0 = torch.zeros(8, 3) if kernel != "gibbs" else torch.ones(8, 3)
    sampler = BlockGibbs() if kernel == "gibbs" else get_sampler(kernel, step_size=0.1)
    with pytest.raises(ConfigError, match=r"the generator draws on cuda:0 but the chains are on cpu; .*device='cpu'"):
        sample(lambda x: 0.5 * x.square().sum(1), sampler, x0, n_steps=3, generator=_CudaLabelled().manual_seed(0))


def test_sample_names_a_kernel_given_by_name_and_starting_points_that_are_not_a_tensor() -> None:
    from ebmlab.errors import ShapeError
    from ebmlab.samplers import MALA, sample

    with pytest.raises(
        ConfigError, match=r"sampler must be a kernel instance .*use get_sampler\('mala', step_size=\.\.\.\)"
    ):
        sample(lambda x: x.square().sum(1), "mala", torch.zeros(4, 2), n_steps=3)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="x0 must be a tensor of starting points"):
        sample(lambda x: x.square().sum(1), MALA(0.1), [[0.0, 0.0]], n_steps=3)  # type: ignore[arg-type]
