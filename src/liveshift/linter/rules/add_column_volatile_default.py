"""Rule add-column-volatile-default: a default computed per row rewrites the whole table."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.rule import Hit, Rule, added_columns, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    if ctx.pg_version < 11:
        return  # every default rewrites there: add-column-default-pre-pg11 reports it
    for added in added_columns(statement):
        table, column = added.table, added.column
        if ctx.is_new_table(table):
            continue
        for constraint in added.constraints:
            if constraint.get("contype") != "CONSTR_DEFAULT":
                continue
            call = ctx.volatile_call(constraint.get("raw_expr"))
            if call is None:
                continue
            name, volatility = call
            why = (
                f"the volatile function {name}()"
                if volatility == "volatile"
                else f"{name}(), which liveshift cannot prove is stable"
            )
            yield Hit(
                f"Adding column {column.get('colname')!r} to {table!r} with a default that calls "
                f"{why} rewrites the whole table under an ACCESS EXCLUSIVE lock.",
                offset_of(constraint),
            )


RULE = Rule(
    id="add-column-volatile-default",
    severity=Severity.ERROR,
    summary="Adding a column whose default is volatile rewrites the table under an exclusive lock.",
    help="Add the column without a default (or with a constant one), set the default in a "
    "separate statement, and backfill existing rows in small batches; liveshift's add_column "
    "operation does all three for you.",
    kinds=("AlterTableStmt:AT_AddColumn",),
    check=check,
    flagged=(
        "alter table users add column token uuid default gen_random_uuid();",
        "alter table users add column r float8 default random();",
        "alter table users add column at timestamptz default clock_timestamp();",
        "alter table users add column x int default my_func();",  # unknown: cannot prove
    ),
    accepted=(
        "alter table users add column at timestamptz default now();",
        "alter table users add column n int default 0;",
        "alter table users add column d date default current_date;",
        "alter table users add column j jsonb default '{}'::jsonb;",
        "create function f() returns int language sql immutable as 'select 1';\n"
        "alter table users add column x int default f();",
        "create table users (id bigint, token uuid default gen_random_uuid());",
        "create table t (id bigint);\nalter table t add column r float8 default random();",
    ),
)
