"""Rule prefer-timestamptz: timestamp without time zone loses the offset."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.rule import Hit, Rule, declared_columns, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for table, column, type_name, kind, _new in declared_columns(statement, ctx):
        if kind.name == "timestamp":
            yield Hit(
                f"{table}.{column} is timestamp without time zone: values depend on each client's "
                "time zone setting and daylight-saving changes make them ambiguous.",
                offset_of(type_name),
            )


RULE = Rule(
    id="prefer-timestamptz",
    severity=Severity.WARNING,
    summary="timestamp without time zone stores wall-clock time with no offset.",
    help="Use `timestamptz` (timestamp with time zone): it stores an instant and converts for "
    "each session's time zone.",
    kinds=("CreateStmt", "AlterTableStmt:AT_AddColumn", "AlterTableStmt:AT_AlterColumnType"),
    check=check,
    flagged=(
        "create table t (at timestamp);",
        "alter table t add column at timestamp(3);",
    ),
    accepted=("create table t (at timestamptz, d date);",),
)
