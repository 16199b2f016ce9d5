"""linter.argv reads the usual `liveshift lint` command lines exactly as the argparse parser does,
and hands every other one to it."""

from __future__ import annotations

import argparse
import itertools
import random

import pytest

from liveshift.cli import _lint_only_parser
from liveshift.linter.arguments import add_parser
from liveshift.linter.argv import parse_lint_argv

TOKENS = [
    "a.sql", "dir", "-", "", "--format", "json", "--format=sarif", "--format=xml", "--format=",
    "text", "--pg-version", "15", "--pg-version=9", "--pg-version", "x", "--exclude",
    "drop-table", "--exclude=truncate,cluster", "--assume-in-transaction", "--config",
    "p.toml", "--color", "never", "--color=always", "--list-rules", "--fix", "--diff",
    "--no-cache", "--trace", "--database-url", "postgres://h/db", "--jobs", "2", "--jobs=0",
    "-j", "3", "-j4", "-j=1", "-jx", "--dialect", "postgres", "--dialect=mysql", "--no-c",
    "--form", "-h", "--help", "--", "-1", "--debug", "--unknown", "-x", "--fix=1", "lint",
]  # fmt: skip


def argparse_namespace(argv: list[str]) -> dict[str, object] | None:
    """What `liveshift ARGV` parses to with argparse, or None when argparse rejects it."""
    parser = _lint_only_parser()
    try:
        return vars(parser.parse_args(argv))
    except SystemExit:
        return None


@pytest.fixture(autouse=True)
def quiet_argparse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(argparse.ArgumentParser, "_print_message", lambda *a, **k: None)


def check(argv: list[str]) -> bool:
    """Same result as argparse, or handed over; True when read without argparse."""
    fast = parse_lint_argv(argv)
    if fast is None:
        return False
    assert vars(fast) == argparse_namespace(argv), argv
    return True


def test_usual_command_lines_are_read_without_argparse() -> None:
    usual = [
        ["lint", "migrations"],
        ["lint", "--format", "json", "--no-cache", "a.sql", "b.sql"],
        ["--debug", "lint", "a.sql", "--jobs", "2"],
        ["lint", "--exclude", "drop-table", "--exclude=truncate,cluster", "-j4", "-"],
        ["lint", "--pg-version=15", "--assume-in-transaction", "--config", "p.toml", "x.sql"],
        ["lint", "--fix", "--color", "never", "--dialect", "postgres", "d"],
        ["lint", "--trace", "--database-url", "postgres://h/db", "--list-rules"],
        ["lint", "--config", "-", "a.sql"],
        ["lint"],
    ]
    for argv in usual:
        assert check(argv), argv


def test_everything_else_is_left_to_argparse() -> None:
    for argv in (
        ["lint", "--help"], ["lint", "--no-c", "a"], ["lint", "a", "--fix", "b"],
        ["lint", "--fix", "--diff", "a"], ["lint", "--jobs", "0", "a"], ["lint", "-j", "-1"],
        ["lint", "--format", "xml"], ["lint", "--", "a"], ["lint", "--pg-version", "x"],
        ["lint", "--format"], ["lint", "--config", "--fix"], ["lint", "--debug", "a"],
        ["lint", "--fix=1"], ["plan", "a"], [],
    ):  # fmt: skip
        assert parse_lint_argv(argv) is None, argv


def test_same_as_argparse_on_many_command_lines() -> None:
    rng = random.Random(7)
    read = 0
    for length in range(5):
        for words in itertools.product(TOKENS, repeat=length) if length < 2 else ():
            read += check(["lint", *words])
    for _ in range(4000):
        words = rng.choices(TOKENS, k=rng.randint(0, 7))
        prefix = ["--debug"] * rng.randint(0, 1)
        read += check([*prefix, "lint", *words])
    assert read > 500  # the comparison ran on many lines that argv reads itself


def test_python_m_linter_arguments() -> None:
    parser = argparse.ArgumentParser(prog="liveshift")
    add_parser(parser.add_subparsers(dest="command", required=True))
    argv = ["--format", "json", "-j", "2", "a.sql"]
    fast = parse_lint_argv(argv, top_level=False)
    assert fast is not None
    assert vars(fast) == vars(parser.parse_args(["lint", *argv]))
