"""Rule add-column-default-pre-pg11: before PostgreSQL 11 any column default rewrites the table."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import is_null_const
from liveshift.linter.rule import Hit, Rule, added_columns, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    if ctx.pg_version >= 11:
        return
    for added in added_columns(statement):
        table, column = added.table, added.column
        if ctx.is_new_table(table):
            continue
        for constraint in added.constraints:
            expression = constraint.get("raw_expr")
            if constraint.get("contype") == "CONSTR_DEFAULT" and not is_null_const(expression):
                yield Hit(
                    f"On PostgreSQL {ctx.pg_version}, adding column {column.get('colname')!r} to "
                    f"{table!r} with a default writes it into every row, rewriting the table under "
                    "an ACCESS EXCLUSIVE lock.",
                    offset_of(constraint),
                )


RULE = Rule(
    id="add-column-default-pre-pg11",
    severity=Severity.ERROR,
    summary="Before PostgreSQL 11, adding a column with any default rewrites the table.",
    help="Add the column without a default, then `ALTER COLUMN ... SET DEFAULT` in a second "
    "statement (it applies to new rows only) and backfill existing rows in batches; or upgrade: "
    "from PostgreSQL 11 a constant default is stored in the catalog.",
    kinds=("AlterTableStmt:AT_AddColumn",),
    check=check,
    flagged=(("alter table users add column n int default 0;", {"pg_version": 10}),),
    accepted=(
        ("alter table users add column n int default 0;", {"pg_version": 11}),
        ("alter table users add column n int default null;", {"pg_version": 10}),
        ("alter table users add column n int;", {"pg_version": 10}),
    ),
)
