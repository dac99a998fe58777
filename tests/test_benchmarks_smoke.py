"""Smoke test of benchmarks/samplers.py with a few steps: it runs, and its rows and table are well formed.

No timing assertions: the figures themselves are only meaningful from a full run on a quiet machine.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("samplers")


def test_every_row_runs_with_tiny_settings(bench) -> None:
    settings = bench.Settings(ula_steps=3, hmc_iters=2, repeats=1, warmup_steps=1, floor_evals=1)
    rows = bench.run_benchmark(bench.SAMPLERS, bench.ENERGIES, (8,), settings, log=None)
    assert len(rows) == len(bench.SAMPLERS) * len(bench.ENERGIES)
    for row in rows:
        for value in (row.ours, row.bare, row.floor, row.ours_cost, row.bare_cost):
            assert math.isfinite(value) and value > 0
        assert row.steps == (2 if row.sampler == "hmc" else 3)
    text = bench.table(rows)
    assert "BlackJAX" in text and text.count("\n") == len(rows) + 1


def test_bare_loops_and_library_agree_on_the_energies(bench) -> None:
    """The hand-written energies equal the library's (up to the constant log-normaliser of mog8)."""
    for name in bench.ENERGIES:
        problem = bench.build_problem(name)
        x = problem.x0(16)
        diff = problem.ours(x) - problem.bare(x)
        assert torch.allclose(diff, diff[0].expand_as(diff), atol=1e-4), name
        assert abs(float(diff[0])) < 1e-4 or name == "mog8"


def test_main_quick_writes_json(bench, tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    argv = [
        "--quick",
        "--only",
        "ula,hmc",
        "--energies",
        "mog8",
        "--chains",
        "16",
        "--threads",
        "1",
        "--json",
        str(out),
    ]
    threads = torch.get_num_threads()
    try:
        assert bench.main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    payload = json.loads(out.read_text())
    assert [r["sampler"] for r in payload["rows"]] == ["ula", "hmc"]
    assert payload["quick"] is True
    assert bench.main(["--table-from", str(out)]) == 0
    with pytest.raises(SystemExit):
        bench.main(["--only", "nuts"])


def test_tempering_benchmark_runs_with_tiny_settings(tmp_path: Path) -> None:
    """benchmarks/tempering.py runs end to end and writes well-formed JSON (no timing assertions)."""
    spec = importlib.util.spec_from_file_location("bench_tempering", ROOT / "benchmarks" / "tempering.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    threads = torch.get_num_threads()
    try:
        spec.loader.exec_module(module)
        out = tmp_path / "pt.json"
        assert (
            module.main(["--rounds", "4", "--repeats", "2", "--chains", "8", "--rungs", "3", "--json", str(out)]) == 0
        )
        payload = json.loads(out.read_text())
        assert len(payload["timing"]) == 6 and len(payload["tv"]["pt"]) == 2
        assert all(0 <= v <= 1 for v in payload["tv"]["pt"] + payload["tv"]["mala"])
    finally:
        torch.set_num_threads(threads)
        sys.modules.pop(spec.name, None)
