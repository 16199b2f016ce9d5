"""Rule drop-index-non-concurrently: DROP INDEX takes an ACCESS EXCLUSIVE lock on its table."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.edits import Edit, FixInput, insert_after_keyword
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import strings
from liveshift.linter.rule import Hit, Rule
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    node = statement.node
    if node.get("removeType") != "OBJECT_INDEX" or node.get("concurrent"):
        return
    for item in node.get("objects") or ():
        names = strings(item.get("List", {}).get("items"))
        if not names:
            continue
        table = ctx.created_indexes.get(names[-1])
        if table is not None and ctx.is_new_table(table):
            continue
        yield Hit(
            f"DROP INDEX {names[-1]} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its "
            "table, blocking reads and writes while it waits and runs."
        )


def fix(statement: Statement, ctx: Context, hit: Hit, fix_input: FixInput) -> list[Edit] | None:
    node = statement.node
    if ctx.in_transaction or len(node.get("objects") or ()) != 1:
        return None  # CONCURRENTLY takes one index, outside a transaction block
    if node.get("behavior") == "DROP_CASCADE":
        return None  # and no CASCADE
    edit = insert_after_keyword(fix_input.source, statement, ("INDEX",), " CONCURRENTLY")
    return [edit] if edit else None


RULE = Rule(
    id="drop-index-non-concurrently",
    severity=Severity.ERROR,
    summary="DROP INDEX without CONCURRENTLY locks the table against reads and writes.",
    help="Use `DROP INDEX CONCURRENTLY IF EXISTS name` outside a transaction block.",
    kinds=("DropStmt",),
    check=check,
    fix=fix,
    flagged=(
        "drop index users_email;",
        "drop index if exists a, b;",
    ),
    accepted=(
        "drop index concurrently users_email;",
        "create table t (id bigint);\ncreate index t_id on t (id);\ndrop index t_id;",
    ),
)
