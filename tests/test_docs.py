"""Every ```python block in README.md and docs/*.md runs (blocks of one file share a namespace, in order).

A block preceded by an ``<!-- not run: reason -->`` line is skipped (signatures, snippets needing user files).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- not run:[^>]*-->\n)?```python\n(.*?)```", re.S)


def _blocks(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    return [(text[: m.start(2)].count("\n") + 1, m.group(2)) for m in BLOCK.finditer(text) if m.group(1) is None]


@pytest.mark.parametrize("path", [p for p in DOCS if _blocks(p)], ids=lambda p: p.name)
def test_python_blocks_in_docs_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for line, code in _blocks(path):
        try:
            exec(compile(code, f"{path.name}:{line}", "exec"), namespace)  # our own docs
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{path.relative_to(ROOT)}, the block at line {line} raised {type(exc).__name__}: {exc}")
