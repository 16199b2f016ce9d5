"""Lint inputs: .sql files, directories, stdin, and the raw_sql of liveshift migration files."""

from __future__ import annotations

import os
import sys

from liveshift.errors import LiveshiftError
from liveshift.linter.finding import Finding

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import Any

    from liveshift.linter.cache import LintCache
    from liveshift.linter.engine import Linter
    from liveshift.linter.source import Source

SQL_SUFFIXES = frozenset({".sql"})
MIGRATION_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
# The same, for str.endswith: a name that does not end with one of them has no such suffix, and
# one that does and does not start with a dot has it (os.path.splitext counts a final dot that
# only dots precede as part of the name). Checked per file before os.path.splitext, whose
# Python code was a third of listing a directory.
_LINT_ENDINGS = tuple(SQL_SUFFIXES | MIGRATION_SUFFIXES)
_MIGRATION_ENDINGS = tuple(MIGRATION_SUFFIXES)
RAW_SQL_WITHOUT_DOWN = "raw-sql-without-down"


class LintInputError(LiveshiftError):
    """A lint input cannot be read (missing, unreadable, not UTF-8, not a migration file)."""


class LintInput:
    """One file to lint: its display name, and the SQL sources it holds."""

    __slots__ = ("name", "sources", "findings")  # noqa: RUF023 - field order

    def __init__(self, name: str, sources: list[Source], findings: list[Finding]) -> None:
        self.name = name
        self.sources = sources
        self.findings = findings  # found while reading (raw_sql without down)


def expand_paths(paths: list[str], exclude: tuple[str, ...] = ()) -> Iterator[Path | None]:
    """Files named, and .sql / migration files under directories; None stands for stdin."""
    from pathlib import Path

    for name in expand_names(paths, exclude):
        yield None if name is None else Path(name)


def expand_names(paths: list[str], exclude: tuple[str, ...]) -> Iterator[str | None]:
    """expand_paths, as the strings str(Path) would give (no Path built per file)."""
    for raw in paths:
        if raw == "-":
            yield None
            continue
        base = normal_path(raw)
        if os.path.isdir(base):
            for child in _files_under(base):
                if not exclude or not _excluded(child, exclude):
                    yield child
        elif not _excluded(base, exclude):
            yield base


def normal_path(raw: str) -> str:
    """`str(Path(raw))`, without importing pathlib on POSIX systems: no `.` parts, no repeated or
    trailing `/` (`..` stays, as it may cross a symbolic link); `//` at the start is kept."""
    if os.sep != "/":  # pragma: no cover - Windows: drives, UNC names, two separators
        from pathlib import Path

        return str(Path(raw))
    root = ""
    if raw.startswith("/"):
        root = "//" if raw.startswith("//") and not raw.startswith("///") else "/"
    return root + "/".join(part for part in raw.split("/") if part and part != ".") or "."


def _files_under(directory: str) -> list[str]:
    """Lint files below `directory` (normalized as str(Path) does), in the order of
    sorted(Path(directory).rglob("*")), named as str() of those paths.

    os.scandir gives the file type without a stat per entry. Path ordering compares the parts
    of the names (split at `/`) one by one; the names with `/` replaced by NUL, which no name
    holds and which sorts before every other character, compare as their parts do, as one
    string each: sorting 1,000 lists of parts was 16 million instructions, before any file is
    linted.
    """
    found: list[tuple[str, str]] = []
    pending = [directory]
    while pending:
        current = pending.pop()
        # Names as str(Path) gives them: no "./" in front, one separator between parts.
        prefix = "" if current == "." else current.rstrip(os.sep) + os.sep
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    name = prefix + entry.name
                    # Like Path.rglob: no descent into symbolic links to directories.
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(name)
                    elif _has_lint_suffix(entry.name) and entry.is_file():
                        found.append((name.replace(os.sep, "\0"), name))
        except OSError:
            continue  # unreadable directory: rglob skips it too
    found.sort()
    return [name for _key, name in found]


def _has_lint_suffix(name: str) -> bool:
    """Whether a file name (no directory) has a suffix the linter reads, as Path.suffix says."""
    if not name.endswith(_LINT_ENDINGS):
        return False
    return not name.startswith(".") or os.path.splitext(name)[1] in _LINT_ENDINGS


