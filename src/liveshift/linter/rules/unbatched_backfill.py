"""Rule unbatched-backfill: an UPDATE or DELETE over the whole table in one statement."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import Node, relation_name
from liveshift.linter.rule import Hit, Rule
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def _unbounded(where: Node | None) -> bool:
    """No WHERE, or one made only of IS [NOT] NULL tests: every matching row in one statement."""
    if not where:
        return True
    if "NullTest" in where:
        return True
    boolean = where.get("BoolExpr")
    if boolean is not None and boolean.get("boolop") in ("AND_EXPR", "OR_EXPR"):
        return all(_unbounded(arg) for arg in boolean.get("args") or ())
    return False


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    node = statement.node
    table = relation_name(node.get("relation"))
    if ctx.is_new_table(table) or not _unbounded(node.get("whereClause")):
        return
    verb = "UPDATE" if statement.kind == "UpdateStmt" else "DELETE"
    yield Hit(
        f"{verb} on {table!r} touches every matching row in one statement: it locks those rows "
        "until commit, bloats the table and floods replicas with one huge transaction."
    )


RULE = Rule(
    id="unbatched-backfill",
    severity=Severity.ERROR,
    summary="A whole-table UPDATE or DELETE in a migration is one huge transaction.",
    help="Backfill in small batches by key range (`WHERE id >= $1 AND id < $2`), committing "
    "between batches and watching replication lag; liveshift's add_column/alter_column `up` "
    "expression runs a throttled, resumable backfill for you.",
    kinds=("UpdateStmt", "DeleteStmt"),
    check=check,
    flagged=(
        "update users set active = true;",
        "update users set email_lower = lower(email) where email_lower is null;",
        "delete from users;",
    ),
    accepted=(
        "update users set active = true where id >= 1 and id < 1000;",
        "delete from users where id = 42;",
        "create table t (a int);\nupdate t set a = 1;",
    ),
)
