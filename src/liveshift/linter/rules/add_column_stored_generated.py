"""Rule add-column-stored-generated: a stored generated column is computed for every existing row."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
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
        for constraint in added.constraints:
            stored = constraint.get("generated_kind", "s") == "s"
            if constraint.get("contype") == "CONSTR_GENERATED" and stored:
                yield Hit(
                    f"Adding the stored generated column {column.get('colname')!r} to {table!r} "
                    "computes it for every row, rewriting the table under an ACCESS EXCLUSIVE lock.",
                    offset_of(constraint),
                )


RULE = Rule(
    id="add-column-stored-generated",
    severity=Severity.ERROR,
    summary="Adding a STORED generated column to an existing table rewrites it.",
    help="Add an ordinary nullable column, keep it up to date with a trigger, backfill existing "
    "rows in batches; on PostgreSQL 18 a VIRTUAL generated column needs no rewrite at all.",
    kinds=("AlterTableStmt:AT_AddColumn",),
    check=check,
    flagged=("alter table users add column full_name text generated always as (a || b) stored;",),
    accepted=(
        "alter table users add column full_name text generated always as (a || b) virtual;",
        "alter table users add column full_name text;",
    ),
)