def _excluded(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether a path (normalized) or its file name matches a pattern."""
    if not patterns:
        return False
    import fnmatch  # only with exclude patterns: it imports `re`

    text = name.replace(os.sep, "/")
    base = os.path.basename(name)
    return any(fnmatch.fnmatch(text, p) or fnmatch.fnmatch(base, p) for p in patterns)


def read_input(path: Path | None, *, explicit: bool = True) -> LintInput | None:
    """Read one input; None for a YAML/JSON file found in a directory that is not a migration."""
    if path is None:
        return _stdin_input()
    return decode_input(path, read_bytes(path), explicit=explicit)


def _stdin_input() -> LintInput:
    from liveshift.linter.source import Source

    return LintInput("<stdin>", [Source(sys.stdin.read(), "<stdin>")], [])


_READ_SIZE = 1 << 16
# Worked out once: getattr with a default for a name the module lacks (O_BINARY exists only on
# Windows) raises and catches an AttributeError, half a microsecond for every file.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def read_bytes(path: Path | str, regular: bool = False) -> bytes:
    """A file's bytes: the parser's offsets are byte offsets, and line endings stay as written.

    `regular`: the path was a regular file when the directory was listed. A read from a regular
    file returns less than asked for only at its end, so the read that would return nothing is
    skipped (a named path may be a pipe, where a short read is not the end).
    """
    name = str(path)
    try:
        # os.read rather than open(): no file object and buffer per file, half the time.
        descriptor = os.open(name, _OPEN_FLAGS)
        try:
            part = os.read(descriptor, _READ_SIZE)
            if regular and len(part) < _READ_SIZE:
                return part
            parts = [part]
            while part:
                part = os.read(descriptor, _READ_SIZE)
                parts.append(part)
        finally:
            os.close(descriptor)
        return b"".join(parts)
    except FileNotFoundError:
        raise LintInputError(f"No such file: {name}", file=name) from None
    except IsADirectoryError:
        raise LintInputError(f"{name} is a directory.", file=name) from None
    except OSError as exc:
        raise LintInputError(f"Cannot read {name}: {exc.strerror}", file=name) from None


def input_kind(path: Path | str) -> str:
    name = os.fspath(path)
    if not name.endswith(_MIGRATION_ENDINGS):
        return "sql"  # the usual case, without splitext (see _LINT_ENDINGS)
    suffix = os.path.splitext(name)[1]  # as Path.suffix: a leading dot is not a suffix
    return "migration" if suffix in MIGRATION_SUFFIXES else "sql"


def decode_input(path: Path | str, data: bytes, *, explicit: bool = True) -> LintInput | None:
    """The SQL sources of a file's bytes (a .sql file, or a migration file's raw_sql)."""
    name = str(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LintInputError(
            f"{name} is not UTF-8 text (byte {exc.start}).", file=name,
            hint="Convert it to UTF-8 before linting.",
        ) from None  # fmt: skip
    if input_kind(path) == "migration":
        return read_migration(name, text, explicit=explicit)
    return LintInput(name, [_source_type()(text, name, data=data)], [])


_Source: type[Source] | None = None


def _source_type() -> type[Source]:
    """liveshift.linter.source.Source, imported on first use (it imports the parser, which a run
    that the cache answers never needs). Not a `from ... import` in decode_input: run once per
    file, that made the import system look for `__path__` on the module and build and drop an
    AttributeError each time, 8,000 instructions per file."""
    global _Source
    if _Source is None:
        from liveshift.linter.source import Source

        _Source = Source
    return _Source


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
    from liveshift.linter.source import Source

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


class LintRun:
    """The outcome of linting a set of paths."""

    __slots__ = ("findings", "files", "statements", "input_errors")  # noqa: RUF023 - field order

    def __init__(
        self,
        findings: list[Finding],
        files: int,
        statements: int,
        input_errors: list[LiveshiftError],
    ) -> None:
        self.findings = findings
        self.files = files
        self.statements = statements
        self.input_errors = input_errors


if TYPE_CHECKING:
    # What linting one file gives, in a form that pickles small: its statement count and its
    # findings as rows (Finding.to_row), an input error, or None for a YAML/JSON file found in
    # a directory that is not a migration file.
    Outcome = tuple[int, list[tuple[Any, ...]]] | LiveshiftError | None

# A forked process costs about 8 ms of CPU (pages copied on write, results sent back), and
# linting a file about 70 us: with fewer files per process, forking costs more than it saves.
MIN_FILES_PER_JOB = 100


def lint_paths(
    paths: list[str],
    make_linter: Callable[[], Linter],
    exclude_paths: tuple[str, ...] = (),
    cache: LintCache | None = None,
    jobs: int | None = None,
) -> LintRun:
    """Lint every input under `paths`; unreadable inputs are collected, not raised.

    The cache is asked first; the Linter is made only if some input is left, so that a run
    answered entirely from the cache never imports the parser or the rules. What is left is
    linted by up to `jobs` processes (None: one per CPU when there are enough files), with the
    same result as linting it in this process, one input after another.
    """
    run = LintRun([], 0, 0, [])
    # Per input, in order: a cache hit (statements, findings), an error, or the position of
    # the input in `work` (what is left to lint: path, explicit, bytes when already read).
    slots: list[tuple[int, list[Finding]] | LiveshiftError | int] = []
    work: list[tuple[str | None, bool, bytes | None]] = []
    keys: list[str | None] = []
    for path in expand_names(paths, exclude_paths):
        explicit = path is None or path in paths
        key = data = None
        if path is not None:
            try:
                # Files found in a directory exist; read_bytes reports one that vanished since.
                if explicit and not os.path.exists(path):
                    raise LintInputError(f"No such file or directory: {path}", file=path)
                if cache is not None:
                    key, data = cache.file_key(path, input_kind(path), read_bytes)
                    hit = cache.get(key, path)
                    if hit is not None:
                        slots.append(hit)
                        continue
            except LiveshiftError as exc:
                slots.append(exc)
                continue
        slots.append(len(work))
        work.append((path, explicit, data))
        keys.append(key)
    outcomes: list[Outcome] = []
    if work:
        linter = make_linter()
        if any(path is None for path, _explicit, _data in work):
            jobs = 1  # standard input is read here, and only once
        elif jobs is None:
            jobs = _auto_jobs(len(work))
        if jobs > 1:
            from liveshift.linter.parallel import map_in_processes

            def lint_one(item: tuple[str | None, bool, bytes | None]) -> Outcome:
                return _lint_one(linter, item)

            outcomes = map_in_processes(lint_one, work, jobs)
        else:
            outcomes = [_lint_one(linter, item) for item in work]
    # This loop runs after the parallel part of the run, once per file: counted in locals, and
    # no list built for the files without findings (most of them).
    files = statement_count = 0
    all_findings = run.findings
    from_row = Finding.from_row
    for slot in slots:
        if isinstance(slot, int):
            outcome = outcomes[slot]
            if outcome is None:
                continue
            if isinstance(outcome, LiveshiftError):
                run.input_errors.append(outcome)
                continue
            statements, rows = outcome
            findings = [from_row(row) for row in rows] if rows else []
            key = keys[slot]
            if cache is not None and key is not None:
                cache.put(key, statements, findings)
        elif isinstance(slot, LiveshiftError):
            run.input_errors.append(slot)
            continue
        else:
            statements, findings = slot
        files += 1
        statement_count += statements
        if findings:
            all_findings.extend(findings)
    run.files = files
    run.statements = statement_count
    all_findings.sort(key=lambda f: (f.file or "", f.line, f.column, f.rule))
    return run


def _auto_jobs(files: int) -> int:
    if files < 2 * MIN_FILES_PER_JOB:
        return 1
    from liveshift.linter.parallel import available_cpus

    return max(1, min(available_cpus(), files // MIN_FILES_PER_JOB))


def _lint_one(linter: Linter, item: tuple[str | None, bool, bytes | None]) -> Outcome:
    """Read, decode and lint one input (in this process or a forked one)."""
    path, explicit, data = item
    try:
        if path is None:
            lint_input: LintInput | None = _stdin_input()
        else:
            if data is None:
                data = read_bytes(path, regular=not explicit)  # found by listing a directory
            lint_input = decode_input(path, data, explicit=explicit)
    except LiveshiftError as exc:
        return exc
    if lint_input is None:
        return None
    seen = linter.statements_seen
    rows = [finding.to_row() for finding in lint_input.findings]
    exclude = linter.options.exclude
    for source in lint_input.sources:
        rows.extend(f.to_row() for f in linter.lint(source) if f.rule not in exclude)
    return linter.statements_seen - seen, rows
