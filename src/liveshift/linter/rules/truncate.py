"""Rule truncate: TRUNCATE deletes every row under an ACCESS EXCLUSIVE lock."""

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
    for relation in statement.node.get("relations") or ():
        table = relation_name(relation)
        if not ctx.is_new_table(table):
            yield Hit(
                f"TRUNCATE {table} deletes every row and takes an ACCESS EXCLUSIVE lock, blocking "
                "all reads and writes while it waits and runs."
            )


RULE = Rule(
    id="truncate",
    severity=Severity.ERROR,
    summary="TRUNCATE loses every row and locks the table against reads and writes.",
    help="If the rows really must go, delete them in small batches (`DELETE ... WHERE id IN "
    "(SELECT id ... LIMIT 1000)`) from a background job, outside the migration.",
    kinds=("TruncateStmt",),
    check=check,
    flagged=(
        "truncate users;",
        "truncate table users, orders;",
    ),
    accepted=("create table t (a int);\ntruncate t;",),
)
