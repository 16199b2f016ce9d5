"""Rule add-column-serial: a serial or identity column added to an existing table rewrites it."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import SERIAL_TYPES
from liveshift.linter.rule import Hit, Rule, added_columns, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for added in added_columns(statement):
        table, column = added.table, added.column
        if ctx.is_new_table(table):
            continue
        kind = added.type.name
        identity = any(c.get("contype") == "CONSTR_IDENTITY" for c in added.constraints)
        if kind in SERIAL_TYPES or identity:
            what = "an identity column" if identity else f"a {kind} column"
            yield Hit(
                f"Adding {what} {column.get('colname')!r} to {table!r} numbers every existing row, "
                "rewriting the whole table under an ACCESS EXCLUSIVE lock.",
                offset_of(column),
            )


RULE = Rule(
    id="add-column-serial",
    severity=Severity.ERROR,
    summary="Adding a serial or identity column to an existing table rewrites it.",
    help="Add a plain nullable bigint column, create a sequence and set it as the column default "
    "(a default on new rows only does not rewrite), backfill existing rows in batches, then add "
    "NOT NULL through a validated CHECK; liveshift's add_column operation runs that plan.",
    kinds=("AlterTableStmt:AT_AddColumn",),
    check=check,
    flagged=(
        "alter table users add column n serial;",
        "alter table users add column n bigserial;",
        "alter table users add column n bigint generated always as identity;",
    ),
    accepted=(
        "alter table users add column n bigint;",
        "create table t (id bigint);\nalter table t add column n bigserial;",
    ),
)
