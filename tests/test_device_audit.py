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
