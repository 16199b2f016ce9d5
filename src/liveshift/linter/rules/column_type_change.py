"""Rule column-type-change: ALTER COLUMN TYPE rewrites the table unless provably binary-coercible."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.locks import type_change_rewrites
from liveshift.linter.nodes import column_type
from liveshift.linter.rule import Hit, Rule, alter_commands
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for table, subtype, cmd in alter_commands(statement):
        column = (cmd.get("def") or {}).get("ColumnDef")
        if subtype != "AT_AlterColumnType" or column is None or ctx.is_new_table(table):
            continue
        name = cmd.get("name", "")
        old = ctx.columns.get((table, name))
        new = column_type(column.get("typeName"))
        verdict = type_change_rewrites(old, new, bool(column.get("raw_default")))
        if verdict is False:
            continue
        if verdict is None:
            yield Hit(
                f"Changing the type of {table}.{name} to {new} rewrites the table under an ACCESS "
                "EXCLUSIVE lock unless the change is binary-coercible, and this file does not "
                "show the column's current type to prove it."
            )
        else:
            yield Hit(
                f"Changing the type of {table}.{name} from {old} to {new} rewrites the table "
                "(and its indexes) under an ACCESS EXCLUSIVE lock, and may break running clients."
            )


RULE = Rule(
    id="column-type-change",
    severity=Severity.ERROR,
    summary="Changing a column's type rewrites the table under an ACCESS EXCLUSIVE lock, except "
    "binary-coercible widenings.",
    help="Add a new column of the new type, keep it in sync with a trigger, backfill in batches, "
    "switch readers, then drop the old one; liveshift's alter_column with `type`, `up` and `down` "
    "does this with a way back. Widening varchar(n), varchar to text and numeric precision "
    "increases are safe.",
    kinds=("AlterTableStmt:AT_AlterColumnType",),
    check=check,
    flagged=(
        "alter table users alter column id type bigint;",
        "alter table users alter column name type varchar(20);",  # old type unknown
        "alter table users add column name varchar(20);\n"
        "alter table users alter column name type varchar(10);",
        "alter table users add column price numeric(10, 2);\n"
        "alter table users alter column price type numeric(12, 4);",
        "alter table users add column name varchar(20);\n"
        "alter table users alter column name type varchar(40) using name::varchar(40);",
    ),
    accepted=(
        "alter table users add column name varchar(20);\n"
        "alter table users alter column name type varchar(40);",
        "alter table users add column name varchar(20);\n"
        "alter table users alter column name type text;",
        "alter table users add column price numeric(10, 2);\n"
        "alter table users alter column price type numeric(12, 2);",
        "alter table users add column addr cidr;\nalter table users alter column addr type inet;",
        "create table t (id int);\nalter table t alter column id type bigint;",
    ),
)
