"""State in the target database: the embedded default, the runner lock, resumable starts."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import psycopg
import pytest

from liveshift.engines import engine_for
from liveshift.engines.postgres import state_sql
from liveshift.engines.postgres.state_sql import PostgresStateSql
from liveshift.engines.state import migrating
from liveshift.errors import ConfigError, DatabaseError, MigrationBusy
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.state import STATE_VERSION

Conn = psycopg.Connection[Any]

ADD_EMAIL = {
    "operations": [
        {
            "add_column": {
                "table": "users",
                "column": {"name": "email", "type": "text", "nullable": False},
                "up": "'u' || id || '@example.com'",
            }
        }
    ]
}


@pytest.fixture
def users(conn: Conn) -> Conn:
    conn.execute(
        "create table users (id int primary key, name text); "
        "insert into users select g, 'u' || g from generate_series(1, 300) g"
    )
    return conn


def test_a_second_runner_is_refused_and_told_who_holds_the_lock(pg_url: str, users: Conn) -> None:
    Migrator(pg_url).init()
    with psycopg.connect(pg_url, autocommit=True, application_name="other-runner") as holder:
        holder.execute("select pg_advisory_lock(hashtext('liveshift'), hashtext('public'))")
        with pytest.raises(MigrationBusy) as raised:
            Migrator(pg_url).start(Migration.from_dict(ADD_EMAIL, "m1"))
        assert "other-runner" in raised.value.message
        assert str(holder.info.backend_pid) in raised.value.message
    assert users.execute("select count(*) from liveshift.migrations").fetchone() == (0,)


def test_an_interrupted_start_resumes_from_the_journal(pg_url: str, users: Conn) -> None:
    """A start that died after its first step: running it again skips the done step and finishes."""
    migration = Migration.from_dict(ADD_EMAIL, "m1")
    migrator = Migrator(pg_url)
    # Make the last step fail once: a table where the version schema's view must go.
    users.execute("create schema public_m1; create table public_m1.users (x int)")
    with pytest.raises(DatabaseError, match="is not a view"):
        migrator.start(migration)
    users.execute("drop schema public_m1 cascade")
    migrator.start(migration)  # resumes: the add-column step is journaled, so it is skipped
    phases = users.execute(
        "select phase, position, status from liveshift.steps order by phase, position"
    ).fetchall()
    # add column, backfill, UPDATE trigger, catch-up, drop the change log, version schema
    assert [p for p in phases if p[0] == "start"] == [("start", i, "done") for i in range(6)]
    assert users.execute("select count(*) from public_m1.users where email is null").fetchone() == (
        0,
    )


def test_no_url_means_the_embedded_server_announced_on_stderr(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("LIVESHIFT_DATABASE_URL", "DATABASE_URL")
    }
    env["LIVESHIFT_EMBEDDED_DIR"] = str(tmp_path / "pg")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "liveshift.cli", "init"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "embedded PostgreSQL" in result.stderr
        assert "state schema created" in result.stdout
        # A new embedded cluster creates WAL segments without zero-filling them (a first heavy
        # write would otherwise stall commits behind 16 MB of zeros per segment).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            url = pgserver.get_server(tmp_path / "pg", cleanup_mode=None).get_uri()
        with psycopg.connect(url) as conn:
            assert conn.execute("show wal_init_zero").fetchone() == ("off",)
    finally:
        # The server keeps running after the command, by design: stop it as a user would.
        stopped = subprocess.run(
            [
                sys.executable,
                "-m",
                "liveshift.cli",
                "embedded",
                "stop",
                "--dir",
                str(tmp_path / "pg"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert stopped.returncode == 0, stopped.stderr


# The state schema as liveshift created it before its SQL moved to engines/postgres (version 3): the
# state this version makes must be the same, so either can take over a database from the other.
STATE_V3_COLUMNS = """
backfills.migration_id bigint NO
backfills.table_name text NO
backfills.column_name text NO
backfills.slice integer NO
backfills.key_columns ARRAY YES
backfills.checkpoint ARRAY YES
backfills.upper_bound ARRAY YES
backfills.rows_done bigint NO
backfills.rows_total bigint YES
backfills.batches bigint NO
backfills.batch_size integer YES
backfills.rows_per_second double precision YES
backfills.throttle text YES
backfills.started_at timestamp with time zone NO
backfills.updated_at timestamp with time zone NO
backfills.finished_at timestamp with time zone YES
control.schema_name text NO
control.paused boolean NO
control.reason text YES
control.updated_at timestamp with time zone NO
migrations.id bigint NO
migrations.schema_name text NO
migrations.name text NO
migrations.checksum text NO
migrations.operations jsonb NO
migrations.plan jsonb NO
migrations.version_schema text NO
migrations.previous_version_schema text YES
migrations.phase text NO
migrations.created_at timestamp with time zone NO
migrations.started_at timestamp with time zone YES
migrations.completed_at timestamp with time zone YES
migrations.rolled_back_at timestamp with time zone YES
migrations.source text YES
migrations.liveshift_version text YES
state_version.version integer NO
steps.migration_id bigint NO
steps.phase text NO
steps.position integer NO
steps.operation text NO
steps.description text NO
steps.sql text NO
steps.lock_mode text YES
steps.status text NO
steps.started_at timestamp with time zone NO
steps.finished_at timestamp with time zone NO
steps.duration_ms double precision NO
steps.lock_retries integer NO
steps.rows bigint YES
steps.error text YES
steps.lock_held_ms double precision YES
"""
STATE_V3_INDEXES = [
    "backfills_pkey",
    "control_pkey",
    "migrations_name",
    "migrations_one_active",
    "migrations_pkey",
    "steps_pkey",
]


def state_shape(conn: Conn) -> tuple[list[str], list[str]]:
    columns = conn.execute(
        "select table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable "
        "from information_schema.columns where table_schema = 'liveshift' "
        "order by table_name, ordinal_position"
    ).fetchall()
    indexes = conn.execute(
        "select indexname from pg_indexes where schemaname = 'liveshift' order by 1"
    ).fetchall()
    return [c[0] for c in columns], [i[0] for i in indexes]


def test_the_state_made_now_is_the_state_of_version_3(pg_url: str, conn: Conn) -> None:
    assert Migrator(pg_url).init() is True
    assert state_shape(conn) == (STATE_V3_COLUMNS.split("\n")[1:-1], STATE_V3_INDEXES)
    assert conn.execute("select version from liveshift.state_version").fetchall() == [
        (STATE_VERSION,)
    ]
    # A second init finds it current and changes nothing.
    assert Migrator(pg_url).init() is False
    assert state_shape(conn) == (STATE_V3_COLUMNS.split("\n")[1:-1], STATE_V3_INDEXES)


def test_a_version_2_state_is_upgraded_and_used(pg_url: str, users: Conn) -> None:
    """A state without the lock hold times of version 3 gets them, then a migration runs."""
    Migrator(pg_url).init()
    users.execute(
        "alter table liveshift.steps drop column lock_held_ms; "
        "update liveshift.state_version set version = 2"
    )
    record = Migrator(pg_url).start(Migration.from_dict(ADD_EMAIL, "m1"), complete=True)
    assert record.phase == "complete"
    assert state_shape(users) == (STATE_V3_COLUMNS.split("\n")[1:-1], STATE_V3_INDEXES)
    assert users.execute("select version from liveshift.state_version").fetchall() == [(3,)]
    held = users.execute("select count(lock_held_ms) from liveshift.steps").fetchone()
    assert held is not None and held[0] >= 1


def test_the_engine_keeps_the_state_version_this_liveshift_speaks() -> None:
    """Each engine's state SQL creates STATE_VERSION (PostgreSQL's has an upgrade to every version
    up to it); MySQL's engine, which has every part a migration needs but cannot run one end to
    end yet, refuses to connect in words."""
    engine = migrating(engine_for("postgresql://localhost/x"))
    assert isinstance(engine.state_sql, PostgresStateSql)
    assert state_sql.VERSION == STATE_VERSION
    assert sorted(state_sql._UPGRADES) == list(range(2, STATE_VERSION + 1))
    from liveshift.engines.mysql import state_sql as mysql_state_sql

    assert mysql_state_sql.VERSION == STATE_VERSION
    for url in ("mysql://root@127.0.0.1:3306/test", "mariadb://root@127.0.0.1/test"):
        engine = migrating(engine_for(url))
        with pytest.raises(ConfigError, match="cannot run migrations on MySQL yet"):
            engine.connect(url)
