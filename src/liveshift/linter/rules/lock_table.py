"""Rule lock-table: an explicit LOCK TABLE in a migration blocks traffic for the rest of the transaction."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import relation_name
from liveshift.linter.rule import Hit, Rule
from liveshift.linter.source import Statement
from liveshift.locks import PG_NAMES, blocks_writes, sql_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    mode = PG_NAMES[int(statement.node.get("mode", 8)) - 1]
    if not blocks_writes(mode):
        return
    tables = [relation_name(r) for r in statement.node.get("relations") or ()]
    tables = [t for t in tables if not ctx.is_new_table(t)]
    if tables:
        blocked = "reads and writes" if mode == "AccessExclusiveLock" else "writes"
        yield Hit(
            f"LOCK TABLE {', '.join(tables)} IN {sql_name(mode)} MODE blocks {blocked} until "
            "the transaction ends."
        )


RULE = Rule(
    id="lock-table",
    severity=Severity.ERROR,
    summary="An explicit LOCK TABLE blocks traffic until the transaction ends.",
    help="Let each statement take the lock it needs, with `SET lock_timeout` before it and short "
    "transactions; if the lock is truly needed, take it last, with a lock_timeout, and commit "
    "straight after.",
    kinds=("LockStmt",),
    check=check,
    flagged=(
        "lock table users;",
        "lock table users in share mode;",
    ),
    accepted=(
        "lock table users in access share mode;",
        "lock table users in row exclusive mode;",
    ),
)
