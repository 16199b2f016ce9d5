"""Rule cluster: CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock."""

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
    table = relation_name(statement.node.get("relation"))
    if table and ctx.is_new_table(table):
        return
    target = table or "every previously clustered table"
    yield Hit(
        f"CLUSTER rewrites {target} in index order under an ACCESS EXCLUSIVE lock, blocking all "
        "reads and writes until it finishes."
    )


RULE = Rule(
    id="cluster",
    severity=Severity.ERROR,
    summary="CLUSTER rewrites the table while blocking reads and writes.",
    help="Reorder online with pg_repack (`--order-by`), outside the migration; or accept the "
    "physical order and rely on an index.",
    kinds=("ClusterStmt",),
    check=check,
    flagged=(
        "cluster users using users_pkey;",
        "cluster;",
    ),
    accepted=("create table t (a int);\ncluster t;",),
)
