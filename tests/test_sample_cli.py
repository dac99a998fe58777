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
    ],
)
def test_user_energy_mistakes_are_one_line_errors(user_file, tmp_path, capsys, argv, expected) -> None:
    argv = [a.replace("{f}", str(user_file)) for a in argv]
    assert main(["sample", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
