"""The shape every lint rule has: an id, a severity, texts, and a pure check function."""

from __future__ import annotations

from liveshift.linter.finding import Severity
from liveshift.linter.nodes import ColumnType, Node, column_type, constraints, relation_name
from liveshift.linter.record import Record
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    # Only in annotations: context.py imports this module (for alter_commands, added_columns).
    from liveshift.linter.context import Context
    from liveshift.linter.edits import Edit, FixInput


class Hit(Record):
    """A rule's verdict on a statement: the message, and the byte offset it points at if not the start."""

    __slots__ = ("message", "offset")

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.message = message
        self.offset = offset


if TYPE_CHECKING:
    Check = Callable[[Statement, Context], Iterable[Hit]]
    # The edits that make a hit go away with the statement's meaning kept, or None when the
    # rewrite is not mechanical here (inside a transaction block, several objects, an unnamed
    # constraint...).
    Fix = Callable[[Statement, Context, Hit, FixInput], list[Edit] | None]
    # SQL a rule's test case lints, alone or with lint_sql options ({"pg_version": 10}).
    Example = str | tuple[str, dict[str, Any]]


def _never(statement: Statement, ctx: Context) -> Iterable[Hit]:
    return ()


class Rule(Record):
    """A lint rule. `kinds` are the statement node types it looks at, so the engine can dispatch.

    `flagged` and `accepted` are the rule's own test cases, kept beside its check: SQL it must
    report and SQL it must leave alone (tests/linter/test_rules.py runs every rule's cases).

    A kind `AlterTableStmt:<subtype>` (say `AlterTableStmt:AT_AddColumn`) narrows an ALTER TABLE
    rule to statements with that sub-command: most ALTER TABLE rules look at one sub-command, and
    calling all of them on every ALTER TABLE was a third of the rules' time.
    """

    __slots__ = (  # noqa: RUF023 - field order
        "id", "severity", "summary", "help", "kinds", "check", "fix", "fix_alone",
        "flagged", "accepted",
    )  # fmt: skip

    def __init__(
        self,
        id: str,
        severity: Severity,
        summary: str,
        help: str,
        kinds: tuple[str, ...] = (),
        check: Check = _never,
        fix: Fix | None = None,
        fix_alone: bool = False,
        flagged: tuple[Example, ...] = (),
        accepted: tuple[Example, ...] = (),
    ) -> None:
        self.id = id
        self.severity = severity
        self.summary = summary
        self.help = help
        self.kinds = kinds
        self.check = check
        self.fix = fix
        # Applied only when no other fix is pending, and one at a time: one `SET lock_timeout`
        # covers the statements after it, and a fix such as CONCURRENTLY may make it unneeded.
        self.fix_alone = fix_alone
        self.flagged = flagged
        self.accepted = accepted

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
    cached = statement.cmds
    if cached is not None:
        return cached
    cached = []
    if statement.kind == "AlterTableStmt":
        table = relation_name(statement.node.get("relation"))
        for item in statement.node.get("cmds") or ():
            cmd = item.get("AlterTableCmd")
            if cmd is not None:
                cached.append((table, cmd.get("subtype", ""), cmd))
    statement.cmds = cached
    return cached


class AddedColumn(Record):
    """One ADD COLUMN of an ALTER TABLE: the table, the ColumnDef, its constraints (as
    nodes.constraints gives them) and its type (nodes.column_type)."""

    __slots__ = ("table", "column", "constraints", "type")  # noqa: RUF023 - field order

    def __init__(self, table: str, column: Node, constraints: list[Node], type: ColumnType) -> None:
        self.table = table
        self.column = column
        self.constraints = constraints
        self.type = type


def added_columns(statement: Statement) -> list[AddedColumn]:
    """Each ADD COLUMN of an ALTER TABLE, in order.

    Computed once per statement: six rules read the added columns (and declared_columns their
    types); each working out the same constraints and type again was half of the rules' time
    on the ADD COLUMN statements of bench/lint.py (20 us each, now 10 us).
    """
    cached = statement.added
    if cached is not None:
        return cached
    cached = []
    for table, subtype, cmd in alter_commands(statement):
        column = (cmd.get("def") or {}).get("ColumnDef")
        if subtype == "AT_AddColumn" and column is not None:
            type_name = column.get("typeName")
            cached.append(AddedColumn(table, column, constraints(column), column_type(type_name)))
    statement.added = cached
    return cached


def added_constraints(statement: Statement) -> Iterator[tuple[str, Node]]:
    """(table, Constraint) for each ADD CONSTRAINT of an ALTER TABLE."""
    for table, subtype, cmd in alter_commands(statement):
        constraint = (cmd.get("def") or {}).get("Constraint")
        if subtype == "AT_AddConstraint" and constraint is not None:
            yield table, constraint


def declared_columns(
    statement: Statement, ctx: Context
) -> list[tuple[str, str, Node, ColumnType, bool]]:
    """(table, column, TypeName, its ColumnType, is_new_table) for every column type a statement
    writes down: CREATE TABLE columns, ADD COLUMN and ALTER COLUMN TYPE.

    Computed once per statement: the five prefer-* rules ask for it.
    """
    cached = statement.declared
    if cached is not None:
        return cached
    cached = []
    if statement.kind == "CreateStmt":
        table = relation_name(statement.node.get("relation"))
        for element in statement.node.get("tableElts") or ():
            column = element.get("ColumnDef")
            if column is not None and column.get("typeName"):
                type_name = column["typeName"]
                cached.append(
                    (table, column.get("colname", ""), type_name, column_type(type_name), True)
                )
    added = iter(added_columns(statement))  # the ADD COLUMNs below, in the same order
    for table, subtype, cmd in alter_commands(statement):
        column = (cmd.get("def") or {}).get("ColumnDef")
        if column is None:
            continue
        if subtype == "AT_AddColumn":
            kind = next(added).type
            name = column.get("colname", "")
        elif subtype == "AT_AlterColumnType":
            kind = None
            name = cmd.get("name", "")
        else:
            continue
        type_name = column.get("typeName")
        if not type_name:
            continue
        if kind is None:
            kind = column_type(type_name)
        cached.append((table, name, type_name, kind, ctx.is_new_table(table)))
    statement.declared = cached
    return cached
