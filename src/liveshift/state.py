"""Migration state kept in the target database: history, step journal, backfill checkpoints."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from liveshift.engines.base import Connection, DriverError, UniqueViolation
from liveshift.engines.state import STATE_SCHEMA as STATE_SCHEMA  # re-exported: its old home
from liveshift.engines.state import StateSql
from liveshift.errors import Interrupted, MigrationBusy, StateError
from liveshift.settings import format_duration

# The engine's StateSql creates this version and upgrades every older one to it.
STATE_VERSION = 3

ACTIVE_PHASES = ("starting", "started", "completing", "rolling_back")


@dataclass
class MigrationRecord:
    id: int
    schema_name: str
    name: str
    checksum: str
    phase: str
    version_schema: str
    previous_version_schema: str | None
    plan: dict[str, Any]
    operations: list[Any]
    created_at: Any = None
    started_at: Any = None
    completed_at: Any = None
    rolled_back_at: Any = None
    source: str | None = None

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES


_COLUMNS = (
    "id, schema_name, name, checksum, phase, version_schema, previous_version_schema, plan, "
    "operations, created_at, started_at, completed_at, rolled_back_at, source"
)


def default_state_sql() -> StateSql:
    """The state SQL for callers that do not name their engine: PostgreSQL's, the only engine
    that keeps state so far (the migrator passes its engine's)."""
    from liveshift.engines.postgres.state_sql import STATE_SQL

    return STATE_SQL


class StateStore:
    """Reads and writes the `liveshift` schema over an autocommit connection: the logic and the
    portable SQL here, what differs between engines in `sql` (the engine's StateSql). The
    statements below use `now()` (the transaction's start time), which every engine has."""

    def __init__(self, conn: Connection, sql: StateSql | None = None) -> None:
        self.conn = conn
        self.sql = sql or default_state_sql()

    def exists(self) -> bool:
        return self.sql.exists(self.conn)

    def init(self) -> bool:
        """Create the state schema if missing, or bring an older one up to date; True when it
        was created now."""
        if self.exists():
            self.upgrade()
            return False
        with self.conn.transaction():
            # Two runners initialising at once: the second waits here, then finds it done.
            self.sql.lock_init(self.conn)
            try:
                if self.exists():
                    self._upgrade_locked()
                    return False
                self.sql.create(self.conn, STATE_VERSION)
            finally:
                self.sql.unlock_init(self.conn)
        return True

    def version(self) -> int:
        row = self.conn.execute(
            f"select coalesce(max(version), 1) from {STATE_SCHEMA}.state_version"
        ).fetchone()
        return int(row[0]) if row else 1

    def upgrade(self) -> None:
        """Apply the upgrades an older liveshift's state is missing, in one transaction with the
        new version number; a state newer than this liveshift is refused."""
        version = self.version()
        if version > STATE_VERSION:
            raise StateError(
                f"this database's liveshift state is version {version}, newer than this "
                f"liveshift understands ({STATE_VERSION})",
                hint="Upgrade liveshift (pip install -U liveshift) before running it here.",
            )
        if version < STATE_VERSION:
            with self.conn.transaction():
                self.sql.lock_init(self.conn)
                try:
                    self._upgrade_locked()
                finally:
                    self.sql.unlock_init(self.conn)

    def _upgrade_locked(self) -> None:
        version = self.version()
        for target in range(version + 1, STATE_VERSION + 1):
            self.sql.upgrade(self.conn, target)
        if version < STATE_VERSION:
            self.conn.execute(
                f"update {STATE_SCHEMA}.state_version set version = %s", (STATE_VERSION,)
            )

    def require(self) -> None:
        if not self.exists():
            raise StateError(
                "liveshift has no state in this database yet",
                hint="Run `liveshift init` (or `liveshift start FILE`, which initialises it).",
            )

    def _records(self, where: str, params: tuple[Any, ...]) -> list[MigrationRecord]:
        rows = self.conn.fetch_dicts(
            f"select {_COLUMNS} from {STATE_SCHEMA}.migrations where {where} order by id", params
        )
        return [MigrationRecord(**self.sql.decode_row(row)) for row in rows]

    def active(self, schema: str) -> MigrationRecord | None:
        phases = ", ".join(["%s"] * len(ACTIVE_PHASES))
        found = self._records(f"schema_name = %s and phase in ({phases})", (schema, *ACTIVE_PHASES))
        return found[0] if found else None

    def get(self, migration_id: int) -> MigrationRecord:
        return self._records("id = %s", (migration_id,))[0]

    def history(self, schema: str | None = None) -> list[MigrationRecord]:
        if schema is None:
            return self._records("true", ())
        return self._records("schema_name = %s", (schema,))

    def find(self, schema: str, name: str) -> MigrationRecord | None:
        found = self._records(
            "schema_name = %s and name = %s and phase <> 'rolled_back'", (schema, name)
        )
        return found[0] if found else None

    def last_complete(self, schema: str) -> MigrationRecord | None:
        found = self._records("schema_name = %s and phase = 'complete'", (schema,))
        return found[-1] if found else None

    def create(
        self,
        *,
        schema: str,
        name: str,
        checksum: str,
        operations: list[Any],
        plan: dict[str, Any],
        version_schema: str,
        previous_version_schema: str | None,
        source: str | None,
        liveshift_version: str,
    ) -> int:
        try:
            return self.sql.insert_migration(
                self.conn,
                {
                    "schema_name": schema,
                    "name": name,
                    "checksum": checksum,
                    "operations": dumps(operations),
                    "plan": dumps(plan),
                    "version_schema": version_schema,
                    "previous_version_schema": previous_version_schema,
                    "source": source,
                    "liveshift_version": liveshift_version,
                },
            )
        except UniqueViolation:
            raise StateError(
                f"migration {name!r} is already recorded for schema {schema!r} (or another "
                "migration is active there)",
                hint="See `liveshift status` and `liveshift history`.",
            ) from None

    def set_phase(self, migration_id: int, phase: str) -> None:
        stamp = {
            "complete": ", completed_at = now()",
            "rolled_back": ", rolled_back_at = now()",
            "started": "",
        }.get(phase, "")
        self.conn.execute(
            f"update {STATE_SCHEMA}.migrations set phase = %s{stamp} where id = %s",
            (phase, migration_id),
        )

    def done_steps(self, migration_id: int, phase: str) -> set[int]:
        rows = self.conn.execute(
            f"select position from {STATE_SCHEMA}.steps where migration_id = %s and phase = %s "
            "and status = 'done'",
            (migration_id, phase),
        ).fetchall()
        return {int(r[0]) for r in rows}

    def begun_steps(self, migration_id: int, phase: str) -> set[int]:
        """Positions journaled as begun but not done: steps outside a transaction that may have
        taken effect in part (see Executor.run)."""
        rows = self.conn.execute(
            f"select position from {STATE_SCHEMA}.steps where migration_id = %s and phase = %s "
            "and status = 'failed'",
            (migration_id, phase),
        ).fetchall()
        return {int(r[0]) for r in rows}

    def steps(self, migration_id: int) -> list[dict[str, Any]]:
        # Qualified: `rows` is a reserved word on MariaDB.
        rows = self.conn.fetch_dicts(
            "select s.phase, s.position, s.operation, s.description, s.lock_mode, s.status, "
            "s.started_at, s.duration_ms, s.lock_retries, s.rows, s.error, s.lock_held_ms "
            f"from {STATE_SCHEMA}.steps s where s.migration_id = %s "
            "order by s.started_at, s.position",
            (migration_id,),
        )
        return [self.sql.decode_row(r) for r in rows]

    def backfills(self, migration_id: int) -> list[dict[str, Any]]:
        # One row per column: the slices of a backfill (--workers) added together.
        return self.sql.backfill_summary(self.conn, migration_id)

    def paused(self, schema: str) -> str | None:
        row = self.conn.execute(
            f"select paused, reason from {STATE_SCHEMA}.control where schema_name = %s", (schema,)
        ).fetchone()
        if row and row[0]:
            return str(row[1] or "paused by `liveshift pause`")
        return None

    def set_paused(self, schema: str, paused: bool, reason: str | None = None) -> None:
        self.sql.set_paused(self.conn, schema, paused, reason)

    # -- backfill checkpoints (liveshift.backfills) ----------------------------------------------
    # One row per slice of a backfill, keyed by (migration, table, column, slice). The backfill
    # package reads and writes them only through these methods; a lane calls them on a
    # StateStore over its own connection, so a checkpoint commits with its batch.

    def backfill_slices(self, migration_id: int, table: str, column: str) -> list[Any]:
        """(checkpoint, upper_bound, rows_done, rows_total, batches, slice, finished) of every
        slice of the backfill of `table`.`column`, in slice order (none: it never began)."""
        rows = self.conn.execute(
            "select checkpoint, upper_bound, rows_done, rows_total, batches, slice, "
            f"finished_at is not null from {STATE_SCHEMA}.backfills "
            "where migration_id = %s and table_name = %s and column_name = %s order by slice",
            (migration_id, table, column),
        ).fetchall()
        decode = self.sql.decode_json
        return [(decode(r[0]), decode(r[1]), *r[2:6], bool(r[6])) for r in rows]

    def begin_backfill(
        self,
        migration_id: int,
        table: str,
        column: str,
        key_columns: list[str],
        slices: list[tuple[int, list[str] | None, list[str] | None, int]],
    ) -> None:
        """Record the slices of a backfill that begins: (slice, checkpoint, upper bound, rows
        estimated) each, in one transaction; slices recorded before are kept."""
        with self.conn.transaction():
            for number, checkpoint, upper_bound, rows_total in slices:
                self.sql.insert_backfill_slice(
                    self.conn,
                    {
                        "migration_id": migration_id,
                        "table_name": table,
                        "column_name": column,
                        "slice": number,
                        "key_columns": key_columns,
                        "checkpoint": checkpoint,
                        "upper_bound": upper_bound,
                        "rows_total": rows_total,
                    },
                )

    def checkpoint_backfill(
        self,
        migration_id: int,
        table: str,
        column: str,
        slice_: int,
        *,
        checkpoint: list[str],
        rows: int,
        batch_size: int,
        rows_per_second: float,
        throttle: str | None,
        sample_sql: str | None = None,
    ) -> Any:
        """Queue one batch's checkpoint (inside the batch's transaction). With `sample_sql` (a
        query of one row), the cursor returned holds that row, read while the batch still holds
        its rows."""
        values = {
            "migration_id": migration_id,
            "table_name": table,
            "column_name": column,
            "slice": slice_,
            "checkpoint": checkpoint,
            "rows": rows,
            "batch_size": batch_size,
            "rows_per_second": rows_per_second,
            "throttle": throttle,
        }
        return self.sql.checkpoint_backfill(self.conn, values, sample_sql)

    def backfill_throttled(
        self, migration_id: int, table: str, column: str, slice_: int, reason: str | None
    ) -> None:
        """Record why a slice waits (None: it no longer does)."""
        self.conn.execute(
            f"update {STATE_SCHEMA}.backfills set throttle = %s, updated_at = now() "
            "where migration_id = %s and table_name = %s and column_name = %s and slice = %s",
            (reason, migration_id, table, column, slice_),
        )

    def finish_backfill_slice(
        self, migration_id: int, table: str, column: str, slice_: int
    ) -> None:
        self.conn.execute(
            f"update {STATE_SCHEMA}.backfills set finished_at = now(), updated_at = now(), "
            "throttle = null, rows_total = greatest(coalesce(rows_total, rows_done), rows_done) "
            "where migration_id = %s and table_name = %s and column_name = %s and slice = %s",
            (migration_id, table, column, slice_),
        )


def journal_step(
    conn: Connection,
    *,
    migration_id: int,
    phase: str,
    position: int,
    operation: str,
    description: str,
    sql: str,
    lock_mode: str | None,
    status: str,
    started_at: Any,
    duration_ms: float,
    lock_retries: int,
    rows: int | None = None,
    error: str | None = None,
    lock_held_ms: float | None = None,
    state_sql: StateSql | None = None,
) -> None:
    """Record one step; called inside the step's own transaction so both commit together.
    `state_sql`: the engine's (None: see default_state_sql)."""
    (state_sql or default_state_sql()).journal_step(
        conn,
        {
            "migration_id": migration_id,
            "phase": phase,
            "position": position,
            "operation": operation,
            "description": description,
            "sql": sql,
            "lock_mode": lock_mode,
            "status": status,
            "started_at": started_at,
            "duration_ms": duration_ms,
            "lock_retries": lock_retries,
            "rows": rows,
            "error": error,
            "lock_held_ms": lock_held_ms,
        },
    )


# The command a runner holding the lock runs, as the active migration's phase tells it.
_RUNNER_COMMAND = {
    "starting": "liveshift start",
    "completing": "liveshift complete",
    "rolling_back": "liveshift rollback",
}


def lock_holder(conn: Connection, schema: str, state_sql: StateSql | None = None) -> str:
    """Who holds the runner lock of `schema`, in words: its session (pid, application_name,
    host, since when, what it runs) and the migration active on the schema."""
    sql = state_sql or default_state_sql()
    holder = sql.runner_lock_holder(conn, schema)
    if holder is None:
        return "a session that has just ended"
    query = " ".join(holder.query.split())
    text = (
        f"pid {holder.session_id} ({holder.application}, from {holder.host}, connected since "
        f"{holder.since}, {format_duration(holder.age_s)} ago; {holder.state or 'state unknown'}"
        + (f", last statement: {query[:100]}{'...' if len(query) > 100 else ''}" if query else "")
        + ")"
    )
    with contextlib.suppress(DriverError):
        store = StateStore(conn, sql)
        active = store.active(schema) if store.exists() else None
        if active is not None:
            command = _RUNNER_COMMAND.get(active.phase)
            text += f", on migration {active.name!r} (phase {active.phase}" + (
                f": `{command}`)" if command else ")"
            )
    return text


@contextmanager
def migration_lock(
    conn: Connection,
    schema: str,
    *,
    wait_s: float = 0.0,
    grace_s: float = 0.0,
    say: Callable[[str], None] | None = None,
    stopped: Callable[[], bool] | None = None,
    state_sql: StateSql | None = None,
) -> Iterator[None]:
    """Hold the session-level runner lock (the engine's, in `state_sql`) that keeps two runners
    from interleaving on one schema.

    When another session holds it, `say` is told at once who that is; then this waits up to
    `wait_s` (the user's --wait) or at least `grace_s`: a runner killed a moment ago (kill -9, a
    dropped network) holds the lock until the server notices its session is gone. MigrationBusy
    when the lock is still held after that; Interrupted when `stopped()` turns true meanwhile
    (Ctrl-C).
    """
    sql = state_sql or default_state_sql()
    if not sql.try_runner_lock(conn, schema):
        who = lock_holder(conn, schema, sql)
        limit = max(wait_s, grace_s)
        if say is not None and limit > 0:
            why = (
                f"waiting up to {limit:g}s for it to finish (--wait)"
                if wait_s >= grace_s
                else f"waiting up to {limit:g}s in case that runner has just died (the server "
                "frees its lock once it notices); --wait DURATION waits for a live runner"
            )
            say(
                f"another liveshift runner holds the runner lock of schema {schema!r}: {who}; {why}"
            )
        deadline = time.monotonic() + limit
        next_note = time.monotonic() + 30.0
        while not sql.try_runner_lock(conn, schema):
            now = time.monotonic()
            if now >= deadline:
                raise MigrationBusy(
                    f"another liveshift runner holds the runner lock of schema {schema!r}: "
                    f"{lock_holder(conn, schema, sql)}",
                    hint="Let it finish (`liveshift status` shows its progress) and run this "
                    "again, or run this with --wait DURATION to wait for it; or stop that runner "
                    "(Ctrl-C or kill: what it did is journaled, and its command run again "
                    "resumes it).",
                )
            if stopped is not None and stopped():
                raise Interrupted(
                    f"stopped while waiting for the runner lock of schema {schema!r}; nothing ran",
                    hint="Run the command again when the other runner is done.",
                )
            if say is not None and now >= next_note:
                next_note = now + 30.0
                say(
                    f"still waiting for the runner lock of schema {schema!r} ({deadline - now:.0f}s left)"
                )
            time.sleep(0.25)
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            # If the session is going away, its locks go with it.
            with contextlib.suppress(DriverError):
                sql.release_runner_lock(conn, schema)


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
