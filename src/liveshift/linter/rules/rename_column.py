"""Rule rename-column: renaming a column breaks clients that still use the old name."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import relation_name
from liveshift.linter.rule import Hit, Rule
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    node = statement.node
    if node.get("renameType") != "OBJECT_COLUMN":
        return
    table = relation_name(node.get("relation"))
    if ctx.is_new_table(table):
        return
    yield Hit(
        f"Renaming column {table}.{node.get('subname')} to {node.get('newname')!r} breaks every "
        "running client that still uses the old name."
    )


RULE = Rule(
    id="rename-column",
    severity=Severity.ERROR,
    summary="Renaming a column breaks running clients that use the old name.",
    help="Use liveshift's rename_column operation: both names work (through versioned views) "
    "until every client is deployed, then `liveshift complete`. By hand: add the new column, "
    "sync with a trigger, backfill, switch clients, drop the old column.",
    kinds=("RenameStmt",),
    check=check,
    flagged=("alter table users rename column name to full_name;",),
    accepted=("create table t (a int);\nalter table t rename column a to b;",),
)
