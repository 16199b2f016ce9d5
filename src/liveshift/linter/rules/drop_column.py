"""Rule drop-column: dropping a column loses its data and breaks clients that still read it."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.rule import Hit, Rule, alter_commands
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for table, subtype, cmd in alter_commands(statement):
        if subtype == "AT_DropColumn" and not ctx.is_new_table(table):
            yield Hit(
                f"Dropping column {table}.{cmd.get('name')} deletes its data and breaks running "
                "clients that still select or insert it."
            )


RULE = Rule(
    id="drop-column",
    severity=Severity.ERROR,
    summary="Dropping a column loses data and breaks running clients that still use it.",
    help="First deploy code that no longer uses the column (and remove it from ORM models), then "
    "drop it in a later migration; liveshift's drop_column keeps it readable by old clients "
    "until `liveshift complete`, and `liveshift rollback` restores it.",
    kinds=("AlterTableStmt:AT_DropColumn",),
    check=check,
    flagged=("alter table users drop column legacy;",),
    accepted=("create table t (a int, b int);\nalter table t drop column b;",),
)
