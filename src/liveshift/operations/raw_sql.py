"""raw_sql: hand-written SQL run as its own step at start or complete (`up`), rollback (`down`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pglast
from pglast import ast

from liveshift.errors import ValidationError
from liveshift.migration.models import RawSql
from liveshift.operations.actions import Sql
from liveshift.operations.actions.tables import Nothing
from liveshift.operations.base import CheckedOperation
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe

LOCK_UNKNOWN = (
    "raw SQL: liveshift does not know which locks it takes; it runs under lock_timeout (with "
    "retries) as if it needed ACCESS EXCLUSIVE"
)
NO_DOWN = "raw_sql has no `down`: rollback leaves its `up` applied"
RERUN = (
    "a later start of this migration, after a rollback, skips this `up` (recorded as applied) "
    "as long as its text is unchanged"
)

# Whether a rolled-back start of the same migration ran this very `up` (rollback left it applied).
# Statement types PostgreSQL refuses to run inside a transaction block.
_OUTSIDE_TRANSACTION = (
    ast.VacuumStmt,
    ast.CreatedbStmt,
    ast.DropdbStmt,
    ast.AlterSystemStmt,
    ast.CreateTableSpaceStmt,
    ast.DropTableSpaceStmt,
    ast.CreateSubscriptionStmt,
    ast.DropSubscriptionStmt,
)


def _needs_autocommit(statement: Any) -> bool:
    if isinstance(statement, _OUTSIDE_TRANSACTION):
        return True
    if isinstance(statement, ast.IndexStmt | ast.DropStmt) and statement.concurrent:
        return True
    if isinstance(statement, ast.ReindexStmt):
        return any(p.defname == "concurrently" for p in statement.params or ())
    return False


def _parse(sql: str, what: str) -> bool:
    """Check that `sql` parses; True when it must run outside a transaction (then it must be a
    single statement: several statements in one step would run as one implicit transaction)."""
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        raise ValidationError(
            f"the raw_sql `{what}` does not parse: {exc.args[0]}",
            hint="Write PostgreSQL statements separated by semicolons.",
        ) from None
    if not statements:
        raise ValidationError(f"the raw_sql `{what}` holds no statement")
    outside = [s for s in statements if _needs_autocommit(s.stmt)]
    if outside and len(statements) > 1:
        raise ValidationError(
            f"the raw_sql `{what}` mixes a statement that cannot run in a transaction "
            f"({type(outside[0].stmt).__name__}) with others",
            hint="Put that statement in a raw_sql operation of its own.",
        )
    return bool(outside)


@dataclass(frozen=True)
class RawSqlChecked:
    """What validate found: whether `up` and `down` must run outside a transaction, and whether a
    rolled-back start of this migration already ran an `up` with no `down`."""

    up_outside_transaction: bool
    down_outside_transaction: bool
    applied_before: bool


class RawSqlOperation(CheckedOperation[RawSql, RawSqlChecked]):
    """Expand: `up`, in its own step (one transaction unless it is a single statement that cannot
    run in one, e.g. CREATE INDEX CONCURRENTLY). Contract: nothing, or `up` with `on_complete`.
    Rollback: `down`; without a `down` rollback goes on and says, in the plan and as it runs, that
    `up` stays applied, and a later start of the same migration skips that `up` (the step journal
    says a rolled-back start ran it) instead of failing on what it left ("already exists").
    The schema model does not follow raw SQL: later operations and the version schema see the
    tables as they were before it."""

    name = "raw_sql"

    def validate(self, schema: Schema, probe: Probe) -> RawSqlChecked:
        up_outside_transaction = _parse(self.spec.up, "up")
        down_outside_transaction = False
        if self.spec.down is not None:
            down_outside_transaction = _parse(self.spec.down, "down")
        applied_before = False
        if self.spec.down is None and not self.spec.on_complete:
            applied_before = _applied_before(
                probe, self.names.schema, self.names.migration, self.spec.up
            )
        return RawSqlChecked(up_outside_transaction, down_outside_transaction, applied_before)

    def _step(self, description: str, sql: str, outside: bool) -> Step:
        return Step(
            description,
            actions=(Sql(text=sql),),  # the user's own SQL, as written
            # Lock unknown: inside a transaction assume the worst, so the wait is bounded by
            # lock_timeout and retried; outside one (CONCURRENTLY, VACUUM) a retry could leave
            # an invalid index half-built, so it waits like the statement itself does.
            lock=None if outside else LockMode.ACCESS_EXCLUSIVE,
            transactional=not outside,
            operation=self.name,
            notes=(
                LOCK_UNKNOWN
                if not outside
                else "raw SQL: locks unknown; run without a transaction and without lock_timeout",
            ),
        )

    def _up(self, checked: RawSqlChecked) -> Step:
        return self._step("run raw SQL (up)", self.spec.up, checked.up_outside_transaction)

    def start(self, checked: RawSqlChecked, before: Schema, after: Schema) -> list[Step]:
        if self.spec.on_complete:
            return []
        if checked.applied_before:
            return [
                Step(
                    f"skip raw SQL (up), already applied by a rolled-back start of "
                    f"{self.names.migration} ({_excerpt(self.spec.up)})",
                    actions=(Nothing(),),
                    operation=self.name,
                    notes=(f"{NO_DOWN}, and an earlier start of this migration ran it", RERUN),
                )
            ]
        step = self._up(checked)
        if self.spec.down is None:
            step = dataclasses.replace(step, notes=(*step.notes, NO_DOWN, RERUN))
        return [step]

    def complete(self, checked: RawSqlChecked, before: Schema, after: Schema) -> list[Step]:
        if not self.spec.on_complete:
            return []
        step = self._up(checked)
        return [dataclasses.replace(step, description="run raw SQL at complete (up)")]

    def rollback(self, checked: RawSqlChecked, before: Schema, after: Schema) -> list[Step]:
        if self.spec.on_complete:
            return []  # nothing ran before complete
        if self.spec.down is None:
            return [
                Step(
                    f"WARNING: {NO_DOWN} ({_excerpt(self.spec.up)})",
                    actions=(Nothing(),),
                    operation=self.name,
                    notes=(NO_DOWN, RERUN),
                )
            ]
        return [self._step("run raw SQL (down)", self.spec.down, checked.down_outside_transaction)]


def _applied_before(probe: Probe, schema: str, migration: str, up: str) -> bool:
    return probe.raw_sql_ran_before(schema, migration, up)


def _excerpt(sql: str, limit: int = 60) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
