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
from liveshift.errors import Interrupted, MigrationBusy, StateError
from liveshift.settings import format_duration

STATE_SCHEMA = "liveshift"
STATE_VERSION = 3

ACTIVE_PHASES = ("starting", "started", "completing", "rolling_back")

_DDL = f"""
create schema if not exists {STATE_SCHEMA};
create table if not exists {STATE_SCHEMA}.state_version (version int not null);
create table if not exists {STATE_SCHEMA}.migrations (
    id bigint generated always as identity primary key,
    schema_name text not null,
    name text not null,
    checksum text not null,
    operations jsonb not null,
    plan jsonb not null,
    version_schema text not null,
    previous_version_schema text,
    phase text not null check (phase in
        ('starting', 'started', 'completing', 'complete', 'rolling_back', 'rolled_back')),
    created_at timestamptz not null default now(),
    started_at timestamptz,
    completed_at timestamptz,
    rolled_back_at timestamptz,
    source text,
    liveshift_version text
);
create unique index if not exists migrations_one_active on {STATE_SCHEMA}.migrations (schema_name)
    where phase in ('starting', 'started', 'completing', 'rolling_back');
create unique index if not exists migrations_name on {STATE_SCHEMA}.migrations (schema_name, name)
    where phase <> 'rolled_back';
create table if not exists {STATE_SCHEMA}.steps (
    migration_id bigint not null references {STATE_SCHEMA}.migrations (id) on delete cascade,
    phase text not null,
    position int not null,
    operation text not null,
    description text not null,
    sql text not null,
    lock_mode text,
    status text not null check (status in ('done', 'failed')),
    started_at timestamptz not null,
    finished_at timestamptz not null default clock_timestamp(),
    duration_ms double precision not null,
    lock_retries int not null default 0,
    rows bigint,
    error text,
    lock_held_ms double precision,
    primary key (migration_id, phase, position)
);
create table if not exists {STATE_SCHEMA}.backfills (
    migration_id bigint not null references {STATE_SCHEMA}.migrations (id) on delete cascade,
    table_name text not null,
    column_name text not null,
    slice int not null default 0,
    key_columns text[],
    checkpoint text[],
    upper_bound text[],
    rows_done bigint not null default 0,
    rows_total bigint,
    batches bigint not null default 0,
    batch_size int,
    rows_per_second double precision,
    throttle text,
    started_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    finished_at timestamptz,
    primary key (migration_id, table_name, column_name, slice)
);
create table if not exists {STATE_SCHEMA}.control (
    schema_name text primary key,
    paused boolean not null default false,
    reason text,
    updated_at timestamptz not null default now()
);
"""

# What brings the state of an older liveshift up to STATE_VERSION, by the version it leads to.
_UPGRADES = {
    # Version 2: a backfill may run in slices (--workers), one checkpoint row each.
    2: f"""
alter table {STATE_SCHEMA}.backfills add column if not exists slice int not null default 0;
alter table {STATE_SCHEMA}.backfills drop constraint if exists backfills_pkey;
alter table {STATE_SCHEMA}.backfills
    add primary key (migration_id, table_name, column_name, slice);
""",
    # Version 3: how long each guarded step held its lock (the application queued that long).
    3: f"""
alter table {STATE_SCHEMA}.steps add column if not exists lock_held_ms double precision;
""",
}


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


