"""Rule drop-table: dropping a table loses its data and breaks clients that still use it."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import strings
from liveshift.linter.rule import Hit, Rule
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    node = statement.node
    if node.get("removeType") != "OBJECT_TABLE":
        return
    for item in node.get("objects") or ():
        names = strings(item.get("List", {}).get("items"))
        if names and not ctx.is_new_table(names[-1]):
            yield Hit(
                f"Dropping table {'.'.join(names)!r} deletes its data and breaks running clients "
                "that still use it."
            )


RULE = Rule(
    id="drop-table",
    severity=Severity.ERROR,
    summary="Dropping a table loses data and breaks running clients that still use it.",
    help="Stop using the table in code first, deploy, then drop it in a later migration (rename "
    "it aside first if you want a way back); liveshift's drop_table keeps it until `complete`.",
    kinds=("DropStmt",),
    check=check,
    flagged=(
        "drop table users;",
        "drop table if exists public.users cascade;",
    ),
    accepted=(
        "create table t (a int);\ndrop table t;",
        "drop view v;",
    ),
)
