"""PostgreSQL's SQL for liveshift's state: its DDL and upgrades, upserts, and the runner lock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liveshift.engines.base import Connection
from liveshift.engines.state import STATE_SCHEMA, LockHolder

# The state version _DDL creates; liveshift.state.STATE_VERSION must be the same (a test checks).
VERSION = 3

# The state as version VERSION has it.
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

# What brings the state of an older liveshift up to the next version, by the version it leads to.
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


def _lock_key(schema: str) -> tuple[str, str]:
    # Two int4 keys (classid, objid in pg_locks: objsubid 2), out of the way of an application's
    # single bigint advisory locks (objsubid 1).
    return ("liveshift", schema)


class PostgresStateSql:
    """liveshift.engines.state.StateSql for PostgreSQL."""

    def exists(self, conn: Connection) -> bool:
        row = conn.execute(
            "select to_regclass(%s) is not null", (f"{STATE_SCHEMA}.migrations",)
        ).fetchone()
        return bool(row and row[0])

    def lock_init(self, conn: Connection) -> None:
        conn.execute("select pg_advisory_xact_lock(hashtext('liveshift:init'))")

    def unlock_init(self, conn: Connection) -> None:
        pass  # a transaction lock: it goes with the transaction

    def decode_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return dict(row)  # psycopg decodes jsonb, and timestamptz is aware

    def decode_json(self, value: Any) -> Any:
        return value

    def insert_backfill_slice(self, conn: Connection, values: Mapping[str, Any]) -> None:
        conn.execute(
            f"insert into {STATE_SCHEMA}.backfills (migration_id, table_name, column_name, slice, "
            "key_columns, checkpoint, upper_bound, rows_total) values (%(migration_id)s, "
            "%(table_name)s, %(column_name)s, %(slice)s, %(key_columns)s, %(checkpoint)s, "
            "%(upper_bound)s, %(rows_total)s) on conflict do nothing",
            dict(values),
        )

    def checkpoint_backfill(
        self, conn: Connection, values: Mapping[str, Any], sample_sql: str | None
    ) -> Any:
        # The sample is read in the same statement, while the batch still holds its rows.
        return conn.execute(
            f"update {STATE_SCHEMA}.backfills set checkpoint = %(checkpoint)s, "
            "rows_done = rows_done + %(rows)s, batches = batches + 1, "
            "batch_size = %(batch_size)s, rows_per_second = %(rows_per_second)s, "
            "throttle = %(throttle)s, updated_at = now() "
            + (f"from ({sample_sql}) _ls_load " if sample_sql else "")
            + "where migration_id = %(migration_id)s and table_name = %(table_name)s "
            "and column_name = %(column_name)s and slice = %(slice)s"
            + (" returning _ls_load.*" if sample_sql else ""),
            dict(values),
        )

    def create(self, conn: Connection, version: int) -> None:
        if version != VERSION:
            raise ValueError(f"this DDL makes state version {VERSION}, not {version}")
        conn.execute(_DDL)
        conn.execute(f"insert into {STATE_SCHEMA}.state_version values (%s)", (version,))

    def upgrade(self, conn: Connection, version: int) -> None:
        conn.execute(_UPGRADES[version])

    def insert_migration(self, conn: Connection, values: Mapping[str, Any]) -> int:
        row = conn.execute(
            f"insert into {STATE_SCHEMA}.migrations (schema_name, name, checksum, operations, "
            "plan, version_schema, previous_version_schema, phase, started_at, source, "
            "liveshift_version) values (%(schema_name)s, %(name)s, %(checksum)s, "
            "%(operations)s::jsonb, %(plan)s::jsonb, %(version_schema)s, "
            "%(previous_version_schema)s, 'starting', now(), %(source)s, %(liveshift_version)s) "
            "returning id",
            dict(values),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def journal_step(self, conn: Connection, values: Mapping[str, Any]) -> None:
        conn.execute(
            f"insert into {STATE_SCHEMA}.steps (migration_id, phase, position, operation, "
            "description, sql, lock_mode, status, started_at, duration_ms, lock_retries, rows, "
            "error, lock_held_ms) values (%(migration_id)s, %(phase)s, %(position)s, "
            "%(operation)s, %(description)s, %(sql)s, %(lock_mode)s, %(status)s, %(started_at)s, "
            "%(duration_ms)s, %(lock_retries)s, %(rows)s, %(error)s, %(lock_held_ms)s) "
            "on conflict (migration_id, phase, position) do update set status = excluded.status, "
            "started_at = excluded.started_at, finished_at = clock_timestamp(), "
            "duration_ms = excluded.duration_ms, lock_retries = excluded.lock_retries, "
            "rows = excluded.rows, error = excluded.error, lock_held_ms = excluded.lock_held_ms",
            dict(values),
        )

    def set_paused(self, conn: Connection, schema: str, paused: bool, reason: str | None) -> None:
        conn.execute(
            f"insert into {STATE_SCHEMA}.control (schema_name, paused, reason) values (%s, %s, %s) "
            "on conflict (schema_name) do update set paused = excluded.paused, "
            "reason = excluded.reason, updated_at = now()",
            (schema, paused, reason),
        )

    def backfill_summary(self, conn: Connection, migration_id: int) -> list[dict[str, Any]]:
        return conn.fetch_dicts(
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

    def try_runner_lock(self, conn: Connection, schema: str) -> bool:
        row = conn.execute(
            "select pg_try_advisory_lock(hashtext(%s), hashtext(%s))", _lock_key(schema)
        ).fetchone()
        return bool(row and row[0])

    def release_runner_lock(self, conn: Connection, schema: str) -> None:
        conn.execute("select pg_advisory_unlock(hashtext(%s), hashtext(%s))", _lock_key(schema))

    def runner_lock_holder(self, conn: Connection, schema: str) -> LockHolder | None:
        row = conn.execute(_HOLDER, _lock_key(schema)).fetchone()
        if row is None:
            return None
        pid, app, host, since, age_s, state, query = row
        return LockHolder(
            session_id=int(pid),
            application=str(app),
            host=str(host),
            since=str(since),
            age_s=float(age_s),
            state=str(state),
            query=str(query),
        )


STATE_SQL = PostgresStateSql()
