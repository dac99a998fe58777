"""Atomic, pickle-free checkpoints.

A checkpoint is a directory ``checkpoints/step_XXXXXXX/`` holding

* ``model.safetensors`` — ``method.state_dict()``;
* ``state.safetensors`` — every other tensor: optimiser moments (``optim/<group>/<i>/<key>``), RNG
  states (``rng/method``, ``rng/torch``) and the method's ``extra_state()`` (``extra/<key>``);
* ``trainer.json`` — plain JSON: step, data position, optimiser hyper-parameters, metric
  accumulators, rollback bookkeeping, the SHA-256 of every other file, and (format 2) the SHA-256
  of its own canonical content (``meta_sha256``), so an edit that keeps it valid JSON is caught too;
* ``config.yaml`` — the resolved experiment config.

Nothing is ever unpickled: safetensors and JSON hold only tensors, numbers and strings, so
loading a checkpoint from an untrusted source cannot run code. A checkpoint is written into a
temporary directory, fsynced, and renamed into place with ``os.replace``; then the ``latest``
pointer file is replaced atomically (``durable=False``, a temporary run removed when ``fit`` returns: the same
renames without the fsyncs). A save that fails part-way leaves the previous checkpoints and
the pointer untouched. Corrupt or truncated files raise :class:`~ebmlab.errors.CheckpointError`
naming the file and the previous checkpoint to resume from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ebmlab.errors import CheckpointError
from ebmlab.yaml_io import atomic_write_text, current_umask

__all__ = [
    "CONFIG_FILE",
    "META_FILE",
    "MODEL_FILE",
    "STATE_FILE",
    "Checkpoint",
    "CheckpointManager",
    "meta_digest",
    "optimizer_from_flat",
    "optimizer_to_flat",
    "tensors_for_saving",
]

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.safetensors"
META_FILE = "trainer.json"
CONFIG_FILE = "config.yaml"
POINTER_FILE = "latest"
FORMAT = "ebmlab-checkpoint"
FORMAT_VERSION = 2
_STEP_DIR = re.compile(r"^step_(\d+)$")


def step_name(step: int) -> str:
    """Directory name of the checkpoint at ``step``: ``step_0000100``."""
    return f"step_{step:07d}"


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``model`` (state dict), ``state`` (other tensors), ``meta`` (trainer.json)."""

    step: int
    path: Path
    model: dict[str, Tensor]
    state: dict[str, Tensor]
    meta: dict[str, Any]
    config_text: str | None


# -------------------------------------------------------------------------------------- file I/O
def _save_tensors(tensors: dict[str, Tensor], path: Path) -> None:
    """Write tensors as safetensors (the single writer; tests patch it to fail; the manager fsyncs)."""
    save_file(tensors, str(path))


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return {"sha256": h.hexdigest(), "bytes": path.stat().st_size}


