"""liveshift's state on MariaDB: the state database, its writes, the pause flag, the backfill
summary and the runner lock, on the real server."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from liveshift.engines.base import DriverError, UniqueViolation
from liveshift.engines.mysql.connection import MySQLConnection, connect
from liveshift.engines.mysql.state_sql import (
    VERSION,
    MySQLStateSql,
    decode_json,
    lock_name,
)
from liveshift.engines.state import StateSql
from liveshift.state import STATE_VERSION

# mypy checks MySQLStateSql against the protocol StateStore takes.
_PROTOCOL_CHECK: StateSql = MySQLStateSql()


@pytest.fixture
def state(mysql_admin_url: str) -> Iterator[MySQLStateSql]:
    """A MySQLStateSql on a state database of the test's own (the real one is `liveshift`,
    server-wide: tests running at once would share it), dropped afterwards."""
    name = f"ls_state_{uuid.uuid4().hex[:12]}"
    try:
        yield MySQLStateSql(state_database=name, init_wait_s=5)
    finally:
        with connect(mysql_admin_url) as admin:
            admin.execute(f"drop database if exists `{name}`")


@pytest.fixture
def created(mconn: MySQLConnection, state: MySQLStateSql) -> MySQLStateSql:
    with mconn.transaction():
        state.lock_init(mconn)
        state.create(mconn, VERSION)
    return state


def _migration(schema: str, name: str = "0001_add") -> dict[str, Any]:
    return {
        "schema_name": schema,
        "name": name,
        "checksum": "abc",
        "operations": json.dumps([{"add_column": {"table": "t"}}]),
        "plan": json.dumps({"start": [{"sql": "alter table t add column c int"}]}),
        "version_schema": f"{schema}_v1",
        "previous_version_schema": None,
        "source": "operations: []",
        "liveshift_version": "0.test",
    }


def _step(migration_id: int, status: str, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "migration_id": migration_id,
        "phase": "start",
        "position": 0,
        "operation": "add_column",
        "description": "add column c",
        "sql": "alter table t add column c int, algorithm=instant",
        "lock_mode": "MDL exclusive",
        "status": status,
        "started_at": datetime.now(UTC),
        "duration_ms": 1.5,
        "lock_retries": 0,
        "rows": None,
        "error": None,
        "lock_held_ms": None,
    }
    values.update(extra)
    return values


def test_version_matches_state_store() -> None:
    assert VERSION == STATE_VERSION


def test_create_makes_innodb_utf8mb4_tables_and_is_idempotent(
    mconn: MySQLConnection, state: MySQLStateSql, mysql_url: str
) -> None:
    assert not state.exists(mconn)
    with mconn.transaction():
        state.lock_init(mconn)
        state.create(mconn, VERSION)
    assert state.exists(mconn)
    tables = mconn.execute(
        "select table_name, engine, table_collation from information_schema.tables "
        "where table_schema = %s order by table_name",
        (state.db,),
    ).fetchall()
    assert [t[0] for t in tables] == [
        "backfills",
        "control",
        "migrations",
        "state_version",
        "steps",
    ]
    assert {(t[1], t[2]) for t in tables} == {("InnoDB", "utf8mb4_bin")}
    assert mconn.execute(f"select version from `{state.db}`.state_version").fetchall() == [
        (VERSION,)
    ]
    # create() released the init lock: another session takes it at once.
    with connect(mysql_url) as other:
        assert (
            other.execute("select get_lock(%s, 0)", (lock_name("init", state.db),)).fetchone()[0]
            == 1
        )
    # A creation killed before its version row: exists() says no, and create() finishes it.
    mconn.execute(f"delete from `{state.db}`.state_version")
    assert not state.exists(mconn)
    state.create(mconn, VERSION)
    assert state.exists(mconn)
    state.upgrade(mconn, VERSION)  # nothing to do: a MySQL state is born at version 3
    with pytest.raises(ValueError):
        state.create(mconn, VERSION + 1)


def test_insert_migration_returns_its_id_and_keeps_one_active(
    mconn: MySQLConnection, created: MySQLStateSql, mysql_db: str
) -> None:
    first = created.insert_migration(mconn, _migration(mysql_db))
    assert first >= 1
    # The partial unique indexes of PostgreSQL, as generated columns: one active per schema...
    with pytest.raises(UniqueViolation):
        created.insert_migration(mconn, _migration(mysql_db, "0002_other"))
    # ... one kept migration per name; a rolled back one frees both.
    mconn.execute(
        f"update `{created.db}`.migrations set phase = 'complete' where id = %s", (first,)
    )
    with pytest.raises(UniqueViolation):
        created.insert_migration(mconn, _migration(mysql_db))
    second = created.insert_migration(mconn, _migration(mysql_db, "0002_other"))
    assert second > first
    mconn.execute(
        f"update `{created.db}`.migrations set phase = 'rolled_back' where id = %s", (second,)
    )
    assert created.insert_migration(mconn, _migration(mysql_db, "0002_other")) > second
    row = mconn.fetch_dicts(
        f"select plan, operations, phase, started_at, created_at from `{created.db}`.migrations "
        "where id = %s",
        (first,),
    )[0]
    decoded = created.decode_row(row)
    assert decoded["plan"] == {"start": [{"sql": "alter table t add column c int"}]}
    assert decoded["operations"] == [{"add_column": {"table": "t"}}]
    # DATETIME(6) in UTC, read back as aware datetimes.
    assert decoded["started_at"].tzinfo is UTC
    assert abs(decoded["started_at"] - datetime.now(UTC)) < timedelta(minutes=1)
    with pytest.raises(DriverError, match=r"4025|3819"):
        mconn.execute(
            f"update `{created.db}`.migrations set phase = 'bogus' where id = %s", (first,)
        )


def test_journal_step_twice_is_one_row(
    mconn: MySQLConnection, created: MySQLStateSql, mysql_db: str
) -> None:
    mid = created.insert_migration(mconn, _migration(mysql_db))
    # Before the step (DDL is not transactional: a kill after this leaves 'failed' to check)...
    created.journal_step(mconn, _step(mid, "failed", error="begun"))
    before = mconn.fetch_dicts(f"select * from `{created.db}`.steps")
    time.sleep(0.01)
    # ... and after it.
    local = datetime.now(UTC).astimezone(timezone(timedelta(hours=5)))
    created.journal_step(
        mconn, _step(mid, "done", rows=42, lock_retries=3, lock_held_ms=12.5, started_at=local)
    )
    after = mconn.fetch_dicts(f"select * from `{created.db}`.steps")
    assert len(before) == 1 and len(after) == 1
    assert after[0]["status"] == "done" and after[0]["error"] is None
    assert after[0]["rows"] == 42 and after[0]["lock_retries"] == 3
    assert after[0]["lock_held_ms"] == 12.5
    assert after[0]["finished_at"] > before[0]["finished_at"]
    # An aware started_at in another zone is stored as its UTC time.
    stored = after[0]["started_at"].replace(tzinfo=UTC)
    assert abs(stored - local) < timedelta(milliseconds=1)
    # Steps go with their migration.
    mconn.execute(f"delete from `{created.db}`.migrations where id = %s", (mid,))
    assert mconn.fetch_dicts(f"select * from `{created.db}`.steps") == []


def test_pause_and_unpause(mconn: MySQLConnection, created: MySQLStateSql, mysql_db: str) -> None:
    def read() -> list[Any]:
        return mconn.execute(
            f"select paused, reason from `{created.db}`.control where schema_name = %s",
            (mysql_db,),
        ).fetchall()

    created.set_paused(mconn, mysql_db, True, "night traffic")
    assert read() == [(1, "night traffic")]
    created.set_paused(mconn, mysql_db, False, None)
    assert read() == [(0, None)]
    created.set_paused(mconn, mysql_db, True, None)
    assert read() == [(1, None)]


def test_backfill_summary_adds_slices(
    mconn: MySQLConnection, created: MySQLStateSql, mysql_db: str
) -> None:
    mid = created.insert_migration(mconn, _migration(mysql_db))
    for number, upper in ((0, ["500"]), (1, None)):
        created.insert_backfill_slice(
            mconn,
            {
                "migration_id": mid,
                "table_name": "t",
                "column_name": "c",
                "slice": number,
                "key_columns": ["id"],
                "checkpoint": None,
                "upper_bound": upper,
                "rows_total": 500,
            },
        )
    # Begun again (a resumed backfill): the slices recorded are kept.
    created.insert_backfill_slice(
        mconn,
        {
            "migration_id": mid,
            "table_name": "t",
            "column_name": "c",
            "slice": 0,
            "key_columns": ["id"],
            "checkpoint": ["999"],
            "upper_bound": None,
            "rows_total": 1,
        },
    )
    batch = {
        "migration_id": mid,
        "table_name": "t",
        "column_name": "c",
        "slice": 0,
        "checkpoint": ["250"],
        "rows": 250,
        "batch_size": 100,
        "rows_per_second": 900.0,
        "throttle": None,
    }
    with mconn.transaction():
        cursor = created.checkpoint_backfill(mconn, batch, "select 7 as load_sample")
        assert cursor.fetchall() == [(7,)]
    # A one-element list must land as a JSON array (PyMySQL would write ('500'): the number 500).
    created.checkpoint_backfill(mconn, {**batch, "checkpoint": ["500"]}, None)
    mconn.execute(
        f"update `{created.db}`.backfills set batches = 5, rows_per_second = 1000, "
        "finished_at = utc_timestamp(6) where slice = 0"
    )
    mconn.execute(
        f"update `{created.db}`.backfills set rows_done = 200, batches = 2, batch_size = 150, "
        "rows_per_second = 400, throttle = 'replica lag 3s' where slice = 1"
    )
    [summary] = created.backfill_summary(mconn, mid)
    assert summary["table_name"] == "t" and summary["column_name"] == "c"
    assert summary["slices"] == 2
    assert (summary["rows_done"], summary["rows_total"], summary["batches"]) == (700, 1000, 7)
    assert all(type(summary[k]) is int for k in ("rows_done", "rows_total", "batches"))
    assert summary["batch_size"] == 150
    assert summary["rows_per_second"] == 400.0  # the unfinished slices' rates
    assert summary["throttle"] == "replica lag 3s"
    assert summary["finished_at"] is None  # one slice still runs
    assert summary["started_at"].tzinfo is UTC
    rows = mconn.fetch_dicts(
        f"select key_columns, checkpoint, upper_bound from `{created.db}`.backfills order by slice"
    )
    assert [created.decode_row(r) for r in rows] == [
        {"key_columns": ["id"], "checkpoint": ["500"], "upper_bound": ["500"]},
        {"key_columns": ["id"], "checkpoint": None, "upper_bound": None},
    ]
    assert decode_json(b'["a"]') == ["a"]
    assert created.decode_json('["1", "2"]') == ["1", "2"] and created.decode_json(None) is None
    mconn.execute(f"update `{created.db}`.backfills set finished_at = utc_timestamp(6)")
    [summary] = created.backfill_summary(mconn, mid)
    assert summary["finished_at"] is not None
    assert summary["rows_per_second"] == 1000.0  # all finished: the best rate
    assert created.backfill_summary(mconn, mid + 1) == []


def test_runner_lock_refused_named_and_freed_when_its_session_dies(
    mconn: MySQLConnection, state: MySQLStateSql, mysql_url: str, mysql_db: str
) -> None:
    holder = connect(mysql_url, application_name="liveshift-test-holder")
    other = connect(mysql_url)
    try:
        assert state.runner_lock_holder(other, mysql_db) is None
        assert state.try_runner_lock(holder, mysql_db)
        assert not state.try_runner_lock(other, mysql_db)
        # The holder sits in a transaction that read something: named with it.
        holder.execute(f"create table `{mysql_db}`.probe (id int primary key)")
        holder.execute("begin")
        holder.execute(f"insert into `{mysql_db}`.probe values (1)")
        who = state.runner_lock_holder(other, mysql_db)
        assert who is not None
        assert who.session_id == holder.backend_id
        assert who.host.startswith(("127.0.0.1", "localhost"))
        assert who.state.startswith("Sleep")
        assert "in a transaction since" in who.state
        assert who.age_s >= 0.0 and who.since.endswith("UTC")
        # Another schema's lock is another lock.
        assert state.try_runner_lock(other, mysql_db + "_x")
        state.release_runner_lock(other, mysql_db + "_x")
        # KILL the holder's connection (as the server does with a runner killed -9): the lock
        # goes with its session.
        mconn.execute(f"kill {holder.backend_id}")
        deadline = time.monotonic() + 5
        while not state.try_runner_lock(other, mysql_db):
            assert time.monotonic() < deadline, "the lock outlived its session"
            time.sleep(0.05)
        who = state.runner_lock_holder(mconn, mysql_db)
        assert who is not None and who.session_id == other.backend_id
        state.release_runner_lock(other, mysql_db)
        assert state.runner_lock_holder(mconn, mysql_db) is None
    finally:
        holder.close()
        other.close()


def test_lock_names_fit_in_64_characters() -> None:
    assert lock_name("runner", "app") == "liveshift:runner:app"
    long = lock_name("runner", "s" * 64)
    assert len(long) <= 64 and long.startswith("liveshift:runner:")
    assert long != lock_name("runner", "s" * 63 + "t")


def test_init_lock_waits_then_gives_up(
    mconn: MySQLConnection, mysql_url: str, state: MySQLStateSql
) -> None:
    from liveshift.engines.base import LockNotAvailable

    quick = MySQLStateSql(state_database=state.db, init_wait_s=1)
    quick.lock_init(mconn)
    with connect(mysql_url) as other:
        with pytest.raises(LockNotAvailable):
            quick.lock_init(other)
        quick.unlock_init(mconn)
        quick.lock_init(other)
        quick.unlock_init(other)
