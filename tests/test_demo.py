"""`ebmlab demo` and `ebmlab report`: numbers against ground truth, verdict rules evaluated, failures
isolated, the HTML page checked in headless Chromium."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import ebmlab.demo
from ebmlab.browser import check_page, find_chromium, screenshot
from ebmlab.cli import main
from ebmlab.report import DemoSection, Row, Section
from ebmlab.verdicts import FAILS, HOLDS, INCONCLUSIVE, beats, z_within

VERDICTS = {HOLDS, FAILS, INCONCLUSIVE}


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("demo")
    return main(["demo", "--quick", "--out", str(out)]), out


def test_demo_quick_agrees_with_ground_truth_and_evaluates_every_rule(quick_demo: tuple[int, Path]) -> None:
    code, out = quick_demo
    summary = json.loads((out / "summary.json").read_text())
    failed = [(s["name"], s["error"]) for s in summary["sections"] if s["error"]]
    assert code == 0 and not failed, failed
    assert {s["name"] for s in summary["sections"]} == {s.name for s in ebmlab.demo.SECTIONS}
    rows = [(s["name"], r) for s in summary["sections"] for r in s["rows"]]
    checked = [(t, r["name"], r["z"]) for t, r in rows if r["reference"] is not None and r["stderr"]]
    far = [row for row in checked if row[2] is None or not abs(row[2]) < 4]  # NaN counts as far
    assert not far, f"demo rows more than 4 standard errors from their ground truth: {far}"
    assert len(checked) >= 5, checked
    for s in summary["sections"]:
        assert s["claim"] and s["outcomes"], f"{s['name']}: a claim and at least one verdict rule"
        assert all(o["verdict"] in VERDICTS and o["reason"] for o in s["outcomes"]), s["outcomes"]
        assert s["verdict"] in VERDICTS
        assert all((out / f).exists() for f in s["figures"])
    assert "<table>" in (out / "report.html").read_text()


def _chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("chromium not installed and not installable here (.ci/run installs it with apt-get)")
    return path


def test_demo_report_renders_in_headless_chromium(quick_demo: tuple[int, Path]) -> None:
    _chromium()
    _, out = quick_demo
    page = out / "report.html"
    n_figures = sum(len(s["figures"]) for s in json.loads((out / "summary.json").read_text())["sections"])
    check = check_page(page)
    assert check.images == n_figures > 0, check
    assert check.decoded == check.images, check
    assert check.errors == 0, check
    png = screenshot(page, out / "screenshot.png", height=800)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_selfcheck_catches_a_broken_image(tmp_path: Path) -> None:
    """Negative control: a missing image and a script error are counted by the page's self-check."""
    _chromium()
    from ebmlab.report_html import page

    bad = tmp_path / "bad.html"
    bad.write_text(page("bad", "<img src='data:image/png;base64,AAAA'><script>undefined_function()</script>"))
    check = check_page(bad)
    assert check.images == 1 and check.decoded == 0 and check.errors >= 2, check


def _ok(out: Path, quick: bool, seed: int, progress: bool) -> Section:
    rows = [Row("x", 1.0, 1.0, 0.1)]
    return Section(title="ok", text="fine", claim="x is 1", rows=rows, rules=[z_within("x", 3.0)])


def _broken(out: Path, quick: bool, seed: int, progress: bool) -> Section:
    raise ValueError("broken on purpose\nsecond line")


def test_failing_section_is_reported_and_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = [DemoSection("broken", _broken, 1, 1), DemoSection("ok", _ok, 2, 2)]
    monkeypatch.setattr(ebmlab.demo, "SECTIONS", fake)
    assert main(["demo", "--out", str(tmp_path)]) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    by_name = {s["name"]: s for s in summary["sections"]}
    assert by_name["broken"]["error"] == "ValueError: broken on purpose second line"
    assert by_name["broken"]["verdict"] == "failed"
    assert by_name["ok"]["verdict"] == HOLDS and by_name["ok"]["outcomes"][0]["threshold"] == 3.0
    assert "nominal budgets" in capsys.readouterr().out
    assert main(["demo", "--out", str(tmp_path), "--only", "ok"]) == 0  # the estimate now comes from the last run
    assert "previous run" in capsys.readouterr().out
    assert main(["demo", "--only", "nope", "--out", str(tmp_path)]) == 2
    assert "valid sections: broken, ok" in capsys.readouterr().err


def test_beats_rule_holds_fails_and_is_inconclusive() -> None:
    rule = beats("C", "A", 2.0)
    a = Row("A", 1.0, stderr=0.1)
    assert rule.evaluate([Row("C", 0.5, stderr=0.1), a]).verdict == HOLDS
    assert rule.evaluate([Row("C", 1.5, stderr=0.1), a]).verdict == FAILS
    assert rule.evaluate([Row("C", 0.9, stderr=0.1), a]).verdict == INCONCLUSIVE
    assert rule.evaluate([a]).verdict == INCONCLUSIVE  # a missing row is not a pass


def test_report_on_a_tiny_training_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = Path(__file__).parents[1] / "configs" / "cd_eight_gaussians_short_run.yaml"
    argv = ["train", str(config), "--out", str(run), "--set", "train.steps=20", "--set", "train.log_every=5"]
    argv += ["--set", "eval=null"]
    assert main(argv) == 0
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "Resolved config" in html and "cd-eight-gaussians" in html
    numbers = json.loads((out / "summary.json").read_text())["runs"][0]
    assert numbers["kind"] == "training" and len(numbers["metrics"]) >= 4
    assert main(["report", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    if find_chromium() is not None:
        check = check_page(out / "report.html")
        assert check.images >= 1 and check.decoded == check.images and check.errors == 0, check


def test_chromium_flags_work() -> None:
    browser = _chromium()
    assert subprocess.run([browser, "--version"], capture_output=True, timeout=60, check=False).returncode == 0
