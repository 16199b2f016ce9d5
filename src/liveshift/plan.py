"""Plans are data: ordered steps with their SQL, the lock they take and what they cost."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# The lock vocabulary is shared with the linter; plans and their many importers name it here.
from liveshift.locks import LockMode as LockMode

if TYPE_CHECKING:
    from liveshift.operations.actions import Action


@dataclass(frozen=True)
class Backfill:
    """Fill `column` of `table` from `expression` for rows that existed before the sync trigger.

    `where` limits the rows that still need it (e.g. `col IS NULL`), which keeps batches idempotent
    and never overwrites a value a client wrote after the trigger was installed.
    """

    schema: str
    table: str
    column: str
    expression: str
    where: str
    key: tuple[str, ...] | None  # keyset columns; None: the table has no usable key
    # A catch-up step follows (the UPDATE trigger is installed after this backfill): recomputing
    # `up` for every row (--verify) waits until the catch-up has run.
    catch_up_follows: bool = False
    # Write with session_replication_role = replica: the table's own triggers do not fire for the
    # rows the backfill (and its catch-up) writes (`backfill_triggers: skip`).
    skip_triggers: bool = False


@dataclass(frozen=True)
class CatchUp:
    """Recompute `target.column` for the rows whose keys `log` holds: rows old clients updated
    while the backfill ran, before the UPDATE trigger existed. Each batch deletes its keys from
    the log in the transaction that fixes their rows, so a rerun goes on where the last stopped."""

    target: Backfill
    log: str  # the change log, schema-qualified and quoted


@dataclass(frozen=True)
class ConcurrentIndex:
    """CREATE INDEX CONCURRENTLY, which must run outside a transaction and may leave an invalid
    index behind when it fails; the executor drops such a leftover and builds it again."""

    schema: str
    name: str
    create_sql: str


# A note that starts so is said out loud by the command that runs the step, before it runs.
WARNING = "warning: "


@dataclass(frozen=True)
class Step:
    """One unit of work: one statement (or a backfill), one lock, one transaction."""

    description: str
    sql: str = ""
    # What the step does, as actions the engine renders into `sql` when the plan is compiled
    # (planner.compile_steps); not stored: a stored plan keeps the rendered text.
    actions: tuple[Action, ...] = ()
    lock: LockMode | None = None
    tables: tuple[str, ...] = ()  # schema-qualified tables the lock is taken on
    rewrites: bool = False
    scans: bool = False
    transactional: bool = True
    estimated_rows: int | None = None
    backfill: Backfill | None = None
    concurrent_index: ConcurrentIndex | None = None
    catch_up: CatchUp | None = None
    operation: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Rollback: the start positions whose effects this step undoes; it is not needed when none of
    # them ran. Empty: always run (plans stored by an older liveshift have none).
    undoes: tuple[int, ...] = ()
    # Complete: after this step, rollback still restores the state before the migration exactly
    # (a VALIDATE: the constraint goes with rollback). Irreversible unless said (older plans).
    reversible: bool = False
    # Changes a column's type in place: the version views over `tables` must be dropped and
    # made again around it (PostgreSQL refuses ALTER TYPE of a column a view uses).
    retypes: bool = False

    @property
    def warnings(self) -> tuple[str, ...]:
        """The notes the command running this step prints before it starts (`WARNING`)."""
        return tuple(note for note in self.notes if note.startswith(WARNING))

    @property
    def kind(self) -> str:
        if self.backfill is not None:
            return "backfill"
        if self.concurrent_index is not None:
            return "concurrent index"
        if self.catch_up is not None:
            return "catch-up"
        return "ddl" if self.transactional else "non-transactional"

    @property
    def guarded(self) -> bool:
        """Whether waiting for this step's lock would queue application traffic behind it, so the
        wait must be bounded by lock_timeout and retried."""
        return self.lock is not None and self.lock.blocks_writes

    def as_dict(self) -> dict[str, object]:
        return {
            "operation": self.operation,
            "description": self.description,
            "kind": self.kind,
            "sql": self.display_sql(),
            "lock": self.lock.value if self.lock else None,
            "lock_impact": self.lock.impact if self.lock else None,
            "tables": list(self.tables),
            "rewrites": self.rewrites,
            "scans": self.scans,
            "transactional": self.transactional,
            "estimated_rows": self.estimated_rows,
            "notes": list(self.notes),
        }

    def display_sql(self) -> str:
        if self.backfill is not None:
            b = self.backfill
            key = ", ".join(b.key) if b.key else "ctid (no usable key)"
            return (
                f"-- in batches ordered by ({key}):\n"
                f"UPDATE ONLY {b.schema}.{b.table} SET {b.column} = {b.expression} WHERE {b.where}"
            )
        if self.concurrent_index is not None:
            return self.concurrent_index.create_sql
        if self.catch_up is not None:
            c = self.catch_up.target
            key = ", ".join(c.key or ())
            return (
                f"-- in batches of logged keys, each deleted from the log as its rows are fixed:\n"
                f"UPDATE ONLY {c.schema}.{c.table} SET {c.column} = {c.expression} "
                f"WHERE ({key}) IN (SELECT {key} FROM {self.catch_up.log})"
            )
        return self.sql


def step_to_json(step: Step) -> dict[str, Any]:
    """A step as plain data (stored with the migration so complete/rollback replay it exactly)."""
    data = dataclasses.asdict(dataclasses.replace(step, actions=()))
    del data["actions"]
    data["lock"] = step.lock.value if step.lock else None
    return data


def step_from_json(data: dict[str, Any]) -> Step:
    data = dict(data)
    data["lock"] = LockMode(data["lock"]) if data.get("lock") else None
    data["tables"] = tuple(data.get("tables", ()))
    data["notes"] = tuple(data.get("notes", ()))
    data["undoes"] = tuple(data.get("undoes", ()))
    if data.get("backfill"):
        data["backfill"] = _backfill_from_json(data["backfill"])
    if data.get("catch_up"):
        catch_up = data["catch_up"]
        data["catch_up"] = CatchUp(_backfill_from_json(catch_up["target"]), catch_up["log"])
    if data.get("concurrent_index"):
        data["concurrent_index"] = ConcurrentIndex(**data["concurrent_index"])
    return Step(**data)


def _backfill_from_json(data: dict[str, Any]) -> Backfill:
    backfill = dict(data)
    backfill["key"] = tuple(backfill["key"]) if backfill.get("key") else None
    return Backfill(**backfill)