class StateStore:
    """Reads and writes the `liveshift` schema over an autocommit connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def exists(self) -> bool:
        row = self.conn.execute(
            "select to_regclass(%s) is not null", (f"{STATE_SCHEMA}.migrations",)
        ).fetchone()
        return bool(row and row[0])

    def init(self) -> bool:
        """Create the state schema if missing, or bring an older one up to date; True when it
        was created now."""
        if self.exists():
            self.upgrade()
            return False
        with self.conn.transaction():
            # Two runners initialising at once: the second waits here, then finds it done.
            self.conn.execute("select pg_advisory_xact_lock(hashtext('liveshift:init'))")
            if self.exists():
                self._upgrade_locked()
                return False
            self.conn.execute(_DDL)
            self.conn.execute(
                f"insert into {STATE_SCHEMA}.state_version values (%s)", (STATE_VERSION,)
            )
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
                self.conn.execute("select pg_advisory_xact_lock(hashtext('liveshift:init'))")
                self._upgrade_locked()

    def _upgrade_locked(self) -> None:
        version = self.version()
        for target in range(version + 1, STATE_VERSION + 1):
            self.conn.execute(_UPGRADES[target])
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
        return [MigrationRecord(**row) for row in rows]

    def active(self, schema: str) -> MigrationRecord | None:
        found = self._records("schema_name = %s and phase = any(%s)", (schema, list(ACTIVE_PHASES)))
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
            row = self.conn.execute(
                f"insert into {STATE_SCHEMA}.migrations (schema_name, name, checksum, operations, "
                "plan, version_schema, previous_version_schema, phase, started_at, source, "
                "liveshift_version) values (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, 'starting', now(), %s, %s) "
                "returning id",
                (
                    schema,
                    name,
                    checksum,
                    dumps(operations),
                    dumps(plan),
                    version_schema,
                    previous_version_schema,
                    source,
                    liveshift_version,
                ),
            ).fetchone()
        except UniqueViolation:
            raise StateError(
                f"migration {name!r} is already recorded for schema {schema!r} (or another "
                "migration is active there)",
                hint="See `liveshift status` and `liveshift history`.",
            ) from None
        assert row is not None
        return int(row[0])

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
        return self.conn.fetch_dicts(
            f"select phase, position, operation, description, lock_mode, status, started_at, "
            f"duration_ms, lock_retries, rows, error, lock_held_ms from {STATE_SCHEMA}.steps "
            "where migration_id = %s order by started_at, position",
            (migration_id,),
        )

    def backfills(self, migration_id: int) -> list[dict[str, Any]]:
        # One row per column: the slices of a backfill (--workers) added together.
        return self.conn.fetch_dicts(
            "select table_name, column_name, count(*) as slices, "
            "sum(rows_done)::bigint as rows_done, sum(rows_total)::bigint as rows_total, "
            "sum(batches)::bigint as batches, max(batch_size) as batch_size, "
            "coalesce(sum(rows_per_second) filter (where finished_at is null), "
            "max(rows_per_second)) as rows_per_second, "
            "string_agg(distinct throttle, '; ') as throttle, min(started_at) as started_at, "
            "max(updated_at) as updated_at, "
            "case when bool_and(finished_at is not null) then max(finished_at) end "
            "as finished_at "
            f"from {STATE_SCHEMA}.backfills where migration_id = %s "
            "group by table_name, column_name order by min(started_at), table_name, "
            "column_name",
            (migration_id,),
        )

    def paused(self, schema: str) -> str | None:
        row = self.conn.execute(
            f"select paused, reason from {STATE_SCHEMA}.control where schema_name = %s", (schema,)
        ).fetchone()
        if row and row[0]:
            return str(row[1] or "paused by `liveshift pause`")
        return None

    def set_paused(self, schema: str, paused: bool, reason: str | None = None) -> None:
        self.conn.execute(
            f"insert into {STATE_SCHEMA}.control (schema_name, paused, reason) values (%s, %s, %s) "
            "on conflict (schema_name) do update set paused = excluded.paused, "
            "reason = excluded.reason, updated_at = now()",
            (schema, paused, reason),
        )

    # -- backfill checkpoints (liveshift.backfills) ----------------------------------------------
    # One row per slice of a backfill, keyed by (migration, table, column, slice). The backfill
    # package reads and writes them only through these methods; a lane calls them on a
    # StateStore over its own connection, so a checkpoint commits with its batch.

    def backfill_slices(self, migration_id: int, table: str, column: str) -> list[Any]:
        """(checkpoint, upper_bound, rows_done, rows_total, batches, slice, finished) of every
        slice of the backfill of `table`.`column`, in slice order (none: it never began)."""
        return self.conn.execute(
            "select checkpoint, upper_bound, rows_done, rows_total, batches, slice, "
            f"finished_at is not null from {STATE_SCHEMA}.backfills "
            "where migration_id = %s and table_name = %s and column_name = %s order by slice",
            (migration_id, table, column),
        ).fetchall()

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
                self.conn.execute(
                    f"insert into {STATE_SCHEMA}.backfills (migration_id, table_name, "
                    "column_name, slice, key_columns, checkpoint, upper_bound, rows_total) "
                    "values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
                    (
                        migration_id,
                        table,
                        column,
                        number,
                        key_columns,
                        checkpoint,
                        upper_bound,
                        rows_total,
                    ),
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
        query of one row), that row is read in the same statement and the cursor returned holds
        it: the sample is taken while the batch still holds its rows."""
        return self.conn.execute(
            f"update {STATE_SCHEMA}.backfills set checkpoint = %s, "
            "rows_done = rows_done + %s, batches = batches + 1, batch_size = %s, "
            "rows_per_second = %s, throttle = %s, updated_at = now() "
            + (f"from ({sample_sql}) _ls_load " if sample_sql else "")
            + "where migration_id = %s and table_name = %s and column_name = %s and slice = %s"
            + (" returning _ls_load.*" if sample_sql else ""),
            (
                checkpoint,
                rows,
                batch_size,
                rows_per_second,
                throttle,
                migration_id,
                table,
                column,
                slice_,
            ),
        )

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
            "throttle = null, rows_total = greatest(rows_total, rows_done) "
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
) -> None:
    """Record one step; called inside the step's own transaction so both commit together."""
    conn.execute(
        f"insert into {STATE_SCHEMA}.steps (migration_id, phase, position, operation, description, "
        "sql, lock_mode, status, started_at, duration_ms, lock_retries, rows, error, "
        "lock_held_ms) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "on conflict (migration_id, phase, position) do update set status = excluded.status, "
        "started_at = excluded.started_at, finished_at = clock_timestamp(), "
        "duration_ms = excluded.duration_ms, lock_retries = excluded.lock_retries, "
        "rows = excluded.rows, error = excluded.error, lock_held_ms = excluded.lock_held_ms",
        (
            migration_id,
            phase,
            position,
            operation,
            description,
            sql,
            lock_mode,
            status,
            started_at,
            duration_ms,
            lock_retries,
            rows,
            error,
            lock_held_ms,
        ),
    )


