"""`ebmlab sample FILE.py:NAME`: a user's energy sampled with the same outputs as a built-in target."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ebmlab.cli import main

USER_FILE = """import torch

def banana(x):
    return 0.5 * x[:, 0] ** 2 + 0.5 * (x[:, 1] - 0.5 * (x[:, 0] ** 2 - 1)) ** 2

def squares(x):
    return x ** 2

def nan_energy(x):
    return x.sum(1) * float("nan")

def crashes(x):
    return x @ torch.ones(5)

class Well(torch.nn.Module):
    dim = 1

    def forward(self, x):
        return ((x ** 2 - 1) ** 2).sum(1)

class Net(torch.nn.Module):
    dim = 3

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1) + 0.5 * (x ** 2).sum(1)
"""


@pytest.fixture()
def user_file(tmp_path):
    file = tmp_path / "my_energy.py"
    file.write_text(USER_FILE)
    return file


def test_sample_a_users_function_with_json(user_file, tmp_path, capsys) -> None:
    """The banana's x0 is N(0, 1) exactly (unit Jacobian): its kept draws match mean 0, variance 1."""
    out = tmp_path / "banana"
    argv = ["sample", f"{user_file}:banana", "--dim", "2", "--steps", "400", "--chains", "64", "--out", str(out)]
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # exactly one JSON object on stdout
    on_disk = json.loads((out / "diagnostics.json").read_text())
    assert {k: v for k, v in summary.items() if k != "outputs"} == on_disk
    for key in ("accept_rate", "step_size", "ess_bulk_min", "rhat_max", "warnings", "exact_log_z"):
        assert key in summary
    assert summary["exact_log_z"] is None and summary["warnings"] == []
    x = np.load(out / "samples.npy")
    assert x.shape == (100, 64, 2) and (out / "samples.png").stat().st_size > 1000
    x0 = x[:, :, 0].ravel()
    se = 1 / math.sqrt(summary["ess_bulk_min"])  # Monte Carlo error of the mean of a unit-variance coordinate
    assert abs(x0.mean()) < 4 * se and abs(x0.var() - 1) < 4 * math.sqrt(2) * se


def test_sample_a_users_module_class_knows_its_dim(user_file, tmp_path, capsys) -> None:
    out = tmp_path / "well"
    assert main(["sample", f"{user_file}:Well", "--steps", "100", "--chains", "16", "--out", str(out)]) == 0
    assert np.load(out / "samples.npy").shape == (100, 16, 1)
    assert "mala on" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["missing.py:banana", "--dim", "2"], "no such file"),
        (["{f}:nope", "--dim", "2"], "has no 'nope'"),
        (["{f}:banana"], "pass --dim"),
        (["{f}:banana", "--dim", "3"], "does not depend on coordinate(s) [2]"),
        (["{f}:squares", "--dim", "2"], "returned (8, 2)"),
        (["{f}:nan_energy", "--dim", "2"], "non-finite"),
        (["{f}:crashes", "--dim", "2"], "failed on a batch of shape (8, 2): RuntimeError"),
        (["double-well", "--dim", "2"], "--dim applies only to an energy given as FILE.py:NAME"),
        (["double-well", "--linears", "onednn"], "--linears applies only to your own nn.Module energy"),
        (["{f}:banana", "--dim", "2", "--linears", "onednn"], "needs an nn.Module energy (FILE.py:Class)"),
        (["{f}:Well", "--linears", "onednn"], "Well has no nn.Linear layer"),
    ],
)
def test_user_energy_mistakes_are_one_line_errors(user_file, tmp_path, capsys, argv, expected) -> None:
    argv = [a.replace("{f}", str(user_file)) for a in argv]
    assert main(["sample", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


FAR_WELL = """import math
import torch

def energy(x):  # a wide well at 0 and a narrow one (sd 0.05, a third of the mass) far away at x = 10
    wide = -0.5 * x[:, 0] ** 2 - 0.5 * math.log(2 * math.pi)
    narrow = -0.5 * ((x[:, 0] - 10) / 0.05) ** 2 - math.log(0.05 * math.sqrt(2 * math.pi)) + math.log(0.5)
    return -torch.logaddexp(wide, narrow)
"""


@pytest.mark.parametrize("far", [True, False])
def test_cli_flags_chains_stuck_in_a_far_narrow_well(tmp_path, capsys, monkeypatch, far: bool) -> None:
    """Chains 3 and 40 start in the far, narrow well: with the step size adapted to the wide well every one of
    their proposals is rejected, while the mean acceptance stays healthy. The CLI names them on stdout, in the
    JSON and as a warning on stderr. Negative control (``far=False``): the same run from N(0, 1) flags nothing."""
    import torch

    from ebmlab.cli import sample as sample_cli

    file = tmp_path / "far_well.py"
    file.write_text(FAR_WELL)
    starts = sample_cli._initial_points

    def initial_points(target, shape, chains, generator):
        x = starts(target, shape, chains, generator)
        if far:
            x[3] = x[40] = 10.0
        return x

    monkeypatch.setattr(sample_cli, "_initial_points", initial_points)
    out = tmp_path / "o"
    argv = ["sample", f"{file}:energy", "--dim", "1", "--steps", "400", "--chains", "64", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    summary = json.loads((out / "diagnostics.json").read_text())
    assert summary["accept_rate"] > 0.5  # the mean looks healthy either way
    assert 0 < summary["ess_per_grad"] <= summary["ess_per_draw"]
    if far:
        assert summary["stuck_chains"] == [3, 40] and summary["accept_chain_min"] < 0.01
        assert "stuck 2 (chains 3, 40)" in captured.out
        assert "WARNING: 2 of 64 chains are stuck (chains 3, 40" in captured.err
        assert any("stuck" in w for w in summary["warnings"])
        assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0  # the report shows them too
        page = (tmp_path / "report" / "report.html").read_text()
        assert "stuck_chains" in page and "[3, 40]" in page and "2 of 64 chains are stuck" in page
    else:
        assert summary["n_stuck"] == 0 and "stuck" not in captured.err
        assert summary["accept_chain_min"] > 0.3
    assert torch.isfinite(torch.tensor(summary["accept_chain_median"]))


def test_linears_onednn_samples_the_users_module_through_onednn_linears(
    user_file, tmp_path, monkeypatch, capsys
) -> None:
    """``--linears onednn`` hands the user's module to ``onednn_linears`` and samples the copy it returns (recorded in
    diagnostics.json); on a device other than the CPU it is a one-line error naming the device."""
    import torch

    from ebmlab import energies
    from ebmlab.experiments import spec

    wrapped = []
    real = energies.onednn_linears

    def recording(module):
        fast = real(module)
        wrapped.append(fast)
        return fast

    monkeypatch.setattr(energies, "onednn_linears", recording)
    out = tmp_path / "net"
    argv = ["sample", f"{user_file}:Net", "--steps", "40", "--chains", "8", "--warmup", "8", "--linears", "onednn"]
    assert main([*argv, "--out", str(out)]) == 0
    assert len(wrapped) == 1 and json.loads((out / "diagnostics.json").read_text())["linears"] == "onednn"
    assert np.load(out / "samples.npy").shape == (40, 8, 3)
    monkeypatch.setattr(spec, "resolve_device", lambda name: torch.device("meta"))  # stands in for a GPU
    capsys.readouterr()
    assert main([*argv, "--device", "cuda", "--out", str(tmp_path / "gpu")]) == 2
    assert "--linears onednn is a CPU path; the chains are on meta" in capsys.readouterr().err
    assert not (tmp_path / "gpu").exists()
