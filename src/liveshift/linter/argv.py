"""`liveshift lint`'s arguments read without argparse, for the usual command lines.

argparse (with the `re`, `gettext` and `locale` it imports) and building the lint parser are
about a tenth of the start-up of `liveshift lint`. `parse_lint_argv` reads a command line made
of exact option names, their values and one run of paths, into what argparse would return;
for anything else (help, an abbreviation, a bad value, `--`, a second run of paths) it returns
None and the caller uses the argparse parser (linter.arguments), which prints the usage or
the error. tests/linter/test_argv.py holds the two to the same results.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

FORMATS = ("text", "json", "sarif", "github")
DIALECTS = ("postgres",)
COLORS = ("auto", "always", "never")

# Options without a value (store_true), and the attribute each sets.
_FLAGS = {
    "--assume-in-transaction": "assume_in_transaction",
    "--list-rules": "list_rules",
    "--fix": "fix",
    "--diff": "diff",
    "--no-cache": "no_cache",
    "--trace": "trace",
}
# Options with one value, and the attribute each sets.
_VALUED = {
    "--dialect": "dialect",
    "--pg-version": "pg_version",
    "--format": "format",
    "--exclude": "exclude",
    "--config": "config",
    "--color": "color",
    "--jobs": "jobs",
    "-j": "jobs",
    "--database-url": "database_url",
}
_CHOICES = {"dialect": DIALECTS, "format": FORMATS, "color": COLORS}


class LintArguments:
    """The parsed command line, with the attributes of argparse's Namespace for `lint`."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...

    def __repr__(self) -> str:
        return f"LintArguments({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


def job_count(text: str) -> int:
    """The value of --jobs: a whole number, 1 or more; ValueError otherwise."""
    count = int(text)
    if count < 1:
        raise ValueError(text)
    return count


def parse_lint_argv(argv: Sequence[str], *, top_level: bool = True) -> LintArguments | None:
    """`liveshift [--debug] lint ARGS` (or, with top_level False, just ARGS) as argparse would
    parse it, or None when this reader does not handle the command line."""
    from liveshift.linter.command import run

    index = 0
    values: dict[str, object] = {"command": "lint"}
    if top_level:
        debug = False
        while index < len(argv) and argv[index] == "--debug":
            debug = True
            index += 1
        if index == len(argv) or argv[index] != "lint":
            return None
        index += 1
        values["debug"] = debug
    values.update(
        paths=[], dialect="postgres", pg_version=None, format="text", exclude=[],
        assume_in_transaction=None, config=None, color="auto", list_rules=False, fix=False,
        diff=False, no_cache=False, jobs=None, trace=False, database_url=None,
        func=run, handler=run,
    )  # fmt: skip
    paths: list[str] = []
    paths_ended = False  # argparse takes the paths (nargs="*") once: a second run is an error
    while index < len(argv):
        token = argv[index]
        index += 1
        if token == "-" or not token.startswith("-"):
            if paths_ended:
                return None
            paths.append(token)
            continue
        if paths:
            paths_ended = True
        name, equals, value = token.partition("=")
        if name in _FLAGS and not equals:
            values[_FLAGS[name]] = True
            continue
        if name in _VALUED:
            if not equals:
                if index == len(argv) or (argv[index].startswith("-") and argv[index] != "-"):
                    return None
                value = argv[index]
                index += 1
        elif name.startswith("-j") and not name.startswith("--") and not equals:
            name, value = "-j", name[2:]  # -j4
        else:
            return None
        key = _VALUED[name]
        if key in _CHOICES:
            if value not in _CHOICES[key]:
                return None
            values[key] = value
        elif key == "exclude":
            values["exclude"].append(value)  # type: ignore[attr-defined]
        elif key in ("pg_version", "jobs"):
            try:
                values[key] = int(value) if key == "pg_version" else job_count(value)
            except ValueError:
                return None
        else:
            values[key] = value
    if values["fix"] and values["diff"]:
        return None  # argparse: not allowed together
    values["paths"] = paths
    return LintArguments(**values)
