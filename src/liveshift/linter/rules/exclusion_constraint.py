"""Rule exclusion-constraint: ADD EXCLUDE builds its index under an ACCESS EXCLUSIVE lock."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.rule import Hit, Rule, added_constraints, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for table, constraint in added_constraints(statement):
        if constraint.get("contype") == "CONSTR_EXCLUSION" and not ctx.is_new_table(table):
            yield Hit(
                f"ADD EXCLUDE on {table!r} builds its index and checks every row while holding an "
                "ACCESS EXCLUSIVE lock; exclusion constraints have no NOT VALID or USING INDEX form.",
                offset_of(constraint),
            )


RULE = Rule(
    id="exclusion-constraint",
    severity=Severity.ERROR,
    summary="Adding an exclusion constraint to an existing table blocks reads and writes while its "
    "index is built.",
    help="There is no online form: add it when the table is created, or build the replacement "
    "table with the constraint and switch over (liveshift's create_table + backfill), or do it in "
    "a maintenance window with a lock_timeout.",
    kinds=("AlterTableStmt:AT_AddConstraint",),
    check=check,
    flagged=("alter table bookings add constraint no_overlap exclude using gist (room with =);",),
    accepted=(
        "create table bookings (room int);\n"
        "alter table bookings add constraint no_overlap exclude using gist (room with =);",
    ),
)
