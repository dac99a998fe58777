"""Components in configs (nested parts injected by parameter name, classes registered directly), the
"nothing in a config or run directory imports code" guarantee, and the package's import hygiene."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import yaml
from torch import nn

from ebmlab.cli import main
from ebmlab.energies import MLPEnergy
from ebmlab.errors import ConfigError, EbmlabError
from ebmlab.experiments import build_experiment, load_experiment_config, load_run, register_method
from ebmlab.samplers import MALA
from ebmlab.training import Losses, Method, StepContext
from ebmlab.training.checkpoint import _digest, meta_digest

SRC = Path(__file__).resolve().parents[1] / "src" / "ebmlab"
TOY = {"name": "toy", "target": "eight-gaussians", "split": "train", "n": 256}


def _error(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_experiment_config(config)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------- nested parts
def test_nested_parts_build_like_top_level_sections():
    top = {
        "data": TOY,
        "energy": {"name": "mlp", "hidden": [8]},
        "sampler": {"name": "mala", "step_size": 0.1},
        "method": {"name": "cd", "n_steps": 3},
    }
    nested = {
        "data": TOY,
        "method": {
            "name": "cd",
            "n_steps": 3,
            "energy": {"name": "mlp", "hidden": [8]},
            "sampler": {"name": "mala", "step_size": 0.1},
        },
    }
    a, b = build_experiment(load_experiment_config(top)), build_experiment(load_experiment_config(nested))
    assert isinstance(b.method.energy, MLPEnergy) and b.method.energy.dim == 2  # dim: the data's
    assert isinstance(b.method.sampler, MALA) and b.method.sampler.step_size == 0.1 and b.energy is None
    for p, q in zip(a.method.parameters(), b.method.parameters(), strict=True):
        assert torch.equal(p, q)  # same seeded initialisation either way


@pytest.mark.parametrize(
    ("method", "top", "expected"),
    [
        ({"energy": {"name": "mlp", "hiden": [8]}}, {}, "method.energy.hiden: unknown key for energy 'mlp'; did you mean 'hidden'?"),
        ({"energy": {"name": "mlp"}, "sampler": {"name": "mal"}}, {}, "method.sampler.name: unknown sampler 'mal'; did you mean 'mala'?"),
        ({"energy": {"name": "mlp"}}, {"energy": {"name": "mlp"}}, "method.energy: set by the top-level `energy:` section"),
        ({}, {}, "method.energy: missing required key for method 'cd'; give `energy:` here or as a top-level section"),
        ({"energy": {"name": "mlp"}, "sampler": 0.1}, {}, "method.sampler: expected a Sampler component `{name: ..., ...}` (a sampler: registered gibbs, hmc"),
        ({"energy": {"name": "mlp"}, "sampler": {"name": "ula"}}, {}, "method.sampler.step_size: missing required key for sampler 'ula'"),
    ],
)  # fmt: skip
def test_nested_part_errors_are_one_line_with_key_paths(method: dict, top: dict, expected: str):
    assert _error({"data": TOY, **top, "method": {"name": "cd", **method}}).startswith(expected)


class _Critic(Method):
    """A method with a part whose parameter name is not a kind: declared in ``component_kinds``."""

    component_kinds: ClassVar[dict[str, str]] = {"critic": "energy"}

    def __init__(self, critic: nn.Module, scale: float = 1.0) -> None:
        super().__init__()
        self.critic, self.scale = critic, scale

    def losses(self, batch: torch.Tensor, ctx: StepContext) -> Losses:
        return Losses({"model": self.scale * self.critic(batch).mean()})


def test_a_class_registers_in_one_line_and_declares_its_part_kinds():
    register_method("test-critic", _Critic)  # the one line
    cfg = {"data": TOY, "method": {"name": "test-critic", "critic": {"name": "mlp", "hidden": [4]}, "scale": 2}}
    method = build_experiment(load_experiment_config(cfg)).method
    assert isinstance(method.critic, MLPEnergy) and method.scale == 2.0
    cfg["method"]["critic"] = {"name": "mlpp"}
    assert _error(cfg).startswith("method.critic.name: unknown energy 'mlpp'; did you mean 'mlp'?")


# --------------------------------------------------------------------- nothing imports code
def _run(tmp_path: Path) -> Path:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        yaml.safe_dump({"data": TOY, "method": {"name": "gaussian-mle"}, "train": {"steps": 4, "batch_size": 32}})
    )
    run_dir = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(run_dir), "--no-progress"]) == 0
    return run_dir


def _reseal(ckpt_dir: Path) -> None:
    """Recompute a checkpoint's checksums after an edit, as a deliberate forger would (they are integrity
    checks, not signatures): the registry must refuse the planted name on its own."""
    meta_file = ckpt_dir / "trainer.json"
    meta = json.loads(meta_file.read_text())
    meta["files"]["config.yaml"] = _digest(ckpt_dir / "config.yaml")
    meta["meta_sha256"] = meta_digest(meta)
    meta_file.write_text(json.dumps(meta, indent=1))


def _plant(run_dir: Path, where: str, marker: Path) -> None:
    """Put ``{name: "os:system", command: "touch MARKER"}`` into every config.yaml of the run (checkpoint
    copies resealed, so that the integrity checks do not catch it first)."""
    payload = {"name": "os:system", "command": f"touch {marker}"}
    for file in [run_dir / "config.yaml", *run_dir.glob("checkpoints/*/config.yaml")]:
        data = yaml.safe_load(file.read_text())
        if where == "section":
            data["energy"] = payload
        elif where == "method":
            data["method"] = {"name": "gaussian-reverse-kl", "energy": payload}
        else:
            data["method"]["name"] = "os:system"
            data["method"]["command"] = f"touch {marker}"
        file.write_text(yaml.safe_dump(data))
        if file.parent.name.startswith("step_"):
            _reseal(file.parent)


@pytest.mark.parametrize("where", ["section", "method", "name"])
def test_a_planted_import_in_a_run_directory_is_refused(tmp_path: Path, where: str, capsys):
    run_dir, marker = _run(tmp_path), tmp_path / "MARKER"
    _plant(run_dir, where, marker)
    capsys.readouterr()
    for argv in (["sample", str(run_dir), "-n", "4"], ["train", "--resume", str(run_dir), "--no-progress"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "'os:system'" in err and "cannot import code" in err, err
    with pytest.raises(EbmlabError, match="os:system"):
        load_run(run_dir)
    assert not marker.exists()


def test_a_planted_checkpoint_config_without_resealing_is_refused_as_corrupt(tmp_path: Path, capsys):
    run_dir, marker = _run(tmp_path), tmp_path / "MARKER"
    for file in [run_dir / "config.yaml", *run_dir.glob("checkpoints/*/config.yaml")]:
        data = yaml.safe_load(file.read_text())
        data["energy"] = {"name": "os:system", "command": f"touch {marker}"}
        file.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["sample", str(run_dir), "-n", "4"]) == 2
    assert "corrupt" in capsys.readouterr().err and not marker.exists()


def test_allow_import_is_an_explicit_command_line_act(tmp_path: Path, capsys):
    plugin = tmp_path / "my_energies.py"
    plugin.write_text(
        "import torch\n"
        "from ebmlab.experiments import register_energy\n"
        "class Bowl(torch.nn.Module):\n"
        "    def __init__(self, dim: int, width: float = 1.0):\n"
        "        super().__init__()\n"
        "        self.dim, self.width = dim, width\n"
        "    def forward(self, x):\n"
        "        return 0.5 * (x / self.width).square().sum(1)\n"
        "register_energy('test-bowl', Bowl)\n"
    )
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "energy": {"name": "test-bowl", "dim": 2, "width": 2.0},
                "method": {"name": "gaussian-reverse-kl", "n_samples": 16},
                "train": {"steps": 3},
            }
        )
    )
    run_dir = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(run_dir), "--no-progress"]) == 2
    assert "unknown energy 'test-bowl'" in capsys.readouterr().err
    assert not run_dir.exists()
    argv = ["train", str(cfg), "--out", str(run_dir), "--no-progress", "--allow-import", str(plugin)]
    assert main(argv) == 0
    assert "my_energies" not in (run_dir / "config.yaml").read_text()  # never recorded in the run
    fresh = subprocess.run(  # a fresh process: the run directory alone does not bring the plugin back
        [sys.executable, "-m", "ebmlab", "train", "--resume", str(run_dir), "--no-progress"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC.parent)},
    )
    assert fresh.returncode == 2 and "unknown energy 'test-bowl'" in fresh.stderr, fresh.stderr
    assert main(["train", "--allow-import", str(tmp_path / "nope.py"), "--resume", str(run_dir)]) == 2
    assert "--allow-import" in capsys.readouterr().err


# ------------------------------------------------------------------------------- import hygiene
def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
    return out


def test_no_private_helper_is_imported_across_modules():
    bad = [
        f"{path.relative_to(SRC)}:{line}: {module}.{name}"
        for path in SRC.rglob("*.py")
        for line, module, names in _imports(path)
        if module.startswith("ebmlab")
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not bad, bad


def test_no_import_cycles_between_top_level_modules():
    """Edges ``ebmlab.a → ebmlab.b`` from every import, lazy ones included; the graph must be acyclic."""
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        src = path.relative_to(SRC).parts[0].removesuffix(".py")
        for _, module, names in _imports(path):
            parts = module.split(".")
            targets = parts[1:2] if len(parts) > 1 else [n for n in names if module == "ebmlab" and n != "__version__"]
            for dst in targets:
                if parts[0] == "ebmlab" and dst != src and src != "__init__":
                    graph.setdefault(src, set()).add(dst)
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " → ".join([*stack[stack.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
