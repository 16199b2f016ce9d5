"""The triggers that keep old and new application versions consistent during a migration: the
settings a backfill runs under, and the change log's names (engines/postgres/render/triggers.py
writes their PL/pgSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.schema import Table

if TYPE_CHECKING:
    from liveshift.operations.actions.triggers import CreateChangeLog, DropChangeLog, DropTrigger

# The backfill sets this in its own transactions: its rows already carry the value it computed,
# so the trigger's WHEN clause skips them without entering PL/pgSQL at all.
BACKFILL_SETTING = "liveshift.backfill"
SKIP_BACKFILL = f"current_setting('{BACKFILL_SETTING}', true) is distinct from 'on'"
# `backfill_triggers: skip`: the backfill and its catch-up set this in their transactions, under
# which the table's ordinary triggers do not fire (operations/table_triggers.py).
REPLICA_ROLE = ("session_replication_role", "replica")


@dataclass(frozen=True)
class ChangeLog:
    """The change log of one column's backfill: a table `log` of the keys of rows old clients
    update while the backfill runs (each key once, however often its row is updated), filled by an
    AFTER UPDATE trigger. It stands in for the BEFORE UPDATE trigger until the backfill is done,
    so that the backfill's own rows are not each locked before they are written; the rows it names
    are recomputed afterwards (the catch-up step)."""

    log: str  # schema-qualified, quoted
    function: str  # schema-qualified, quoted
    trigger: str  # on the table, unquoted

    def create(self, table: Table, *, target: str, key: tuple[str, ...]) -> CreateChangeLog:
        """The log keyed on `key`, its function and trigger. The trigger skips what the BEFORE
        UPDATE trigger skips: rows whose `target` the statement changed (the backfill's), and a
        backfill of another column. Its function is SECURITY DEFINER: the application's role
        needs no privilege on the log."""
        # Imported here: the backfill and catch-up modules import this one for its settings,
        # and the operations package (which the actions live in) imports them.
        from liveshift.operations.actions.triggers import CreateChangeLog

        return CreateChangeLog(
            table=table.qualified,
            log=self.log,
            function=self.function,
            trigger=self.trigger,
            target=target,
            key=key,
        )

    def drop_trigger(self, table: Table) -> DropTrigger:
        from liveshift.operations.actions.triggers import DropTrigger

        return DropTrigger(table=table.qualified, name=self.trigger)

    def drop(self) -> DropChangeLog:
        """The log and its function (after its trigger)."""
        from liveshift.operations.actions.triggers import DropChangeLog

        return DropChangeLog(log=self.log, function=self.function)
