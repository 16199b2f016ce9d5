"""Rule add-column-not-null-without-default: a NOT NULL column with no default fails or breaks inserts."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import SERIAL_TYPES
from liveshift.linter.rule import Hit, Rule, added_columns, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator

_PROVIDES_VALUE = frozenset({"CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"})


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for added in added_columns(statement):
        table, column = added.table, added.column
        if ctx.is_new_table(table):
            continue
        kinds = {c.get("contype") for c in added.constraints}
        not_null = kinds & {"CONSTR_NOTNULL", "CONSTR_PRIMARY"}
        if not not_null or kinds & _PROVIDES_VALUE:
            continue
        if added.type.name in SERIAL_TYPES:
            continue
        yield Hit(
            f"Adding NOT NULL column {column.get('colname')!r} to {table!r} without a default "
            "fails if the table has rows, and breaks running clients whose INSERTs do not name it.",
            offset_of(column),
        )


RULE = Rule(
    id="add-column-not-null-without-default",
    severity=Severity.ERROR,
    summary="Adding a NOT NULL column without a default fails on a non-empty table and breaks "
    "old clients' inserts.",
    help="Add the column nullable (or with a constant default), backfill it in batches, then add "
    "`CHECK (col IS NOT NULL) NOT VALID`, VALIDATE it and SET NOT NULL; liveshift's add_column "
    "with `nullable: false` and an `up` expression does this and keeps old clients working.",
    kinds=("AlterTableStmt:AT_AddColumn",),
    check=check,
    flagged=("alter table users add column n int not null;",),
    accepted=(
        "alter table users add column n int not null default 0;",
        "alter table users add column n int;",
        "alter table users add column n bigserial not null;",
        "create table t (id bigint);\nalter table t add column n int not null;",
    ),
)
