"""`liveshift lint`'s options as an argparse subcommand (add_parser): its help, its usage errors,
and every command line linter.argv does not read itself."""

from __future__ import annotations

import argparse
import os
import sys

from liveshift.linter.argv import COLORS, DIALECTS, FORMATS, job_count

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, finding the terminal's width without importing shutil.

    argparse makes a formatter for every add_argument (to check the metavar), and the default
    one imports shutil (and with it zlib, bz2 and lzma) for the width: 2 ms of `liveshift lint`.
    """

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2  # as argparse does
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the terminal's width, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `lint` subcommand; cheap, so the main CLI can call it on every start."""
    parser = subparsers.add_parser(
        "lint",
        formatter_class=HelpFormatter,
        help="flag dangerous statements in SQL migrations before they ship",
        description="Lint SQL migrations (.sql files, liveshift migration files' raw_sql, or - "
        "for stdin) for statements that would stall traffic, rewrite tables, break running "
        "clients or lose data. Exit 0: no error-level finding; 1: findings; 2: unreadable input.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files, directories, or -")
    parser.add_argument(
        "--dialect", default="postgres", choices=DIALECTS, help="SQL dialect (postgres)"
    )
    parser.add_argument(
        "--pg-version", type=int, default=None, metavar="N",
        help="major version of the target PostgreSQL (default: pyproject, else 17)",
    )  # fmt: skip
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="RULE",
        help="skip a rule (repeatable, or comma-separated)",
    )  # fmt: skip
    parser.add_argument(
        "--assume-in-transaction", action="store_true", default=None,
        help="the SQL runs inside a transaction block it does not show (Django, Alembic)",
    )  # fmt: skip
    parser.add_argument("--config", metavar="FILE", help="read settings from FILE")
    parser.add_argument("--color", choices=COLORS, default="auto", help="colour text output")
    parser.add_argument("--list-rules", action="store_true", help="print the rules and exit")
    fixing = parser.add_mutually_exclusive_group()
    fixing.add_argument(
        "--fix", action="store_true",
        help="rewrite .sql files in place where a rule has a safe automatic fix, then report "
        "what is left",
    )  # fmt: skip
    fixing.add_argument(
        "--diff", action="store_true",
        help="print the automatic fixes as a unified diff instead of writing them (exit 1 if "
        "there are any)",
    )  # fmt: skip
    parser.add_argument(
        "--no-cache", action="store_true",
        help="lint every file afresh (default: reuse the findings of unchanged files from "
        "$LIVESHIFT_CACHE_DIR, else ~/.cache/liveshift)",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", "-j", type=_job_count, default=None, metavar="N",
        help="lint in up to N processes (default: one per CPU when there are enough files; "
        "1: in this process only)",
    )  # fmt: skip
    parser.add_argument(
        "--trace", action="store_true",
        help="also run the statements in a scratch database and report locks and rewrites",
    )  # fmt: skip
    parser.add_argument(
        "--database-url", metavar="URL",
        help="with --trace: copy the schema of the tables the SQL touches from this database",
    )  # fmt: skip
    from liveshift.linter.command import run

    parser.set_defaults(func=run, handler=run)


def _job_count(text: str) -> int:
    try:
        return job_count(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of processes, 1 or more: {text!r}"
        ) from None
