"""Rule missing-lock-timeout: a blocking lock taken with no lock_timeout queues all traffic."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.edits import Edit, FixInput, before_statement, keywords_like
from liveshift.linter.finding import Severity
from liveshift.linter.locks import effects
from liveshift.linter.rule import Hit, Rule
from liveshift.linter.source import Statement
from liveshift.locks import ACCESS_EXCLUSIVE, blocks_writes, sql_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    if ctx.lock_timeout:
        return
    for effect in effects(statement, ctx):
        if blocks_writes(effect.mode) and not ctx.is_new_table(effect.relation):
            blocked = "every query" if effect.mode == ACCESS_EXCLUSIVE else "every write"
            yield Hit(
                f"This statement takes the {sql_name(effect.mode)} lock on {effect.relation!r} with no lock_timeout "
                f"set: while it waits behind a long transaction, {blocked} on the table queues "
                "behind it."
            )
            return


def fix(statement: Statement, ctx: Context, hit: Hit, fix_input: FixInput) -> list[Edit] | None:
    # SET LOCAL inside a transaction block: the setting ends with it, as the migration's does.
    keyword = keywords_like(fix_input.source, statement)
    local = keyword("LOCAL ") if ctx.in_transaction else ""
    setting = f"{keyword('SET')} {local}lock_timeout = '2s';"
    return [before_statement(fix_input, statement, setting)]


RULE = Rule(
    id="missing-lock-timeout",
    severity=Severity.ERROR,
    summary="A statement that takes a blocking lock has no lock_timeout set before it.",
    help="Put `SET lock_timeout = '2s';` (or `SET LOCAL` inside the transaction) before it and "
    "retry on failure; liveshift runs every step with a lock_timeout and retries with backoff.",
    kinds=(
        "AlterTableStmt", "IndexStmt", "DropStmt", "RenameStmt", "TruncateStmt", "VacuumStmt",
        "ClusterStmt", "LockStmt", "ReindexStmt", "CreateStmt", "CreateTrigStmt",
    ),
    check=check,
    fix=fix,
    fix_alone=True,
    flagged=(
            "alter table users add column n int;",
            "create index i on users (email);",
            "drop table users;",
            "alter table users add constraint fk foreign key (a) references orgs (id) not valid;",
            "begin;\nset local lock_timeout = '2s';\ncommit;\nalter table users add column n int;",
            "set lock_timeout = '2s';\nreset lock_timeout;\nalter table users add column n int;",
            "set lock_timeout = 0;\nalter table users add column n int;",
            "set local lock_timeout = '1s';\nalter table users add column n int;",  # no effect
),
    accepted=(
            "set lock_timeout = '2s';\nalter table users add column n int;",
            "begin;\nset local lock_timeout = '2s';\nalter table users add column n int;\ncommit;",
            "select set_config('lock_timeout', '2s', false);\nalter table users add column n int;",
            "create index concurrently i on users (email);",
            "alter table users validate constraint c;",
            "create table t (a int);\nalter table t add column b int;",
            "update users set a = 1 where id = 1;",
),
)  # fmt: skip
