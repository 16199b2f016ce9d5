"""Rule reindex-non-concurrently: REINDEX blocks writes (and reads of an index) while it runs."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.edits import Edit, FixInput, insert_after_keyword
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import def_elem_names, relation_name
from liveshift.linter.rule import Hit, Rule
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    node = statement.node
    if "concurrently" in def_elem_names(node.get("params")):
        return
    relation = relation_name(node.get("relation")) or node.get("name", "")
    if relation and ctx.is_new_table(relation):
        return
    target = f" {relation}" if relation else ""
    yield Hit(
        f"REINDEX{target} without CONCURRENTLY blocks writes to the table (and queries that use "
        "the index) until every index is rebuilt."
    )


_KEYWORDS = {"REINDEX_OBJECT_INDEX": "INDEX", "REINDEX_OBJECT_TABLE": "TABLE"}


def fix(statement: Statement, ctx: Context, hit: Hit, fix_input: FixInput) -> list[Edit] | None:
    # SCHEMA and DATABASE CONCURRENTLY skip the system catalogs: not the same statement.
    keyword = _KEYWORDS.get(statement.node.get("kind", ""))
    if keyword is None or ctx.pg_version < 12 or ctx.in_transaction:
        return None
    edit = insert_after_keyword(fix_input.source, statement, (keyword,), " CONCURRENTLY")
    return [edit] if edit else None


RULE = Rule(
    id="reindex-non-concurrently",
    severity=Severity.ERROR,
    summary="REINDEX without CONCURRENTLY blocks writes while it rebuilds.",
    help="Use `REINDEX (CONCURRENTLY) ...` / `REINDEX ... CONCURRENTLY` on PostgreSQL 12+, outside "
    "a transaction block; before 12, `CREATE INDEX CONCURRENTLY` a copy, then drop the old "
    "index concurrently and rename the new one.",
    kinds=("ReindexStmt",),
    check=check,
    fix=fix,
    flagged=(
        "reindex index users_email;",
        "reindex table users;",
    ),
    accepted=(
        "reindex index concurrently users_email;",
        "reindex (verbose) table concurrently users;",
    ),
)
