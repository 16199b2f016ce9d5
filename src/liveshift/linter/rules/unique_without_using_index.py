"""Rule unique-without-using-index: ADD UNIQUE / PRIMARY KEY builds an index under an exclusive lock."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.rule import Hit, Rule, added_constraints, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator

_KINDS = {"CONSTR_UNIQUE": "UNIQUE", "CONSTR_PRIMARY": "PRIMARY KEY"}


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for table, constraint in added_constraints(statement):
        kind = _KINDS.get(constraint.get("contype", ""))
        if kind is None or constraint.get("indexname") or ctx.is_new_table(table):
            continue
        yield Hit(
            f"ADD {kind} on {table!r} without USING INDEX builds the index while holding an ACCESS "
            "EXCLUSIVE lock, blocking reads and writes for the whole build.",
            offset_of(constraint),
        )


RULE = Rule(
    id="unique-without-using-index",
    severity=Severity.ERROR,
    summary="Adding a UNIQUE or PRIMARY KEY constraint without USING INDEX builds its index under "
    "an ACCESS EXCLUSIVE lock.",
    help="`CREATE UNIQUE INDEX CONCURRENTLY idx ON t (cols)`, then `ALTER TABLE t ADD CONSTRAINT c "
    "UNIQUE USING INDEX idx` (or `PRIMARY KEY USING INDEX idx`, after the columns are NOT NULL).",
    kinds=("AlterTableStmt:AT_AddConstraint",),
    check=check,
    flagged=(
        "alter table users add constraint u unique (email);",
        "alter table users add primary key (id);",
    ),
    accepted=(
        "alter table users add constraint u unique using index users_email;",
        "alter table users add constraint pk primary key using index users_pk;",
        "create table t (id bigint);\nalter table t add primary key (id);",
    ),
)
