"""Rule prefer-text: varchar(n) and char(n) limits are checks that cost a rewrite to change."""

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
        if kind.name == "varchar" and kind.mods:
            yield Hit(
                f"{table}.{column} is varchar({kind.mods[0]}): lowering the limit later rewrites "
                "the table; text with a CHECK on length can be changed online.",
                offset_of(type_name),
            )
        elif kind.name == "bpchar":
            yield Hit(
                f"{table}.{column} is char(n): it pads values with spaces and changing n rewrites "
                "the table.",
                offset_of(type_name),
            )


RULE = Rule(
    id="prefer-text",
    severity=Severity.WARNING,
    summary="varchar(n) and char(n) columns are harder to change than text with a CHECK.",
    help="Use `text` and, if a limit matters, `CHECK (char_length(col) <= n)`: the check can be "
    "replaced NOT VALID + VALIDATE without a rewrite.",
    kinds=("CreateStmt", "AlterTableStmt:AT_AddColumn", "AlterTableStmt:AT_AlterColumnType"),
    check=check,
    flagged=(
        "create table t (name varchar(100));",
        "create table t (code char(2));",
    ),
    accepted=("create table t (name text, nick varchar);",),
)
