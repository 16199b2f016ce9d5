"""Rule prefer-jsonb: json stores text that is re-parsed on every access."""

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
        if kind.name == "json":
            yield Hit(
                f"{table}.{column} is json: it is re-parsed on every access, has no equality "
                "operator and cannot be indexed with GIN.",
                offset_of(type_name),
            )


RULE = Rule(
    id="prefer-jsonb",
    severity=Severity.WARNING,
    summary="json columns are slower and less capable than jsonb.",
    help="Use `jsonb` unless you must keep key order, duplicate keys or exact whitespace.",
    kinds=("CreateStmt", "AlterTableStmt:AT_AddColumn", "AlterTableStmt:AT_AlterColumnType"),
    check=check,
    flagged=(
        "create table t (doc json);",
        "alter table users add column doc json;",
    ),
    accepted=("create table t (doc jsonb);",),
)
