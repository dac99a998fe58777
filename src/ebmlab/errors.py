"""Exceptions raised by ebmlab.

Every error says what was expected, what was found, and what to do about it.
The CLI prints ``EbmlabError`` messages as one line instead of a traceback.
"""

from __future__ import annotations


class EbmlabError(Exception):
    """Base class of all errors raised on purpose by ebmlab."""


class ShapeError(EbmlabError, ValueError):
    """A tensor has the wrong shape (e.g. an energy that does not return ``(n,)``)."""


class ConfigError(EbmlabError, ValueError):
    """A configuration value, option or name is invalid."""


class NonFiniteError(EbmlabError, FloatingPointError):
    """Energies, gradients or samples became NaN/inf and could not be handled safely."""


class CheckpointError(EbmlabError, OSError):
    """A checkpoint or saved state is missing, truncated or corrupt."""


class DistributedError(EbmlabError, RuntimeError):
    """A rank of a distributed run died, hung or disagreed with the others."""