def _lock_key(schema: str) -> tuple[str, str]:
    return ("liveshift", schema)


_HOLDER = """
select a.pid, coalesce(nullif(a.application_name, ''), 'no application_name'),
       coalesce(a.client_hostname, host(a.client_addr), 'local socket'),
       to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'),
       extract(epoch from now() - a.backend_start)::float8,
       coalesce(a.state, ''), coalesce(a.query, '')
from pg_locks l join pg_stat_activity a using (pid)
where l.locktype = 'advisory' and l.database = (select oid from pg_database
                                                where datname = current_database())
  and l.classid = hashtext(%s)::oid
  and l.objid = hashtext(%s)::oid and l.objsubid = 2 and l.granted
"""

# The command a runner holding the lock runs, as the active migration's phase tells it.
_RUNNER_COMMAND = {
    "starting": "liveshift start",
    "completing": "liveshift complete",
    "rolling_back": "liveshift rollback",
}


def lock_holder(conn: Connection, schema: str) -> str:
    """Who holds the runner lock of `schema`, in words: its session (pid, application_name,
    host, since when, what it runs) and the migration active on the schema."""
    namespace, key = _lock_key(schema)
    holder = conn.execute(_HOLDER, (namespace, key)).fetchone()
    if holder is None:
        return "a session that has just ended"
    pid, app, host, since, age_s, state, query = holder
    query = " ".join(query.split())
    text = (
        f"pid {pid} ({app}, from {host}, connected since {since}, {format_duration(age_s)} ago; "
        f"{state or 'state unknown'}"
        + (f", last statement: {query[:100]}{'...' if len(query) > 100 else ''}" if query else "")
        + ")"
    )
    with contextlib.suppress(DriverError):
        store = StateStore(conn)
        active = store.active(schema) if store.exists() else None
        if active is not None:
            command = _RUNNER_COMMAND.get(active.phase)
            text += f", on migration {active.name!r} (phase {active.phase}" + (
                f": `{command}`)" if command else ")"
            )
    return text


def _try_lock(conn: Connection, schema: str) -> bool:
    row = conn.execute(
        "select pg_try_advisory_lock(hashtext(%s), hashtext(%s))", _lock_key(schema)
    ).fetchone()
    return bool(row and row[0])


@contextmanager
def migration_lock(
    conn: Connection,
    schema: str,
    *,
    wait_s: float = 0.0,
    grace_s: float = 0.0,
    say: Callable[[str], None] | None = None,
    stopped: Callable[[], bool] | None = None,
) -> Iterator[None]:
    """Hold the session advisory lock that keeps two runners from interleaving on one schema.

    When another session holds it, `say` is told at once who that is; then this waits up to
    `wait_s` (the user's --wait) or at least `grace_s`: a runner killed a moment ago (kill -9, a
    dropped network) holds the lock until the server notices its session is gone. MigrationBusy
    when the lock is still held after that; Interrupted when `stopped()` turns true meanwhile
    (Ctrl-C).
    """
    if not _try_lock(conn, schema):
        who = lock_holder(conn, schema)
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
        while not _try_lock(conn, schema):
            now = time.monotonic()
            if now >= deadline:
                raise MigrationBusy(
                    f"another liveshift runner holds the runner lock of schema {schema!r}: "
                    f"{lock_holder(conn, schema)}",
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
                conn.execute(
                    "select pg_advisory_unlock(hashtext(%s), hashtext(%s))", _lock_key(schema)
                )


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
