"""MySQL/MariaDB's SQL for liveshift's state: the `liveshift` database, upserts, the runner lock."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from liveshift.engines.base import Connection, DriverError, LockNotAvailable
from liveshift.engines.state import STATE_SCHEMA, LockHolder

# The state version create() makes; liveshift.state.STATE_VERSION must be the same. A MySQL
# state is born at version 3: versions 1 and 2 only ever existed on PostgreSQL.
VERSION = 3

# GET_LOCK names are server-wide and limited to 64 characters (MySQL 5.7+ refuses longer ones;
# MariaDB accepts them, but the limit keeps both flavours alike).
_LOCK_NAME_MAX = 64

# How long a runner initialising the state waits for another doing the same (PostgreSQL's
# transaction lock waits without limit; a user lock needs one).
INIT_WAIT_S = 60

_ACTIVE = "('starting', 'started', 'completing', 'rolling_back')"

# Columns stored as JSON that StateStore hands back to Python as lists or dicts (PyMySQL returns a
# JSON value as its text, and MariaDB's JSON is LONGTEXT).
JSON_COLUMNS = frozenset({"operations", "plan", "key_columns", "checkpoint", "upper_bound"})


def _ddl(db: str) -> list[str]:
    """State version 3, one statement each (PyMySQL sends one at a time). Every statement is
    idempotent: DDL commits as it goes here, so a runner killed half-way through runs it all
    again. state_version comes last: exists() is true only once its row is in."""
    table = "engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin"
    # utf8mb4_bin: names compare as PostgreSQL's text does (case and accents count), and as the
    # server compares database and table names on Linux.
    return [
        f"create database if not exists `{db}` character set utf8mb4 collate utf8mb4_bin",
        f"""create table if not exists `{db}`.migrations (
    id bigint not null auto_increment primary key,
    schema_name varchar(64) not null,
    name varchar(255) not null,
    checksum text not null,
    operations json not null,
    plan json not null,
    version_schema varchar(64) not null,
    previous_version_schema varchar(64),
    phase varchar(16) not null,
    created_at datetime(6) not null default (utc_timestamp(6)),
    started_at datetime(6),
    completed_at datetime(6),
    rolled_back_at datetime(6),
    source longtext,
    liveshift_version text,
    -- PostgreSQL's two partial unique indexes: InnoDB has none, so each indexes a generated
    -- column that is NULL where the index's WHERE is false (NULLs never collide).
    active_schema varchar(64) as (case when phase in {_ACTIVE} then schema_name end) virtual,
    kept_name varchar(255) as (case when phase <> 'rolled_back' then name end) virtual,
    constraint migrations_phase check (phase in
        ('starting', 'started', 'completing', 'complete', 'rolling_back', 'rolled_back')),
    unique key migrations_one_active (active_schema),
    unique key migrations_name (schema_name, kept_name)
) {table}""",
        # `sql` and `rows` are reserved words here: quoted in DDL; StateStore's portable
        # queries name them qualified (steps.rows), which both engines accept unquoted.
        f"""create table if not exists `{db}`.steps (
    migration_id bigint not null,
    phase varchar(16) not null,
    position int not null,
    operation text not null,
    description longtext not null,
    `sql` longtext not null,
    lock_mode text,
    status varchar(16) not null,
    started_at datetime(6) not null,
    finished_at datetime(6) not null default (utc_timestamp(6)),
    duration_ms double not null,
    lock_retries int not null default 0,
    `rows` bigint,
    error longtext,
    lock_held_ms double,
    primary key (migration_id, phase, position),
    constraint steps_status check (status in ('done', 'failed')),
    constraint steps_migration foreign key (migration_id)
        references `{db}`.migrations (id) on delete cascade
) {table}""",
        f"""create table if not exists `{db}`.backfills (
    migration_id bigint not null,
    table_name varchar(64) not null,
    column_name varchar(64) not null,
    slice int not null default 0,
    key_columns json,
    checkpoint json,
    upper_bound json,
    rows_done bigint not null default 0,
    rows_total bigint,
    batches bigint not null default 0,
    batch_size int,
    rows_per_second double,
    throttle text,
    started_at datetime(6) not null default (utc_timestamp(6)),
    updated_at datetime(6) not null default (utc_timestamp(6)),
    finished_at datetime(6),
    primary key (migration_id, table_name, column_name, slice),
    constraint backfills_migration foreign key (migration_id)
        references `{db}`.migrations (id) on delete cascade
) {table}""",
        f"""create table if not exists `{db}`.control (
    schema_name varchar(64) not null primary key,
    paused boolean not null default false,
    reason text,
    updated_at datetime(6) not null default (utc_timestamp(6))
) {table}""",
        f"create table if not exists `{db}`.state_version (version int not null) {table}",
    ]


# What brings an older MySQL state up to the next version, by the version it leads to: none yet.
# DDL is not transactional here, so a future upgrade must check before each change (the column
# is already there: a runner died after it) rather than rely on a rollback.
_UPGRADES: dict[int, tuple[str, ...]] = {}


def lock_name(kind: str, key: str) -> str:
    """The GET_LOCK name for `kind` ('runner', 'init') and `key`: readable when it fits in 64
    characters, else the key hashed (a schema name alone may be 64 characters long)."""
    name = f"liveshift:{kind}:{key}"
    if len(name) <= _LOCK_NAME_MAX:
        return name
    return f"liveshift:{kind}:{hashlib.sha1(key.encode()).hexdigest()}"


def _utc(value: Any) -> Any:
    """A DATETIME read back (naive, UTC by construction) as an aware datetime, as PostgreSQL's
    timestamptz comes back."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _as_utc_naive(value: Any) -> Any:
    """A datetime parameter as DATETIME wants it: PyMySQL writes the wall-clock digits and drops
    the time zone, so an aware value is turned to UTC first."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def decode_json(value: Any) -> Any:
    """A JSON column as read by PyMySQL (text, or bytes) as Python lists and dicts."""
    if isinstance(value, bytes | bytearray):
        value = value.decode()
    if isinstance(value, str):
        return json.loads(value)
    return value


class MySQLStateSql:
    """liveshift.engines.state.StateSql for MySQL 8 and MariaDB 10.11 (InnoDB).

    `state_database`: where the state lives (`liveshift`, as on PostgreSQL; tests give each their
    own). StateStore's own portable SQL still names STATE_SCHEMA: the two agree only with the
    default."""

    def __init__(self, state_database: str = STATE_SCHEMA, init_wait_s: int = INIT_WAIT_S) -> None:
        self.db = state_database
        self.init_wait_s = init_wait_s

    # -- creation and upgrades -------------------------------------------------------------------

    def exists(self, conn: Connection) -> bool:
        # The version row is written last (see _ddl): tables without it are a creation that died
        # half-way, which create() finishes.
        row = conn.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = %s and table_name = 'state_version'",
            (self.db,),
        ).fetchone()
        if not row or not row[0]:
            return False
        row = conn.execute(f"select count(*) from `{self.db}`.state_version").fetchone()
        return bool(row and row[0])

    def lock_init(self, conn: Connection) -> None:
        """A user lock, not a transaction one: InnoDB has no lock that outlives the implicit
        commit of the DDL that follows. create() releases it; unlock_init() on the other paths
        (until StateStore calls it, it goes with the session)."""
        row = conn.execute(
            "select get_lock(%s, %s)", (lock_name("init", self.db), self.init_wait_s)
        ).fetchone()
        if not row or row[0] != 1:
            raise LockNotAvailable(
                f"another liveshift runner has been creating or upgrading the state in database "
                f"{self.db!r} for over {self.init_wait_s}s"
            )

    def unlock_init(self, conn: Connection) -> None:
        conn.execute("select release_lock(%s)", (lock_name("init", self.db),))

    def create(self, conn: Connection, version: int) -> None:
        if version != VERSION:
            raise ValueError(f"this DDL makes state version {VERSION}, not {version}")
        for statement in _ddl(self.db):
            conn.execute(statement)
        conn.execute(f"insert into `{self.db}`.state_version values (%s)", (version,))
        self.unlock_init(conn)

    def upgrade(self, conn: Connection, version: int) -> None:
        if version > VERSION:
            raise ValueError(f"no upgrade leads to state version {version}")
        # Versions up to VERSION without an entry have nothing to do on this engine.
        for statement in _UPGRADES.get(version, ()):
            conn.execute(statement)

    # -- writes with no portable spelling ------------------------------------------------------

    def insert_migration(self, conn: Connection, values: Mapping[str, Any]) -> int:
        conn.execute(
            f"insert into `{self.db}`.migrations (schema_name, name, checksum, operations, plan, "
            "version_schema, previous_version_schema, phase, started_at, source, "
            "liveshift_version) values (%(schema_name)s, %(name)s, %(checksum)s, "
            "%(operations)s, %(plan)s, %(version_schema)s, %(previous_version_schema)s, "
            "'starting', utc_timestamp(6), %(source)s, %(liveshift_version)s)",
            dict(values),
        )
        # Per session: another runner's insert in between cannot change it.
        row = conn.execute("select last_insert_id()").fetchone()
        assert row is not None
        return int(row[0])

    def journal_step(self, conn: Connection, values: Mapping[str, Any]) -> None:
        params = dict(values)
        params["started_at"] = _as_utc_naive(params["started_at"])
        # VALUES(col) in ON DUPLICATE KEY UPDATE: MySQL 8.0.20+ deprecates it (with a warning)
        # for `AS new`, which MariaDB does not parse; VALUES() works on both.
        conn.execute(
            f"insert into `{self.db}`.steps (migration_id, phase, position, operation, "
            "description, `sql`, lock_mode, status, started_at, duration_ms, lock_retries, "
            "`rows`, error, lock_held_ms) values (%(migration_id)s, %(phase)s, %(position)s, "
            "%(operation)s, %(description)s, %(sql)s, %(lock_mode)s, %(status)s, "
            "%(started_at)s, %(duration_ms)s, %(lock_retries)s, %(rows)s, %(error)s, "
            "%(lock_held_ms)s) on duplicate key update status = values(status), "
            "started_at = values(started_at), finished_at = utc_timestamp(6), "
            "duration_ms = values(duration_ms), lock_retries = values(lock_retries), "
            "`rows` = values(`rows`), error = values(error), "
            "lock_held_ms = values(lock_held_ms)",
            params,
        )

    def set_paused(self, conn: Connection, schema: str, paused: bool, reason: str | None) -> None:
        conn.execute(
            f"insert into `{self.db}`.control (schema_name, paused, reason) values (%s, %s, %s) "
            "on duplicate key update paused = values(paused), reason = values(reason), "
            "updated_at = utc_timestamp(6)",
            (schema, paused, reason),
        )

    def backfill_summary(self, conn: Connection, migration_id: int) -> list[dict[str, Any]]:
        # SUM over BIGINT is DECIMAL here: cast back so the numbers come out as ints.
        rows = conn.fetch_dicts(
            "select table_name, column_name, count(*) as slices, "
            "cast(sum(rows_done) as signed) as rows_done, "
            "cast(sum(rows_total) as signed) as rows_total, "
            "cast(sum(batches) as signed) as batches, max(batch_size) as batch_size, "
            "coalesce(sum(case when finished_at is null then rows_per_second end), "
            "max(rows_per_second)) as rows_per_second, "
            "group_concat(distinct throttle order by throttle separator '; ') as throttle, "
            "min(started_at) as started_at, max(updated_at) as updated_at, "
            "case when sum(finished_at is null) = 0 then max(finished_at) end as finished_at "
            f"from `{self.db}`.backfills where migration_id = %s "
            "group by table_name, column_name order by min(started_at), table_name, column_name",
            (migration_id,),
        )
        return [self.decode_row(row) for row in rows]

    # -- what StateStore still spells PostgreSQL's way (to be wired by the integrator) ---------

    def decode_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A state row as PostgreSQL's comes back: JSON columns as lists and dicts, DATETIMEs
        as aware UTC datetimes."""
        return {
            key: decode_json(value) if key in JSON_COLUMNS else _utc(value)
            for key, value in row.items()
        }

    def decode_json(self, value: Any) -> Any:
        """One JSON value read back (StateStore.backfill_slices: checkpoint, upper_bound)."""
        return decode_json(value)

    def encode_array(self, value: list[str] | None) -> str | None:
        """A text[] value of PostgreSQL (key columns, checkpoints) for a JSON column."""
        return None if value is None else json.dumps(value)

    def insert_backfill_slice(self, conn: Connection, values: Mapping[str, Any]) -> None:
        """Record one slice of a backfill that begins, keeping the row if one is there (PG's
        `on conflict do nothing`; not INSERT IGNORE, which would also swallow a broken foreign
        key)."""
        params = dict(values)
        for key in ("key_columns", "checkpoint", "upper_bound"):
            params[key] = self.encode_array(params[key])
        conn.execute(
            f"insert into `{self.db}`.backfills (migration_id, table_name, column_name, slice, "
            "key_columns, checkpoint, upper_bound, rows_total) values (%(migration_id)s, "
            "%(table_name)s, %(column_name)s, %(slice)s, %(key_columns)s, %(checkpoint)s, "
            "%(upper_bound)s, %(rows_total)s) on duplicate key update migration_id = migration_id",
            params,
        )

    def checkpoint_backfill(
        self, conn: Connection, values: Mapping[str, Any], sample_sql: str | None
    ) -> Any:
        """StateStore.checkpoint_backfill here: UPDATE has no FROM (subquery) nor RETURNING, so
        the sample is a second statement; run inside the batch's transaction, it still reads
        while the batch holds its row locks. The cursor holds the sample's row (or nothing)."""
        params = dict(values)
        params["checkpoint"] = self.encode_array(params["checkpoint"])
        cursor = conn.execute(
            f"update `{self.db}`.backfills set checkpoint = %(checkpoint)s, "
            "rows_done = rows_done + %(rows)s, batches = batches + 1, "
            "batch_size = %(batch_size)s, rows_per_second = %(rows_per_second)s, "
            "throttle = %(throttle)s, updated_at = utc_timestamp(6) "
            "where migration_id = %(migration_id)s and table_name = %(table_name)s "
            "and column_name = %(column_name)s and slice = %(slice)s",
            params,
        )
        return conn.execute(sample_sql) if sample_sql else cursor

    # -- the runner lock -----------------------------------------------------------------------

    def try_runner_lock(self, conn: Connection, schema: str) -> bool:
        # Session-level and server-wide, as a schema here is a database; freed when the session
        # ends (kill -9 of the runner, KILL of its connection).
        row = conn.execute("select get_lock(%s, 0)", (lock_name("runner", schema),)).fetchone()
        return bool(row and row[0] == 1)

    def release_runner_lock(self, conn: Connection, schema: str) -> None:
        conn.execute("select release_lock(%s)", (lock_name("runner", schema),))

    def runner_lock_holder(self, conn: Connection, schema: str) -> LockHolder | None:
        name = lock_name("runner", schema)
        row = conn.execute("select is_used_lock(%s)", (name,)).fetchone()
        if not row or row[0] is None:
            return None
        session_id = int(row[0])
        found = conn.fetch_dicts(
            "select * from information_schema.PROCESSLIST where ID = %s", (session_id,)
        )
        if not found:
            # Without the PROCESS privilege only this user's sessions show; or it just ended.
            row = conn.execute("select is_used_lock(%s)", (name,)).fetchone()
            if not row or row[0] is None:
                return None
            return LockHolder(
                session_id=session_id,
                application="unknown",
                host="unknown (another user's session: the PROCESS privilege shows it)",
                since="unknown",
                age_s=0.0,
                state="",
                query="",
            )
        proc = {key.upper(): value for key, value in found[0].items()}
        # MariaDB has TIME_MS; MySQL whole seconds only. PROCESSLIST has no connection time:
        # `since` is when the session began what it does now (for a runner, its idle wait or
        # its statement).
        age_s = (
            float(proc["TIME_MS"]) / 1000.0
            if proc.get("TIME_MS") is not None
            else float(proc.get("TIME") or 0)
        )
        since = (datetime.now(UTC) - timedelta(seconds=age_s)).strftime("%Y-%m-%d %H:%M:%S UTC")
        state = str(proc.get("COMMAND") or "")
        if proc.get("STATE"):
            state += f" ({proc['STATE']})"
        query = str(proc.get("INFO") or "")
        trx = self._transaction(conn, session_id)
        if trx is not None:
            started, trx_age_s, trx_query = trx
            state += f", in a transaction since {started} ({trx_age_s:.1f}s)"
            query = query or trx_query
        return LockHolder(
            session_id=session_id,
            application=self._program(conn, session_id) or f"user {proc.get('USER') or '?'}",
            host=str(proc.get("HOST") or "local socket"),
            since=since,
            age_s=age_s,
            state=state,
            query=query,
        )

    def _transaction(self, conn: Connection, session_id: int) -> tuple[str, float, str] | None:
        """The open InnoDB transaction of `session_id`: started (text), age, its statement."""
        with suppress(DriverError):  # INNODB_TRX needs the PROCESS privilege
            row = conn.execute(
                "select date_format(trx_started, '%%Y-%%m-%%d %%H:%%i:%%s'), "
                "timestampdiff(microsecond, trx_started, now(6)) / 1e6, coalesce(trx_query, '') "
                "from information_schema.INNODB_TRX where trx_mysql_thread_id = %s",
                (session_id,),
            ).fetchone()
            if row is not None:
                return str(row[0]), float(row[1] or 0), str(row[2])
        return None

    def _program(self, conn: Connection, session_id: int) -> str | None:
        """The session's program_name connection attribute (liveshift sends its
        application_name there); only where performance_schema is on (MySQL 8's default,
        MariaDB's is off)."""
        with suppress(DriverError):
            row = conn.execute(
                "select ATTR_VALUE from performance_schema.session_connect_attrs "
                "where PROCESSLIST_ID = %s and ATTR_NAME = 'program_name'",
                (session_id,),
            ).fetchone()
            if row and row[0]:
                return str(row[0])
        return None


STATE_SQL = MySQLStateSql()
