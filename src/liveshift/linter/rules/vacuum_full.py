"""Rule vacuum-full: VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import def_elem_names, relation_name
from liveshift.linter.rule import Hit, Rule
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    node = statement.node
    if "full" not in def_elem_names(node.get("options")):
        return
    tables = [
        relation_name(r.get("VacuumRelation", {}).get("relation")) for r in node.get("rels") or ()
    ]
    if tables and all(ctx.is_new_table(t) for t in tables):
        return
    target = ", ".join(tables) if tables else "every table in the database"
    yield Hit(
        f"VACUUM FULL rewrites {target} under an ACCESS EXCLUSIVE lock, blocking all reads and "
        "writes until the copy is done."
    )


RULE = Rule(
    id="vacuum-full",
    severity=Severity.ERROR,
    summary="VACUUM FULL rewrites the table while blocking reads and writes.",
    help="Use plain VACUUM (it does not block), or reclaim space online with pg_repack / "
    "pg_squeeze, outside the migration.",
    kinds=("VacuumStmt",),
    check=check,
    flagged=(
        "vacuum full users;",
        "vacuum (full, analyze) users;",
        "vacuum full;",
    ),
    accepted=(
        "vacuum users;",
        "vacuum (analyze) users;",
    ),
)
