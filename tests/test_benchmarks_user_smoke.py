"""Smoke tests of benchmarks/samplers_user.py and benchmarks/training.py (a few steps; no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_user_sampler_benchmark_quick(tmp_path: Path, threads, load_benchmark) -> None:
    bench = load_benchmark("samplers_user")
    out = tmp_path / "rows.json"
    argv = ["--quick", "--jax", "off", "--energies", "mog8,mlp", "--only", "ula,hmc", "--capture", "off,eager"]
    assert bench.main([*argv, "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert len(payload["rows"]) == 2 * 2 * 2 and payload["errors"] == []
    for row in payload["rows"]:
        assert all(math.isfinite(row[k]) and row[k] > 0 for k in ("ours", "floor", "cost"))
    assert 0 < payload["mlp_fraction_of_matmul"]["16"] and payload["matmul"][0]["gflops"] > 0
    m = payload["matmul"][0]  # the faster of the default BLAS and oneDNN
    assert m["gflops"] == max(m["gflops_blas"], m.get("gflops_onednn", 0.0))
    assert bench.main(["--table-from", str(out)]) == 0
    with pytest.raises(SystemExit):
        bench.main(["--only", "nuts"])


def test_user_sampler_benchmark_cpu_clock_reports_every_floor(
    tmp_path: Path, threads, load_benchmark, monkeypatch
) -> None:
    """--clock cpu: the cost against the floor at the chains' last positions, at x₀, and with the step's draws;
    --compile-block-max and --compile-evals set (and the JSON records) the compiled-block threshold and length."""
    from ebmlab.samplers import compiled

    monkeypatch.setattr(compiled, "COMPILE_BLOCK_MAX_ELEMENTS", compiled.COMPILE_BLOCK_MAX_ELEMENTS)  # restored after
    monkeypatch.setattr(compiled, "COMPILE_EVALS", compiled.COMPILE_EVALS)
    bench = load_benchmark("samplers_user")
    out = tmp_path / "rows.json"
    argv = ["--quick", "--jax", "off", "--energies", "mog8", "--only", "ula,mala", "--clock", "cpu", "--threads", "1"]
    assert bench.main([*argv, "--compile-block-max", "7", "--compile-evals", "5", "--json", str(out)]) == 0
    machine = json.loads(out.read_text())["machine"]
    assert machine["compile_block_max_elements"] == compiled.COMPILE_BLOCK_MAX_ELEMENTS == 7
    assert machine["compile_evals"] == compiled.COMPILE_EVALS == 5
    with pytest.raises(SystemExit):  # a block of no evaluations: argparse's one-line error
        bench.main([*argv, "--compile-evals", "0"])
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2
    for row in rows:
        assert all(math.isfinite(row[k]) and row[k] > 0 for k in ("cost", "cost_x0", "cost_step_floor"))
        assert row["cost_step_floor"] < row["cost"]  # the floor plus the draws is a larger floor


def test_unadjusted_paths_benchmark_runs_and_checks_equal_chains(threads, load_benchmark, capsys) -> None:
    bench = load_benchmark("unadjusted_paths")
    assert bench.main(["--cases", "mog8:16", "--repeats", "1"]) == 0
    lines = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("| ula") or line.startswith("| kin")
    ]
    assert len(lines) == 2


def test_alloc_faults_benchmark_reports_both_allocators(load_benchmark, capsys) -> None:
    bench = load_benchmark("alloc_faults")
    assert bench.main(["--case", "mog8:16", "--steps", "2", "--runs", "1", "--processes", "1"]) == 0
    rows = [line.split("|")[1].strip() for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert rows[-2:] == ["system", "tuned"]


def test_user_energies_match_their_definitions(threads, load_benchmark) -> None:
    energies = load_benchmark("user_energies")
    x = torch.tensor([[4.0, 0.0], [0.0, 0.0]])
    e = energies.mog8(x)  # at a mean: −log(1 + Σ far terms) ≈ 0; at the centre all 8 terms equal exp(−16/0.5)
    assert abs(float(e[0])) < 1e-6 and abs(float(e[1]) - (16 / 0.5 - math.log(8))) < 1e-4
    w = torch.zeros(1, 32)
    w[0, 0], w[0, 1] = 1.0, 2.0  # one pair: 1 − 6 + 0.5 + 0.5·4
    assert float(energies.many_well(w)) == pytest.approx(-2.5)
    assert energies.mlp_flops(1) == 2 * (64 * 256 + 256 * 256 + 256 + 64 * 256 + 256 * 256)


def test_user_module_mlps_are_the_mlp_row_s_network(threads, load_benchmark) -> None:
    """``mlp-module`` and ``mlp-module-onednn`` are ``mlp``'s network and weights written as a user's module (the JAX
    peer builds all three from the same arrays): the same E and ∇E, the latter up to float32 rounding."""
    energies = load_benchmark("user_energies")
    mlp, module, fast = (energies.build_problem(n) for n in ("mlp", "mlp-module", "mlp-module-onednn"))
    assert mlp.arrays.keys() == module.arrays.keys() == fast.arrays.keys()
    x = torch.randn(1024, 64, generator=torch.Generator().manual_seed(0))
    from ebmlab.energies import energy_and_grad

    (e, g), (e_mod, g_mod), (e_fast, g_fast) = (energy_and_grad(p.energy, x) for p in (mlp, module, fast))
    for e_other, g_other in ((e_mod, g_mod), (e_fast, g_fast)):
        torch.testing.assert_close(e_other, e, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(g_other, g, rtol=1e-5, atol=1e-6)


def test_training_benchmark_quick(tmp_path: Path, threads, load_benchmark) -> None:
    bench = load_benchmark("training")
    out = tmp_path / "train.json"
    assert bench.main(["--quick", "--workloads", "cd-short,bg", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert [r["workload"] for r in payload["rows"]] == ["cd-short", "bg"] and payload["errors"] == {}
    assert all(r["fit / bare"] > 0 for r in payload["rows"])
    for r in payload["rows"]:  # the paired ratio is the median of the repeats' own ratios
        cpu = r["cpu_s"]
        ratios = [f / b for f, b in zip(cpu["fit"], cpu["bare PyTorch"], strict=True)]
        assert r["fit / bare (CPU time, paired)"] == pytest.approx(sorted(ratios)[len(ratios) // 2])
        assert r["bare optimizer"] == "fit"


def test_training_bare_loops_use_fits_optimizer_implementation(load_benchmark) -> None:
    """The bare loops' Adam is fit's (foreach on CPU), so fit ÷ bare measures the loop alone; "default" is PyTorch's."""
    from ebmlab.training.optim import build_optimizer

    bench = load_benchmark("training")
    params = list(torch.nn.Linear(3, 2).parameters())
    fits = build_optimizer(params, {"optimizer": "adam", "lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0.0})
    assert bench.adam(params, "fit").defaults["foreach"] is fits.defaults["foreach"] is True
    assert bench.adam(params, "default").defaults["foreach"] is None


def test_interleaved_variants_take_every_position_in_turn(load_benchmark) -> None:
    """benchmarks/_common.rotated: over len(items) repeats each variant runs once in each position (training.py and
    chain_gap.py interleave their variants this way)."""
    rotated = load_benchmark("_common").rotated
    names = ["fit", "method loop", "bare PyTorch"]
    orders = [rotated(names, r) for r in range(6)]
    assert all(sorted(o) == sorted(names) for o in orders)
    for position in range(3):
        assert sorted(o[position] for o in orders[:3]) == sorted(names)
    assert orders[3:] == orders[:3]


def test_fit_overhead_benchmark_reports_per_step_cost_and_profile(threads, load_benchmark, capsys) -> None:
    bench = load_benchmark("fit_overhead")
    assert bench.main(["--workload", "cd-short", "--lengths", "3,6", "--repeats", "1", "--profile", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum(line.lstrip().startswith(("3 steps", "6 steps")) for line in out) == 2
    assert any(line.startswith("fit adds ") for line in out)
    ranked = out[out.index(next(line for line in out if line.startswith("own time"))) + 1 : -1]
    assert len(ranked) == 4


def test_floor_context_benchmark_reports_each_case(threads, load_benchmark, capsys) -> None:
    bench = load_benchmark("floor_context")
    assert bench.main(["--cases", "mog8:16,mlp:8", "--steps", "2", "--rounds", "1"]) == 0
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| m")]
    assert [r[1].strip() for r in rows] == ["mog8:16", "mlp:8"]
    assert all(float(r[-2]) > 0 for r in rows)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed (optional [bench] extra)")
def test_jax_peer_runs(tmp_path: Path, threads, load_benchmark) -> None:
    bench = load_benchmark("samplers_user")
    rows = [bench.Row("ula", "mog8", 8, "off", 3, 1.0, 1.0, 1.0, 0.0)]
    assert bench.run_jax(rows, sys.executable, "cpu", 1, print) is not None
    assert rows[0].jax is not None and rows[0].jax > 0
    assert bench.run_jax(rows, sys.executable, "cpu", 1, print, clock="cpu", threads=1)["clock"] == "cpu"


def test_linear_backends_benchmark_marks_the_rules_choice(threads, load_benchmark, capsys) -> None:
    """The oneDNN ÷ BLAS grid prints one row per input width and marks exactly the shapes the rule sends to oneDNN."""
    from ebmlab.energies import neural

    bench = load_benchmark("linear_backends")
    assert bench.main(["--rows", "64", "--widths", "8,64"]) == 0
    out = capsys.readouterr().out
    if neural._ONEDNN is None:
        return
    rows = [line for line in out.splitlines() if line.startswith(" ")]
    assert len(rows) == 2
    assert out.count("*") == 1 + sum(bench.chosen(64, a, b) for a in (8, 64) for b in (8, 64))  # the legend's own *
    assert bench.chosen(1024, 64, 64) and not bench.chosen(64, 64, 64) and not bench.chosen(4096, 2, 512)


FAKE_PEER = """
import json, os, sys
spec = json.load(open(sys.argv[-1]))
rows = {r["key"]: r for r in spec["rows"]}
log = open(os.environ["FAKE_PEER_LOG"], "a")
factors, timed = (1, 3, 2), 0
print(json.dumps({"jax": "fake", "backend": "cpu", "blackjax": True, "clock": spec["clock"]}), flush=True)
for line in sys.stdin:
    command, key = line.split()
    row = rows[int(key)]
    log.write(f"{command} {row['sampler']} {row['energy']} {row['chains']} {row['steps']}\\n")
    log.flush()
    if command == "prepare":
        print(json.dumps({"key": int(key), "compile_s": {"jax": 0.5, "blackjax": 0.25}}), flush=True)
    else:  # f ms per step for "jax", 2f for "blackjax", f = 1, 3, 2 in turn: medians 2 and 4 ms
        f, timed = factors[timed % 3], timed + 1
        seconds = {"jax": f * 1e-3 * row["steps"], "blackjax": 2 * f * 1e-3 * row["steps"]}
        print(json.dumps({"key": int(key), "seconds": seconds}), flush=True)
"""


@pytest.mark.parametrize("clock", ["cpu", "wall"])
def test_interleaved_peers_run_between_our_repeats(tmp_path: Path, threads, load_benchmark, monkeypatch, clock) -> None:
    """--peers interleaved: each (sampler, energy, chains) is prepared once and its peers timed once after each of our
    repeats of each capture mode; the rates are the peers' medians, the ratios paired medians over the repeats."""
    bench = load_benchmark("samplers_user")
    fake, log = tmp_path / "fake_peer.py", tmp_path / "requests.txt"
    fake.write_text(FAKE_PEER)
    monkeypatch.setattr(sys.modules["peers"], "JAX_PEER", fake)
    monkeypatch.setenv("FAKE_PEER_LOG", str(log))
    out = tmp_path / "rows.json"
    argv = ["--energies", "mog8", "--chains", "8", "--steps", "10", "--repeats", "3", "--only", "ula,hmc",
            "--capture", "off,eager", "--clock", clock, "--jax-python", sys.executable, "--json", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    payload = json.loads(out.read_text())
    assert payload["errors"] == [] and payload["peers"]["jax"] == "fake"
    requests = log.read_text().splitlines()
    assert requests == [
        "prepare ula mog8 8 10",
        *["time ula mog8 8 10"] * 6,
        "prepare hmc mog8 8 2",
        *["time hmc mog8 8 2"] * 6,
    ]
    for row in payload["rows"]:
        assert row["peers"] == "interleaved" and len(row["runs_s"]) == 3
        assert row["jax"] == pytest.approx(8 / 2e-3) and row["blackjax"] == pytest.approx(8 / 4e-3)
        assert row["jax_compile_s"] == 0.5 and row["blackjax_compile_s"] == 0.25
        # ours ÷ peer in each repeat = the peer's seconds per step ÷ ours (paired), the median of the three
        paired = sorted(f * 1e-3 / s for f, s in zip((1, 3, 2), row["runs_s"], strict=True))[1]
        assert row["jax_paired"] == pytest.approx(paired) and row["blackjax_paired"] == pytest.approx(2 * paired)
    assert "| ula | mog8 / 8 |" in bench.table(payload["rows"])


def test_interleaved_peers_that_cannot_start_are_an_error_not_a_crash(
    tmp_path: Path, threads, load_benchmark, monkeypatch
) -> None:
    bench = load_benchmark("samplers_user")
    fake = tmp_path / "dead_peer.py"
    fake.write_text("import sys\nprint('no jax here', file=sys.stderr)\nsys.exit(3)\n")
    monkeypatch.setattr(sys.modules["peers"], "JAX_PEER", fake)
    out = tmp_path / "rows.json"
    argv = ["--quick", "--energies", "mog8", "--only", "ula", "--jax-python", sys.executable, "--json", str(out)]
    assert bench.main(argv) == 0
    payload = json.loads(out.read_text())
    assert len(payload["rows"]) == 1 and payload["rows"][0]["jax"] is None
    assert payload["errors"] == ["JAX peer: the JAX peer stopped (rc 3): ['no jax here']"]


def test_plot_ratios_takes_the_paired_ratio_and_one_value_per_run(tmp_path: Path, load_benchmark) -> None:
    """benchmarks/plot_ratios.py: one value per run and row, the paired median where the peers ran interleaved (as
    the tables), the ratio of the medians otherwise; the figure is written."""
    bench = load_benchmark("plot_ratios")
    row = {"sampler": "mala", "energy": "mlp", "chains": 128, "capture": "auto@cpu", "ours": 100.0, "cost": 1.2}
    runs = [
        {**row, "blackjax": 50.0, "blackjax_paired": 1.5},  # interleaved: 1.5, not 100 / 50
        {**row, "blackjax": 80.0, "cost": 1.1},  # peers after ours: 100 / 80
        {**row, "blackjax": None, "capture": "compile@cpu", "cost": 0.9},  # no peer: a cost only
    ]
    files = []
    for i, r in enumerate(runs):
        files.append(tmp_path / f"run{i}.json")
        files[-1].write_text(json.dumps({"rows": [r]}))
    found = bench.collect(files)
    assert found[("mala", "mlp", 128, "auto")] == {"blackjax": [1.5, 1.25], "cost": [1.2, 1.1]}
    assert found[("mala", "mlp", 128, "compile")] == {"blackjax": [], "cost": [0.9]}
    assert list(bench.collect(files, {"compile"})) == [("mala", "mlp", 128, "compile")]
    out = tmp_path / "fig" / "ratios.png"
    assert bench.main([*map(str, files), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit):
        bench.main([str(tmp_path / "missing.json"), "--out", str(out)])
