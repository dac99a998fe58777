"""YAML in and out, safely: parsing with duplicate-key detection, atomic writes, ``--set`` overrides.

Everything is read with PyYAML's safe loader (nothing read from a file can import or run code), and a
key repeated in one mapping is an error rather than "last wins". Files are written atomically (temp
file + ``os.replace``), so readers see the old or the new content, never a torn file. ``--set
key.path=value`` overrides are parsed by :func:`parse_override` (values as YAML scalars) and applied to
the raw mapping by :func:`apply_overrides` before validation (:func:`ebmlab.schema.from_dict`). Every
failure is one :class:`~ebmlab.errors.ConfigError` line naming the file (and line) or the key.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ebmlab.errors import ConfigError
from ebmlab.outputs import atomic_write_bytes, current_umask
from ebmlab.schema import to_dict

__all__ = [
    "apply_overrides",
    "atomic_write_text",
    "current_umask",
    "dump_yaml",
    "load_yaml",
    "parse_override",
    "parse_yaml",
]


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key repeated in one mapping is an error (not "last wins")."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: let PyYAML report it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {first.line + 1}); keep one of them",
                    key_node.start_mark,
                )  # fmt: skip
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """Safe-load YAML ``text`` (duplicate keys are errors); errors name ``source`` and the line, in one line."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}{where}: invalid YAML ({' '.join(str(problem).split())}).") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path``; errors name the file (and line) in one line."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {str(path)!r} is a directory; pass the YAML file inside it.")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} not found; check the path.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text (damaged, or not a YAML file).") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}.") from None
    data = parse_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, method, train, ...), got {data!r}")
    return data


def dump_yaml(data: Mapping[str, Any], path: str | Path, durable: bool = True) -> None:
    """Write ``data`` as YAML atomically (temp file + ``os.replace``; ``durable``: see :func:`atomic_write_text`)."""
    path = Path(path)
    text = yaml.safe_dump(to_dict(data), sort_keys=False, default_flow_style=None)
    atomic_write_text(path, text, durable)


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that readers see either the old or the new file, never a torn one
    (:func:`ebmlab.outputs.atomic_write_bytes`; ``durable``: fsync before the rename)."""
    atomic_write_bytes(path, text.encode("utf-8"), durable)


# -------------------------------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``"train.lr=1e-3"`` → ``(("train", "lr"), "1e-3")``: the value is parsed as a YAML scalar or flow
    collection (``[64, 64]``, ``{a: 1}``), so ``true``/``null``/numbers get their YAML types."""
    key, sep, raw = text.partition("=")
    parts = tuple(p.strip() for p in key.strip().split("."))
    if not sep or not key.strip() or any(not p for p in parts):
        raise ConfigError(f"--set expects key.path=value (e.g. train.lr=0.001), got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}: cannot parse value {raw!r} as YAML; quote strings with '...'.") from None
    return parts, value


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with each ``key.path=value`` override set (intermediate sections created)."""
    result = copy.deepcopy(dict(data))
    for text in overrides:
        parts, value = parse_override(text)
        node = result
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif isinstance(child, str) and i == 0:  # shorthand `method: cd` → `{name: cd}`
                child = node[part] = {"name": child}
            if not isinstance(child, dict):
                prefix = ".".join(parts[: i + 1])
                raise ConfigError(f"--set {'.'.join(parts)}: {prefix} is {child!r}, not a section with keys")
            node = child
        node[parts[-1]] = value
    return result
