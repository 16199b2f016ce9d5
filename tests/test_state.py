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

from liveshift.errors import DatabaseError, MigrationBusy
from liveshift.migration import Migration
from liveshift.migrator import Migrator

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
