"""Compatibility alias: the configuration mechanics now live in :mod:`ebmlab.schema` (typed conversion,
checks, one-line errors) and :mod:`ebmlab.yaml_io` (YAML parsing, atomic writes, ``--set`` overrides).

Kept so that code written against ``ebmlab.config`` (other branches, user scripts) keeps importing; new code
imports the two modules. Delete once nothing imports ``ebmlab.config``.
"""

from ebmlab.schema import (
    Check,
    at_least,
    convert,
    describe,
    from_dict,
    interval,
    meta,
    nonnegative,
    positive,
    suggest,
    to_dict,
    validate,
)
from ebmlab.yaml_io import (
    apply_overrides,
    atomic_write_text,
    current_umask,
    dump_yaml,
    load_yaml,
    parse_override,
    parse_yaml,
)

__all__ = [
    "Check",
    "apply_overrides",
    "at_least",
    "atomic_write_text",
    "convert",
    "current_umask",
    "describe",
    "dump_yaml",
    "from_dict",
    "interval",
    "load_yaml",
    "meta",
    "nonnegative",
    "parse_override",
    "parse_yaml",
    "positive",
    "suggest",
    "to_dict",
    "validate",
]
