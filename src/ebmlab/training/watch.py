"""Keys named in the open maps of ``train`` (``monitor``, ``max_abs``) must be keys the method logs.

Which keys a method logs is known only once it has run a step, so :func:`check_watched_keys` runs
after the first step: a typo (``--set train.monitor=[losss]``) is an error naming the valid keys,
not a monitor that silently watches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from ebmlab.errors import ConfigError
from ebmlab.schema import suggest
from ebmlab.training.options import DEFAULT_MAX_ABS, TrainConfig

__all__ = ["check_watched_keys"]


def check_watched_keys(config: TrainConfig, logged: Iterable[str], method: str) -> None:
    """Raise a ConfigError for a ``train.monitor`` entry or a non-default ``train.max_abs`` key not in ``logged``."""
    valid = sorted(set(logged))
    named = [("train.monitor", k) for k in (config.monitor or [])]
    named += [("train.max_abs", k) for k in config.max_abs if k not in DEFAULT_MAX_ABS]
    for where, key in named:
        if key not in valid:
            raise ConfigError(
                f"{where}: {method} logs no key {key!r}; {suggest(key, valid)}logged keys: {', '.join(valid)}."
            )
