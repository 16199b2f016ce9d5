"""The shape every lint rule has: an id, a severity, texts, and a pure check function."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import Node, relation_name
from liveshift.linter.source import Statement


@dataclass(frozen=True)
class Hit:
    """A rule's verdict on a statement: the message, and the byte offset it points at if not the start."""

    message: str
    offset: int | None = None


Check = Callable[[Statement, Context], Iterable[Hit]]


def _never(statement: Statement, ctx: Context) -> Iterable[Hit]:
    return ()


@dataclass(frozen=True)
class Rule:
    """A lint rule. `kinds` are the statement node types it looks at, so the engine can dispatch."""

    id: str
    severity: Severity
    summary: str
    help: str
    kinds: tuple[str, ...] = ()
    check: Check = _never

    @property
    def doc_path(self) -> str:
        return f"docs/rules/{self.id}.md"


def skip_new_table(ctx: Context, table: str) -> bool:
    """Rules about locking or rewriting existing data do not apply to tables made in this file."""
    return ctx.is_new_table(table)


def offset_of(node: dict[str, object] | None) -> int | None:
    """The byte offset a parse-tree node records, when it records one."""
    if not node:
        return None
    location = node.get("location")
    return location if isinstance(location, int) and location >= 0 else None


def alter_commands(statement: Statement) -> list[tuple[str, str, Node]]:
    """(table, sub-command type, AlterTableCmd) for each sub-command of an ALTER TABLE.

    Computed once per statement: a dozen rules ask for it.
    """
    cached: list[tuple[str, str, Node]] | None = statement.cache.get("cmds")
    if cached is not None:
        return cached
    cached = []
    if statement.kind == "AlterTableStmt":
        table = relation_name(statement.node.get("relation"))
        for item in statement.node.get("cmds") or ():
            cmd = item.get("AlterTableCmd")
            if cmd is not None:
                cached.append((table, cmd.get("subtype", ""), cmd))
    statement.cache["cmds"] = cached
    return cached


def added_columns(statement: Statement) -> Iterator[tuple[str, Node]]:
    """(table, ColumnDef) for each ADD COLUMN of an ALTER TABLE."""
    for table, subtype, cmd in alter_commands(statement):
        column = (cmd.get("def") or {}).get("ColumnDef")
        if subtype == "AT_AddColumn" and column is not None:
            yield table, column


def added_constraints(statement: Statement) -> Iterator[tuple[str, Node]]:
    """(table, Constraint) for each ADD CONSTRAINT of an ALTER TABLE."""
    for table, subtype, cmd in alter_commands(statement):
        constraint = (cmd.get("def") or {}).get("Constraint")
        if subtype == "AT_AddConstraint" and constraint is not None:
            yield table, constraint


def declared_columns(statement: Statement, ctx: Context) -> Iterator[tuple[str, str, Node, bool]]:
    """(table, column, TypeName, is_new_table) for every column type a statement writes down:
    CREATE TABLE columns, ADD COLUMN and ALTER COLUMN TYPE."""
    if statement.kind == "CreateStmt":
        table = relation_name(statement.node.get("relation"))
        for element in statement.node.get("tableElts") or ():
            column = element.get("ColumnDef")
            if column is not None and column.get("typeName"):
                yield table, column.get("colname", ""), column["typeName"], True
        return
    for table, subtype, cmd in alter_commands(statement):
        column = (cmd.get("def") or {}).get("ColumnDef")
        if column is None or not column.get("typeName"):
            continue
        if subtype == "AT_AddColumn":
            yield table, column.get("colname", ""), column["typeName"], ctx.is_new_table(table)
        elif subtype == "AT_AlterColumnType":
            yield table, cmd.get("name", ""), column["typeName"], ctx.is_new_table(table)
