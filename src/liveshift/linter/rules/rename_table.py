"""Rule rename-table: renaming a table breaks clients that still use the old name."""

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
    if node.get("renameType") != "OBJECT_TABLE":
        return
    table = relation_name(node.get("relation"))
    if ctx.is_new_table(table):
        return
    yield Hit(
        f"Renaming table {table!r} to {node.get('newname')!r} breaks every running client that "
        "still uses the old name."
    )


RULE = Rule(
    id="rename-table",
    severity=Severity.ERROR,
    summary="Renaming a table breaks running clients that use the old name.",
    help="Use liveshift's rename_table operation (both names stay usable until `liveshift "
    "complete`), or rename and leave an updatable view with the old name until clients move.",
    kinds=("RenameStmt",),
    check=check,
    flagged=("alter table users rename to customers;",),
    accepted=(
        "create table t (a int);\nalter table t rename to t2;",
        "alter index users_email rename to users_email_idx;",
    ),
)
