"""Rule validate-in-same-transaction: VALIDATE right after ADD ... NOT VALID keeps the strong lock."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.rule import Hit, Rule, alter_commands
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for table, subtype, cmd in alter_commands(statement):
        if subtype != "AT_ValidateConstraint" or ctx.is_new_table(table):
            continue
        name = cmd.get("name", "")
        pending = ctx.not_valid.get((table, name))
        if pending is not None and pending[0] == ctx.transaction:
            yield Hit(
                f"VALIDATE CONSTRAINT {name} runs in the same transaction that added it NOT VALID, "
                f"so the lock the ADD took on {table!r} is still held during the validation scan."
            )


RULE = Rule(
    id="validate-in-same-transaction",
    severity=Severity.ERROR,
    summary="Validating a constraint in the transaction that added it NOT VALID holds the ADD's "
    "lock for the whole scan.",
    help="COMMIT after `ADD CONSTRAINT ... NOT VALID` and run `VALIDATE CONSTRAINT` in a new "
    "transaction (or a later migration).",
    kinds=("AlterTableStmt:AT_ValidateConstraint",),
    check=check,
    flagged=(
        "begin;\nalter table users add constraint c check (n > 0) not valid;\n"
        "alter table users validate constraint c;\ncommit;",
    ),
    accepted=(
        "alter table users add constraint c check (n > 0) not valid;\n"
        "alter table users validate constraint c;",
        "begin;\nalter table users add constraint c check (n > 0) not valid;\ncommit;\n"
        "begin;\nalter table users validate constraint c;\ncommit;",
    ),
)
