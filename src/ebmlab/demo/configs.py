"""The YAML configs the demo sections read: the full experiments' own configs, scaled down by explicit
``key.path=value`` overrides that the report shows.

In a source checkout they are read from the repository's ``configs/``; in an installed package from
``ebmlab.configs`` (the same files, shipped as package data).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ebmlab.errors import ConfigError
from ebmlab.yaml_io import apply_overrides, load_yaml

__all__ = ["config_file", "load_config"]

_REPO_CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def config_file(name: str) -> Path:
    """The path of ``configs/<name>.yaml`` (source checkout first, then the installed package data)."""
    local = _REPO_CONFIGS / f"{name}.yaml"
    if local.exists():
        return local
    packaged = Path(str(resources.files("ebmlab.configs") / f"{name}.yaml"))
    if packaged.exists():
        return packaged
    raise ConfigError(f"demo config {name}.yaml not found in {_REPO_CONFIGS} nor in ebmlab.configs; reinstall ebmlab.")


def load_config(name: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The config ``name`` as a mapping with ``overrides`` applied (validated when it is built)."""
    return apply_overrides(load_yaml(config_file(name)), overrides)
