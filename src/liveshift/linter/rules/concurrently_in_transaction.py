"""Rule concurrently-in-transaction: CONCURRENTLY cannot run inside a transaction block."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import def_elem_names
from liveshift.linter.rule import Hit, Rule, alter_commands
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def _concurrent(statement: Statement) -> str | None:
    node = statement.node
    if statement.kind == "IndexStmt" and node.get("concurrent"):
        return "CREATE INDEX CONCURRENTLY"
    if statement.kind == "DropStmt" and node.get("concurrent"):
        return "DROP INDEX CONCURRENTLY"
    if statement.kind == "ReindexStmt" and "concurrently" in def_elem_names(node.get("params")):
        return "REINDEX CONCURRENTLY"
    for _table, subtype, cmd in alter_commands(statement):
        partition = (cmd.get("def") or {}).get("PartitionCmd", {})
        if subtype == "AT_DetachPartition" and partition.get("concurrent"):
            return "DETACH PARTITION CONCURRENTLY"
    return None


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    if not ctx.in_transaction:
        return
    what = _concurrent(statement)
    if what:
        yield Hit(
            f"{what} cannot run inside a transaction block: PostgreSQL refuses it, and the "
            "migration fails at this statement."
        )


RULE = Rule(
    id="concurrently-in-transaction",
    severity=Severity.ERROR,
    summary="CONCURRENTLY operations fail inside a transaction block.",
    help="Run the statement outside BEGIN/COMMIT: end the transaction before it, or mark the "
    "migration non-transactional (Alembic `autocommit_block()`, Django `atomic = False`).",
    kinds=("IndexStmt", "DropStmt", "ReindexStmt", "AlterTableStmt:AT_DetachPartition"),
    check=check,
    flagged=(
        "begin;\ncreate index concurrently i on users (email);\ncommit;",
        "begin;\ndrop index concurrently i;\ncommit;",
        ("create index concurrently i on users (email);", {"assume_in_transaction": True}),
    ),
    accepted=(
        "create index concurrently i on users (email);",
        "begin;\nselect 1;\ncommit;\ncreate index concurrently i on users (email);",
    ),
)
