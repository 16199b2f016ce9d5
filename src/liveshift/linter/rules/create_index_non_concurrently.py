"""Rule create-index-non-concurrently: CREATE INDEX blocks writes while it builds."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.edits import Edit, FixInput, insert_after_keyword
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import relation_name
from liveshift.linter.rule import Hit, Rule
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    node = statement.node
    table = relation_name(node.get("relation"))
    if node.get("concurrent") or ctx.is_new_table(table):
        return
    kind = "CREATE UNIQUE INDEX" if node.get("unique") else "CREATE INDEX"
    name = f" {node['idxname']}" if node.get("idxname") else ""
    yield Hit(
        f"{kind}{name} on {table!r} without CONCURRENTLY holds a SHARE lock that blocks every "
        "INSERT, UPDATE and DELETE until the index is built."
    )


def fix(statement: Statement, ctx: Context, hit: Hit, fix_input: FixInput) -> list[Edit] | None:
    relation = statement.node.get("relation") or {}
    if ctx.in_transaction or not relation.get("inh"):  # the JSON leaves out false
        return None  # CONCURRENTLY fails in a transaction block and on ONLY (partitioned parents)
    edit = insert_after_keyword(fix_input.source, statement, ("INDEX",), " CONCURRENTLY")
    return [edit] if edit else None


RULE = Rule(
    id="create-index-non-concurrently",
    severity=Severity.ERROR,
    summary="CREATE INDEX without CONCURRENTLY blocks writes to the table for the whole build.",
    help="Use `CREATE INDEX CONCURRENTLY` outside a transaction block (and `IF NOT EXISTS`, so a "
    "failed build can be retried after dropping the invalid index); liveshift's create_index "
    "operation does this.",
    kinds=("IndexStmt",),
    check=check,
    fix=fix,
    flagged=(
        "create index users_email on users (email);",
        "create unique index users_email on users (email);",
    ),
    accepted=(
        "create index concurrently users_email on users (email);",
        "create table t (id bigint);\ncreate index t_id on t (id);",
    ),
)
