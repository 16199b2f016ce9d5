"""Rule foreign-key-without-not-valid: ADD FOREIGN KEY validates every row while blocking writes."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.edits import not_valid_then_validate
from liveshift.linter.finding import Severity
from liveshift.linter.nodes import relation_name
from liveshift.linter.rule import Hit, Rule, added_constraints, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for table, constraint in added_constraints(statement):
        if constraint.get("contype") != "CONSTR_FOREIGN" or constraint.get("skip_validation"):
            continue
        if ctx.is_new_table(table):
            continue
        referenced = relation_name(constraint.get("pktable"))
        yield Hit(
            f"ADD FOREIGN KEY on {table!r} without NOT VALID checks every row while holding SHARE "
            f"ROW EXCLUSIVE locks on {table!r} and {referenced!r}, blocking writes to both.",
            offset_of(constraint),
        )


RULE = Rule(
    id="foreign-key-without-not-valid",
    severity=Severity.ERROR,
    summary="Adding a foreign key without NOT VALID blocks writes to both tables while every row "
    "is checked.",
    help="Add it with `NOT VALID`, then `VALIDATE CONSTRAINT` in a later transaction (it takes "
    "only SHARE UPDATE EXCLUSIVE on the table and ROW SHARE on the referenced one).",
    kinds=("AlterTableStmt:AT_AddConstraint",),
    check=check,
    fix=not_valid_then_validate,
    flagged=("alter table users add constraint fk foreign key (org_id) references orgs (id);",),
    accepted=(
        "alter table users add constraint fk foreign key (org_id) references orgs (id) not valid;",
        "create table t (org_id bigint);\n"
        "alter table t add constraint fk foreign key (org_id) references orgs (id);",
    ),
)
