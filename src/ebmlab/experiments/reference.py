"""The config reference (Markdown tables generated from the config dataclasses).

``python -m ebmlab.experiments.reference`` prints the tables included in ``docs/training.md``; a test
checks that the docs hold the current output, so the reference cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import typing

import yaml

from ebmlab.experiments.spec import ExperimentConfig
from ebmlab.schema import describe, to_dict
from ebmlab.training.options import GroupConfig, TrainConfig

__all__ = ["config_reference", "reference_markdown"]


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        if dataclasses.is_dataclass(value):
            return "see below"
    else:
        return "required"
    text = yaml.safe_dump(to_dict(value), default_flow_style=True, width=1000).strip()
    return f"`{text.removesuffix('...').strip()}`"


def config_reference(cls: type, prefix: str) -> str:
    """A Markdown table of ``cls``'s keys (as ``prefix.key``), accepted values, defaults, help."""
    hints = typing.get_type_hints(cls)
    rows = ["| key | accepts | default | meaning |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        accepts = describe(hints[f.name], f.metadata.get("check")).replace("|", "\\|")
        help_text = f.metadata.get("help", "").replace("|", "\\|")
        rows.append(f"| `{key}` | {accepts} | {_default(f)} | {help_text} |")
    return "\n".join(rows) + "\n"


def reference_markdown() -> str:
    """All three tables: top level, ``train``, ``train.groups.<name>``."""
    return "\n".join(
        [
            "#### Top level\n",
            config_reference(ExperimentConfig, ""),
            "#### `train`\n",
            config_reference(TrainConfig, "train"),
            "#### `train.groups.<name>`\n",
            config_reference(GroupConfig, "train.groups.<name>"),
        ]
    )


if __name__ == "__main__":
    print(reference_markdown(), end="")
