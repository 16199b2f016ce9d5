"""Lint inputs: .sql files, directories, stdin, and the raw_sql of liveshift migration files."""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveshift.errors import LiveshiftError
from liveshift.linter.finding import Finding
from liveshift.linter.source import Source

SQL_SUFFIXES = frozenset({".sql"})
MIGRATION_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
RAW_SQL_WITHOUT_DOWN = "raw-sql-without-down"


class LintInputError(LiveshiftError):
    """A lint input cannot be read (missing, unreadable, not UTF-8, not a migration file)."""


@dataclass
class LintInput:
    """One file to lint: its display name, and the SQL sources it holds."""

    name: str
    sources: list[Source]
    findings: list[Finding]  # found while reading (raw_sql without down)


def expand_paths(paths: list[str], exclude: tuple[str, ...] = ()) -> Iterator[Path | None]:
    """Files named, and .sql / migration files under directories; None stands for stdin."""
    for raw in paths:
        if raw == "-":
            yield None
            continue
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                wanted = child.suffix in SQL_SUFFIXES | MIGRATION_SUFFIXES
                if wanted and child.is_file() and not _excluded(child, exclude):
                    yield child
        elif not _excluded(path, exclude):
            yield path


def _excluded(path: Path, patterns: tuple[str, ...]) -> bool:
    text = path.as_posix()
    return any(fnmatch.fnmatch(text, p) or fnmatch.fnmatch(path.name, p) for p in patterns)


def read_input(path: Path | None, *, explicit: bool = True) -> LintInput | None:
    """Read one input; None for a YAML/JSON file found in a directory that is not a migration."""
    if path is None:
        return LintInput("<stdin>", [Source(sys.stdin.read(), "<stdin>")], [])
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LintInputError(f"No such file: {name}", file=name) from None
    except IsADirectoryError:
        raise LintInputError(f"{name} is a directory.", file=name) from None
    except UnicodeDecodeError as exc:
        raise LintInputError(
            f"{name} is not UTF-8 text (byte {exc.start}).", file=name,
            hint="Convert it to UTF-8 before linting.",
        ) from None  # fmt: skip
    except OSError as exc:
        raise LintInputError(f"Cannot read {name}: {exc.strerror}", file=name) from None
    if path.suffix in MIGRATION_SUFFIXES:
        return read_migration(name, text, explicit=explicit)
    return LintInput(name, [Source(text, name)], [])


def read_migration(name: str, text: str, *, explicit: bool = True) -> LintInput | None:
    """The raw_sql `up`/`down` SQL of a liveshift migration file, each mapped to its file lines."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        if not explicit:
            return None
        mark = getattr(exc, "problem_mark", None)
        raise LintInputError(
            f"{name} is not valid YAML/JSON: {getattr(exc, 'problem', exc)}",
            file=name,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    operations = _mapping_get(root, "operations")
    if not isinstance(operations, yaml.SequenceNode):
        if not explicit:
            return None
        raise LintInputError(
            f"{name} is not a liveshift migration file: it has no `operations` list.", file=name
        )
    result = LintInput(name, [], [])
    for operation in operations.value:
        raw = _mapping_get(operation, "raw_sql")
        if raw is None:
            continue
        up = _mapping_get(raw, "up")
        down = _mapping_get(raw, "down")
        for scalar in (up, down):
            if isinstance(scalar, yaml.ScalarNode) and isinstance(scalar.value, str):
                result.sources.append(_scalar_source(name, text, scalar))
        if up is not None and down is None:
            from liveshift.linter.registry import rules_by_id

            rule = rules_by_id()[RAW_SQL_WITHOUT_DOWN]
            mark = operation.start_mark
            result.findings.append(
                Finding(
                    rule.id, rule.severity,
                    "This raw_sql operation has `up` SQL but no `down`: `liveshift rollback` "
                    "cannot undo it.",
                    rule.help, name, mark.line + 1, mark.column + 1,
                )
            )  # fmt: skip
    return result


def _mapping_get(node: Any, key: str) -> Any:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _scalar_source(name: str, text: str, scalar: Any) -> Source:
    mark = scalar.start_mark
    if scalar.style in ("|", ">"):
        # A block scalar's content starts on the next line, indented uniformly.
        lines = text.splitlines()
        first = mark.line + 1
        while first < len(lines) and not lines[first].strip():
            first += 1
        indent = len(lines[first]) - len(lines[first].lstrip()) if first < len(lines) else 0
        return Source(scalar.value, name, line_offset=mark.line + 1, column_offset=indent)
    quote = 1 if scalar.style in ("'", '"') else 0
    return Source(scalar.value, name, line_offset=mark.line, column_offset=mark.column + quote)


@dataclass
class LintRun:
    """The outcome of linting a set of paths."""

    findings: list[Finding]
    files: int
    statements: int
    input_errors: list[LiveshiftError]


def lint_paths(paths: list[str], linter: Any, exclude_paths: tuple[str, ...] = ()) -> LintRun:
    """Lint every input under `paths` with a Linter; unreadable inputs are collected, not raised."""
    findings: list[Finding] = []
    errors: list[LiveshiftError] = []
    files = 0
    for path in expand_paths(paths, exclude_paths):
        explicit = path is None or str(path) in paths
        try:
            if path is not None and not path.exists():
                raise LintInputError(f"No such file or directory: {path}", file=str(path))
            lint_input = read_input(path, explicit=explicit)
        except LiveshiftError as exc:
            errors.append(exc)
            continue
        if lint_input is None:
            continue
        files += 1
        findings.extend(lint_input.findings)
        for source in lint_input.sources:
            findings.extend(f for f in linter.lint(source) if f.rule not in linter.options.exclude)
    findings.sort(key=lambda f: (f.file or "", f.line, f.column, f.rule))
    return LintRun(findings, files, linter.statements_seen, errors)
