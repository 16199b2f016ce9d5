"""Trace mode: run a migration in a scratch database and record the locks and rewrites it causes.

This half parses, chooses the scratch server and renders; the server side (pg_locks, scratch
databases, copying the schema) is liveshift.engines.postgres.lock_trace, imported only to trace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from liveshift.linter.inputs import LintInputError, expand_paths, read_input
from liveshift.linter.nodes import def_elem_names, relation_name, strings, walk
from liveshift.linter.source import Source, Statement
from liveshift.locks import STRENGTH, sql_name

# Statements PostgreSQL refuses inside a transaction block.
_NON_TRANSACTIONAL = frozenset({"VacuumStmt", "CreatedbStmt", "DropdbStmt", "AlterSystemStmt"})


@dataclass
class StatementTrace:
    """What one statement did on the server."""

    index: int
    line: int
    column: int
    sql: str
    locks: list[tuple[str, str]] = field(default_factory=list)  # (relation, pg_locks mode)
    rewritten: list[str] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    held_ms: float = 0.0  # from the statement's start to the end of its transaction
    in_transaction: bool = False
    locks_observed: bool = True  # False when it had to run outside any transaction we control
    error: str | None = None
    sqlstate: str | None = None
    skipped: bool = False

    def strongest_lock(self, relation: str) -> str | None:
        modes = [mode for name, mode in self.locks if _bare(name) == relation]
        return max(modes, key=lambda m: STRENGTH.get(m, 0)) if modes else None


@dataclass
class FileTrace:
    """The trace of one file."""

    file: str
    server_version: int
    statements: list[StatementTrace]


def _bare(name: str) -> str:
    return name.split(".")[-1]


def is_non_transactional(statement: Statement) -> bool:
    """Whether PostgreSQL refuses the statement inside a transaction block."""
    node = statement.node
    if statement.kind in _NON_TRANSACTIONAL:
        return True
    if statement.kind in ("IndexStmt", "DropStmt") and node.get("concurrent"):
        return True
    if statement.kind == "ReindexStmt":
        params = def_elem_names(node.get("params"))
        return "concurrently" in params or node.get("kind") in (
            "REINDEX_OBJECT_SCHEMA", "REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM",
        )  # fmt: skip
    if statement.kind == "AlterTableStmt":
        for kind, inner in walk(node.get("cmds")):
            if kind == "PartitionCmd" and inner.get("concurrent"):
                return True
    return False


def _relnames(node: Any) -> Iterator[str]:
    """Every table name a parse tree mentions (RangeVar nodes carry `relname`)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if isinstance(current.get("relname"), str):
                yield current["relname"]
            stack.extend(v for v in current.values() if isinstance(v, dict | list))
        elif isinstance(current, list):
            stack.extend(current)


def referenced_tables(statements: list[Statement]) -> list[str]:
    """Tables a migration touches that it does not create itself, in first-use order."""
    created: set[str] = set()
    seen: dict[str, None] = {}
    for statement in statements:
        if statement.kind == "CreateStmt":
            created.add(relation_name(statement.node.get("relation")))
            continue
        names = list(_relnames(statement.node))
        if statement.kind == "DropStmt":
            for item in statement.node.get("objects") or ():
                names.extend(strings(item.get("List", {}).get("items"))[-1:])
        for name in names:
            if name not in created:
                seen.setdefault(name, None)
    return list(seen)


def trigger_functions(statements: list[Statement]) -> list[str]:
    """Functions the migration's CREATE TRIGGER statements call."""
    out = []
    for statement in statements:
        if statement.kind == "CreateTrigStmt":
            out.extend(strings(statement.node.get("funcname"))[-1:])
    return out


def trace_source(source: Source, database_url: str | None = None) -> FileTrace:
    """Run one source's statements in a scratch database and return what each did."""
    statements, problem = source.parse()
    if problem is not None:
        line, column = source.position(source.char_to_byte(problem.offset))
        raise LintInputError(
            f"Cannot trace: syntax error ({problem.message}).",
            file=source.name, line=line, column=column,
        )  # fmt: skip
    if database_url:
        admin_url = database_url
    else:
        from liveshift.embedded import embedded_url

        admin_url = embedded_url()
    # Here, not at the top: a lint without --trace must not load the database driver.
    from liveshift.engines.postgres.lock_trace import trace_statements

    return trace_statements(source, statements, admin_url, database_url)


def trace_sql(sql: str, database_url: str | None = None, *, file: str | None = None) -> FileTrace:
    """Trace SQL text (see trace_source)."""
    return trace_source(Source(sql, file), database_url)


def iter_sources(paths: list[str]) -> Iterator[Source]:
    for path in expand_paths(paths):
        lint_input = read_input(path, explicit=path is None or str(path) in paths)
        if lint_input is not None:
            yield from lint_input.sources


def trace_paths(paths: list[str], database_url: str | None) -> list[FileTrace]:
    """Trace every source under `paths`."""
    return [trace_source(source, database_url) for source in iter_sources(paths)]


def render_trace_text(traces: list[FileTrace]) -> str:
    lines = []
    for file_trace in traces:
        major = file_trace.server_version // 10000
        lines.append(f"trace {file_trace.file} (scratch database, PostgreSQL {major}):")
        for trace in file_trace.statements:
            head = " ".join(trace.sql.split())
            head = head if len(head) <= 72 else head[:69] + "..."
            lines.append(f"  {file_trace.file}:{trace.line}:{trace.column} {head}")
            lines.append("    " + describe(trace))
    return "\n".join(lines) + ("\n" if lines else "")


def describe(trace: StatementTrace) -> str:
    if trace.skipped or trace.error:
        state = f" [{trace.sqlstate}]" if trace.sqlstate else ""
        return f"failed{state}: {trace.error}"
    parts = []
    if not trace.locks_observed:
        parts.append("ran outside a transaction: locks not observable")
    elif trace.locks:
        parts.append("locks " + ", ".join(f"{sql_name(m)} on {r}" for r, m in trace.locks))
    else:
        parts.append("no new table locks")
    if trace.rewritten:
        parts.append("rewrote " + ", ".join(trace.rewritten))
    if trace.scanned:
        parts.append("scanned " + ", ".join(trace.scanned))
    parts.append(f"ran {trace.duration_ms:.1f} ms, held {trace.held_ms:.1f} ms")
    return "; ".join(parts)


def trace_to_dict(file_trace: FileTrace) -> dict[str, Any]:
    return asdict(file_trace)


def render_trace_json(traces: list[FileTrace]) -> str:
    return json.dumps([trace_to_dict(t) for t in traces], indent=2) + "\n"
