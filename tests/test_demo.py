"""`liveshift demo` end to end on each server, and the rule that application errors fail it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import psycopg
from psycopg import conninfo, sql

from liveshift.demo import COLUMN, TABLE, DemoResult, PhaseFigures, exit_code


def _drop(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return conninfo.make_conninfo("", **params)


def test_demo_runs_with_zero_errors_and_fills_the_column(pg_url: str) -> None:
    demo_db = f"ls_demo_{uuid.uuid4().hex[:10]}"
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "liveshift.cli",
                "demo",
                "--rows",
                "20000",
                "--database-url",
                pg_url,
                "--demo-database",
                demo_db,
                "--lock-timeout",
                "200ms",
                "--long-transaction",
                "1s",
                "--progress",
                "plain",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr + proc.stdout
        report = json.loads(proc.stdout)
        assert report["app_errors"] == 0, report["error_samples"]
        assert report["ok"] is True
        assert report["rows"] >= 20000
        assert report["old_writer_rows"] > 0
        assert all(report["checks"].values()), report["checks"]
        assert {p["name"] for p in report["phases"]} >= {"expand", "backfill", "contract"}
        assert report["rows_backfilled"] >= 20000
        # The report's long transaction made liveshift retry its lock, and it was named.
        assert report["lock_retries"] >= 1
        assert report["blockers_named"], report
        assert "app-v1-monthly-report" in report["blockers_named"][0]
        assert "app-v1-monthly-report" in proc.stderr
        # Live progress reached the user while it ran.
        assert "backfill users.last_login (new version)" in proc.stderr

        # The column really is there, NOT NULL and filled, in the demo database (not the test's).
        with psycopg.connect(_with_dbname(pg_url, demo_db)) as conn:
            not_null = conn.execute(
                "select attnotnull from pg_attribute where attrelid = %s::regclass "
                "and attname = %s",
                (TABLE, COLUMN),
            ).fetchone()
            assert not_null == (True,)
            nulls = conn.execute(
                sql.SQL("select count(*) from {} where {} is null").format(
                    sql.Identifier(TABLE), sql.Identifier(COLUMN)
                )
            ).fetchone()
            assert nulls == (0,)
            phase = conn.execute("select phase from liveshift.migrations").fetchall()
            assert phase == [("complete",)]
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("select to_regclass('public.users') is null").fetchone() == (
                True,
            ), "the demo must not touch the database the URL points at"
    finally:
        _drop(pg_url, demo_db)


def test_demo_refuses_to_drop_the_database_it_is_pointed_at(pg_url: str) -> None:
    name = conninfo.conninfo_to_dict(pg_url)["dbname"]
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "liveshift.cli", "demo", "--rows", "10"),
            *("--database-url", pg_url, "--demo-database", str(name)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "drop and recreate" in proc.stderr
    with psycopg.connect(pg_url) as conn:  # still there
        assert conn.execute("select 1").fetchone() == (1,)


def _result(errors: int, checks: dict[str, bool]) -> DemoResult:
    return DemoResult(
        database="d",
        table=TABLE,
        column=COLUMN,
        rows=10,
        rows_backfilled=10,
        phases=[PhaseFigures("backfill", 1.0, 0.1, 5, 1.0, 2.0)],
        app_queries=5,
        app_p99_ms=1.0,
        app_worst_ms=2.0,
        app_errors=errors,
        error_samples=["app-v1-writer-1: boom"] if errors else [],
        lock_retries=0,
        blockers_named=[],
        old_writer_rows=3,
        checks=checks,
        check_details={},
        version_schema="public_0001_add_last_login",
    )


def test_application_errors_or_a_failed_check_make_the_demo_exit_1() -> None:
    assert exit_code(_result(0, {"filled": True})) == 0
    assert exit_code(_result(1, {"filled": True})) == 1
    assert exit_code(_result(0, {"filled": False})) == 1
