"""The ``ebmlab`` command line.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and ``run(args) -> int``;
the CLI only wires arguments to library calls, so everything it does is one import away in Python.
Errors raised on purpose (:class:`~ebmlab.errors.EbmlabError`) are printed as one line, not a traceback.

Every subcommand takes ``--allow-import MODULE|FILE.py`` (repeatable): the only way to run a user's
code, which registers its components (``register_energy(...)`` ...) before the command runs. Configs
and run directories never name code to import.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from ebmlab import __version__
from ebmlab.errors import EbmlabError

__all__ = ["build_parser", "main"]

#: subcommand modules, in the order shown by ``ebmlab --help``
SUBCOMMANDS = ("demo", "sample", "logz", "train", "complete", "rd", "report")


def plain_text(text: str) -> str:
    """Help text without reST markup: ``code`` → code, :role:`~a.b.Name` → Name."""
    text = re.sub(r":[a-z]+:`~?([^`]*?)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return text.replace("``", "")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        self.exit(2, f"ebmlab: error: {message} (see `{self.prog} --help`)\n")

    def format_help(self) -> str:  # docstrings are reST; the terminal gets plain text
        return plain_text(super().format_help())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ebmlab", description="Learn, sample and measure Boltzmann distributions p(x) ∝ exp(-E(x)).")
    parser.add_argument("--version", action="version", version=f"ebmlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"ebmlab.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ebmlab.cli.{name}":
                raise
            continue
        module.add_parser(sub)
        sub.choices[name].add_argument(
            "--allow-import",
            action="append",
            default=[],
            metavar="MODULE|FILE.py",
            help="import your module (or file) first so that it registers its components (repeatable)",
        )
    return parser


def set_threads() -> None:
    """One intra-op thread per process unless ``EBMLAB_NUM_THREADS`` (0: torch's default) or ``OMP_NUM_THREADS``
    says otherwise: on a shared machine torch's default (one spinning thread per core) collapses when two jobs
    run at once (measured in docs/performance.md), while one thread per process barely slows down."""
    value = os.environ.get("EBMLAB_NUM_THREADS")
    if value is None and "OMP_NUM_THREADS" in os.environ:
        return
    try:
        n = 1 if value is None else int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise EbmlabError(f"EBMLAB_NUM_THREADS: expected an integer >= 0 (0: torch's default), got {value!r}.")
    if n > 0:
        import torch

        torch.set_num_threads(n)


def set_allocator() -> None:
    """Keep freed memory in the process (:func:`ebmlab.allocator.tune_malloc`) unless ``EBMLAB_MALLOC=system`` or
    the environment sets glibc's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``: large batches then
    reuse their pages instead of faulting in fresh ones on every energy evaluation (docs/performance.md)."""
    value = os.environ.get("EBMLAB_MALLOC", "tuned")
    if value not in ("tuned", "system"):
        raise EbmlabError(f"EBMLAB_MALLOC: expected 'tuned' (the default) or 'system', got {value!r}.")
    if value == "system" or any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return
    from ebmlab.allocator import tune_malloc

    tune_malloc()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.allow_import:
            from ebmlab.experiments.registry import allow_import

            for spec in args.allow_import:
                allow_import(spec)
        set_threads()
        set_allocator()
        return int(args.run(args) or 0)
    except EbmlabError as exc:
        print(f"ebmlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            f"ebmlab {args.command}: error: out of memory; lower the size options (--chains, --samples, -n).",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:  # a file the user named cannot be read or written (permissions, disk full, ...)
        where = f" {exc.filename}" if exc.filename else ""
        print(f"ebmlab {args.command}: error:{where}: {exc.strerror or exc}.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ebmlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
