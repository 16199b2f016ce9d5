"""Rule add-column-inline-constraint: UNIQUE, REFERENCES or CHECK written inside ADD COLUMN."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Severity
from liveshift.linter.rule import Hit, Rule, added_columns, offset_of
from liveshift.linter.source import Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator

_WHAT = {
    "CONSTR_UNIQUE": "UNIQUE builds its index",
    "CONSTR_PRIMARY": "PRIMARY KEY builds its index",
    "CONSTR_FOREIGN": "REFERENCES validates every row and locks the referenced table",
    "CONSTR_CHECK": "CHECK scans every row",
    "CONSTR_EXCLUSION": "EXCLUDE builds its index",
}


def check(statement: Statement, ctx: Context) -> Iterator[Hit]:
    for added in added_columns(statement):
        table, column = added.table, added.column
        if ctx.is_new_table(table):
            continue
        for constraint in added.constraints:
            what = _WHAT.get(constraint.get("contype", ""))
            if what:
                yield Hit(
                    f"Inline constraint on new column {column.get('colname')!r} of {table!r}: "
                    f"{what} while ALTER TABLE holds an ACCESS EXCLUSIVE lock.",
                    offset_of(constraint),
                )


RULE = Rule(
    id="add-column-inline-constraint",
    severity=Severity.ERROR,
    summary="A constraint written inside ADD COLUMN is built or validated under the ALTER's "
    "exclusive lock.",
    help="Add the bare column first; then add the constraint the safe way in its own statement: "
    "`CREATE UNIQUE INDEX CONCURRENTLY` + `ADD CONSTRAINT ... UNIQUE USING INDEX`, or "
    "`ADD CONSTRAINT ... FOREIGN KEY/CHECK ... NOT VALID` followed by `VALIDATE CONSTRAINT`.",
    kinds=("AlterTableStmt:AT_AddColumn",),
    check=check,
    flagged=(
        "alter table users add column email text unique;",
        "alter table users add column org_id bigint references orgs (id);",
        "alter table users add column n int check (n > 0);",
    ),
    accepted=(
        "alter table users add column email text;",
        "alter table users add column n int not null default 0;",
    ),
)
