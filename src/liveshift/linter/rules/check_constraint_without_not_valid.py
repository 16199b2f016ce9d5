"""Rule check-constraint-without-not-valid: ADD CHECK scans every row under an exclusive lock."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.edits import not_valid_then_validate
from liveshift.linter.finding import Severity
from liveshift.linter.rule import Hit, Rule, added_constraints, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for table, constraint in added_constraints(statement):
        if constraint.get("contype") != "CONSTR_CHECK" or constraint.get("skip_validation"):
            continue
        if ctx.is_new_table(table):
            continue
        name = f" {constraint['conname']}" if constraint.get("conname") else ""
        yield Hit(
            f"ADD CONSTRAINT{name} CHECK on {table!r} without NOT VALID scans every row while "
            "holding an ACCESS EXCLUSIVE lock.",
            offset_of(constraint),
        )


RULE = Rule(
    id="check-constraint-without-not-valid",
    severity=Severity.ERROR,
    summary="Adding a CHECK constraint without NOT VALID scans the table under an ACCESS EXCLUSIVE "
    "lock.",
    help="Add it with `NOT VALID` (instant; new rows are checked), then `VALIDATE CONSTRAINT` in a "
    "later transaction, which scans under a lock that allows reads and writes.",
    kinds=("AlterTableStmt:AT_AddConstraint",),
    check=check,
    fix=not_valid_then_validate,
    flagged=("alter table users add constraint positive check (n > 0);",),
    accepted=(
        "alter table users add constraint positive check (n > 0) not valid;",
        "create table t (n int);\nalter table t add constraint positive check (n > 0);",
    ),
)
