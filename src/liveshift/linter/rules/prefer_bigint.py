"""Rule prefer-bigint: integer keys run out of values at 2^31."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.rule import Hit, Rule, declared_columns, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator

_SMALL = {"int4": "integer", "int2": "smallint"}


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for table, column, type_name, kind, _new in declared_columns(statement, ctx):
        if kind.name in _SMALL and not kind.array and (column == "id" or column.endswith("_id")):
            yield Hit(
                f"Key column {table}.{column} is {_SMALL[kind.name]}: it overflows at "
                f"{2**31 - 1 if kind.name == 'int4' else 2**15 - 1:,}, and widening it later "
                "rewrites the table.",
                offset_of(type_name),
            )


RULE = Rule(
    id="prefer-bigint",
    severity=Severity.WARNING,
    summary="Id and foreign-key columns declared integer or smallint can run out of values.",
    help="Declare ids and the columns that reference them as bigint; it costs 4 bytes a row and "
    "avoids a rewrite of the table (and of every referencing table) later.",
    kinds=("CreateStmt", "AlterTableStmt:AT_AddColumn", "AlterTableStmt:AT_AlterColumnType"),
    check=check,
    flagged=(
        "create table t (id int primary key);",
        "create table t (id bigint, org_id integer);",
        "alter table users add column team_id smallint;",
    ),
    accepted=("create table t (id bigint, age int, score smallint);",),
)
