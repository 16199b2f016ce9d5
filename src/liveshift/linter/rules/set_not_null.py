"""Rule set-not-null: SET NOT NULL scans the table unless a validated CHECK proves it."""

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
        if subtype != "AT_SetNotNull" or ctx.is_new_table(table):
            continue
        column = cmd.get("name", "")
        if ctx.pg_version < 12:
            yield Hit(
                f"SET NOT NULL on {table}.{column} scans the whole table under an ACCESS EXCLUSIVE "
                f"lock; PostgreSQL {ctx.pg_version} cannot use a CHECK constraint to skip the scan."
            )
        elif (table, column) not in ctx.not_null_proofs:
            yield Hit(
                f"SET NOT NULL on {table}.{column} scans the whole table under an ACCESS EXCLUSIVE "
                "lock: no validated `CHECK (" + column + " IS NOT NULL)` precedes it in this file."
            )


RULE = Rule(
    id="set-not-null",
    severity=Severity.ERROR,
    summary="SET NOT NULL scans the table under an ACCESS EXCLUSIVE lock unless a validated CHECK "
    "constraint already proves the column has no NULLs.",
    help="First `ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID`, then (in a later "
    "transaction) `VALIDATE CONSTRAINT c`, then SET NOT NULL, which PostgreSQL 12+ does without "
    "a scan; drop the CHECK afterwards. liveshift's alter_column with `nullable: false` does this.",
    kinds=("AlterTableStmt:AT_SetNotNull",),
    check=check,
    flagged=(
        "alter table users alter column email set not null;",
        # the check exists but is not validated yet
        "alter table users add constraint c check (email is not null) not valid;\n"
        "alter table users alter column email set not null;",
        # a validated check does not help before PostgreSQL 12
        (
            "alter table users add constraint c check (email is not null);\n"
            "alter table users alter column email set not null;",
            {"pg_version": 11},
        ),
    ),
    accepted=(
        "alter table users add constraint c check (email is not null) not valid;\n"
        "alter table users validate constraint c;\n"
        "alter table users alter column email set not null;",
        "alter table users add constraint c check (email is not null and name is not null);\n"
        "alter table users alter column name set not null;",
        "create table t (id bigint, email text);\nalter table t alter column email set not null;",
    ),
)