def meta_digest(record: dict[str, Any]) -> str:
    """SHA-256 of ``record`` (without its ``meta_sha256`` key) as canonical JSON (sorted keys, no spaces)."""
    body = {k: v for k, v in record.items() if k != "meta_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tensors_for_saving(tensors: dict[str, Any], what: str) -> dict[str, Tensor]:
    """Detached, contiguous CPU copies (no shared storage, as safetensors requires)."""
    out: dict[str, Tensor] = {}
    for key, value in tensors.items():
        if not isinstance(value, Tensor):
            raise CheckpointError(
                f"{what}[{key!r}] is a {type(value).__name__}, not a tensor; checkpoints hold plain tensors only. "
                "Return tensors (e.g. torch.tensor(count)) from state_dict()/extra_state()."
            )
        out[key] = value.detach().to("cpu", copy=True).contiguous()
    return out


# ------------------------------------------------------------------------------------ optimisers
def optimizer_to_flat(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (``optim/<name>/<i>/<key>``) and JSON."""
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    values: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"optim/{name}/{idx}/{key}"] = value
            else:
                values.setdefault(str(idx), {})[key] = value
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "values": values}


def optimizer_from_flat(
    name: str, optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]
) -> None:
    """Inverse of :func:`optimizer_to_flat`: load the state into ``optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optim/{name}/"
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, sub = key[len(prefix) :].split("/", 1)
            state.setdefault(int(idx), {})[sub] = value
    for idx, entry in meta.get("values", {}).items():
        state.setdefault(int(idx), {}).update(entry)
    groups = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
        for g in meta["param_groups"]
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# --------------------------------------------------------------------------------------- manager
class CheckpointManager:
    """Saves, finds, loads and prunes the checkpoints in ``directory`` (keeps the last ``keep``)."""

    def __init__(self, directory: str | Path, keep: int = 3, durable: bool = True) -> None:
        self.directory = Path(directory)
        self.keep = max(1, int(keep))
        self.durable = durable  # False: no fsync (a temporary run's directory, removed when fit returns)

    # -- listing -------------------------------------------------------------------------------
    def steps(self) -> list[tuple[int, Path]]:
        """Complete checkpoints (with ``trainer.json``), oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for child in self.directory.iterdir():
            m = _STEP_DIR.match(child.name)
            if m and child.is_dir() and (child / META_FILE).exists():
                found.append((int(m.group(1)), child))
        return sorted(found)

    def latest(self) -> Path | None:
        """The checkpoint named by the ``latest`` pointer, else the newest complete one, else None."""
        pointer = self.directory / POINTER_FILE
        if pointer.is_file():  # a damaged pointer (not text, not a step name) falls back to the newest checkpoint
            target = self.directory / pointer.read_bytes().decode("utf-8", errors="replace").strip()
            if _STEP_DIR.match(target.name) and (target / META_FILE).exists():
                return target
        steps = self.steps()
        return steps[-1][1] if steps else None

    def _previous(self, path: Path) -> tuple[int, Path] | None:
        older = [(s, p) for s, p in self.steps() if p.resolve() != path.resolve() and s < _step_of(path)]
        return older[-1] if older else None

    # -- saving --------------------------------------------------------------------------------
    def save(
        self,
        step: int,
        model: dict[str, Tensor],
        state: dict[str, Tensor],
        meta: dict[str, Any],
        config_text: str | None = None,
    ) -> Path:
        """Write the checkpoint of ``step`` atomically, move ``latest`` to it, prune old ones."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / step_name(step)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=self.directory))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; colleagues may read checkpoints
        trash: Path | None = None
        try:
            files = {}
            for fname, tensors in ((MODEL_FILE, model), (STATE_FILE, state)):
                _save_tensors(tensors, tmp / fname)
                if self.durable:
                    _fsync_file(tmp / fname)
                files[fname] = _digest(tmp / fname)
            if config_text is not None:
                atomic_write_text(tmp / CONFIG_FILE, config_text, self.durable)
                files[CONFIG_FILE] = _digest(tmp / CONFIG_FILE)
            record = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta, "step": step, "files": files}
            record["meta_sha256"] = meta_digest(record)
            atomic_write_text(tmp / META_FILE, json.dumps(record, indent=1), self.durable)
            if self.durable:
                _fsync_dir(tmp)
            if final.exists():  # same step saved before (e.g. an orphan of a killed run): swap it out
                trash = self.directory / f".trash-{final.name}-{os.getpid()}"
                os.replace(final, trash)
            os.replace(tmp, final)
            if self.durable:
                _fsync_dir(self.directory)
            atomic_write_text(self.directory / POINTER_FILE, final.name + "\n", self.durable)
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if trash is not None and trash.exists() and not final.exists():
                os.replace(trash, final)
            previous = self.latest()
            kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
            raise CheckpointError(
                f"could not write the checkpoint of step {step} to {final}: {exc}. Nothing was overwritten "
                f"({kept}); fix the cause (disk space, permissions) and resume with `ebmlab train --resume RUN_DIR`."
            ) from exc
        finally:
            if trash is not None and trash.exists():
                shutil.rmtree(trash, ignore_errors=True)
        self.prune()
        return final

    def prune(self) -> None:
        """Delete all but the ``keep`` newest checkpoints (never the ``latest`` one) and stale temp dirs."""
        latest = self.latest()
        steps = self.steps()
        for _, path in steps[: max(0, len(steps) - self.keep)]:
            if latest is None or path.resolve() != latest.resolve():
                shutil.rmtree(path, ignore_errors=True)

    def remove_temporary(self) -> None:
        """Remove leftovers of saves interrupted by a kill (``.tmp-*``, ``.trash-*``)."""
        if self.directory.is_dir():
            for child in self.directory.iterdir():
                if child.name.startswith((".tmp-", ".trash-")):
                    shutil.rmtree(child, ignore_errors=True)

    def remove_after(self, step: int) -> list[Path]:
        """Delete checkpoints newer than ``step`` (orphans of a run killed before moving ``latest``)."""
        removed = [p for s, p in self.steps() if s > step]
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed

    # -- loading -------------------------------------------------------------------------------
    def _corrupt(self, path: Path, fname: str, problem: str) -> CheckpointError:
        previous = self._previous(path)
        if previous is not None:
            fix = f"delete {path} to resume from step {previous[0]} (the previous checkpoint, {previous[1]})"
        else:
            fix = f"delete {path} and start the run again (there is no earlier checkpoint)"
        return CheckpointError(f"checkpoint file {path / fname} is corrupt or truncated ({problem}); {fix}.")

    def load(self, path: str | Path) -> Checkpoint:
        """Read and verify (format, checksums) the checkpoint in directory ``path``."""
        path = Path(path)
        meta_path = path / META_FILE
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(
                f"{path} is not a checkpoint ({META_FILE} is missing); point at a checkpoints/step_* directory."
            ) from None
        except (OSError, ValueError) as exc:
            raise self._corrupt(path, META_FILE, f"unreadable JSON: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or "files" not in meta:
            raise self._corrupt(path, META_FILE, f"not an {FORMAT} file")
        version = meta.get("format_version", 0)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CheckpointError(
                f"{path} was written by a newer ebmlab (checkpoint format {version}, this version "
                f"reads {FORMAT_VERSION}); upgrade ebmlab."
            )
        if (version >= 2 or "meta_sha256" in meta) and meta.get("meta_sha256") != meta_digest(meta):
            raise self._corrupt(path, META_FILE, "its content does not match its own SHA-256 (edited or damaged)")
        named = _STEP_DIR.match(path.name) is not None
        if (
            not isinstance(meta["files"], dict)
            or not isinstance(meta.get("step"), int)
            or (named and meta["step"] != _step_of(path))
        ):
            raise self._corrupt(path, META_FILE, f"step {meta.get('step')!r} does not match the directory {path.name}")
        for fname, info in meta["files"].items():
            if fname not in (MODEL_FILE, STATE_FILE, CONFIG_FILE):
                raise self._corrupt(path, META_FILE, f"it lists an unexpected file {fname!r}")
            fpath = path / fname
            if not fpath.exists():
                raise self._corrupt(path, fname, "file missing")
            found = _digest(fpath)
            if found != info:
                problem = f"{found['bytes']} bytes, expected {info.get('bytes')}; SHA-256 mismatch"
                raise self._corrupt(path, fname, problem)
        model = self._tensors(path, MODEL_FILE)
        state = self._tensors(path, STATE_FILE)
        config_file = path / CONFIG_FILE
        if config_file.exists() and CONFIG_FILE not in meta["files"]:
            raise self._corrupt(path, META_FILE, f"{CONFIG_FILE} is present but not covered by a checksum")
        try:
            config_text = config_file.read_text(encoding="utf-8") if config_file.exists() else None
        except (OSError, UnicodeDecodeError) as exc:
            raise self._corrupt(path, CONFIG_FILE, f"unreadable: {exc}") from None
        return Checkpoint(int(meta["step"]), path, model, state, meta, config_text)

    def _tensors(self, path: Path, fname: str) -> dict[str, Tensor]:
        try:
            return load_file(str(path / fname), device="cpu")
        except Exception as exc:
            raise self._corrupt(path, fname, f"safetensors could not parse it: {exc}") from None


def _step_of(path: Path) -> int:
    m = _STEP_DIR.match(path.name)
    return int(m.group(1)) if m else -1
