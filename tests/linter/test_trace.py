"""Trace mode on real servers: locks per statement, rewrites, transactions, failures, the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from liveshift.linter.source import Source
from liveshift.linter.trace import referenced_tables, render_trace_text, trace_sql
from tests.conftest import EMBEDDED_DIR, PgServer


def test_locks_rewrites_and_hold_times_follow_the_files_transactions(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(b"create table users (id bigint primary key, email text)")
    sql = (
        "begin;\n"
        "alter table users add column token float8 default random();\n"
        "select pg_sleep(0.05);\n"
        "commit;\n"
        "alter table users add column plan text;\n"
    )
    traced = trace_sql(sql, pg_url).statements
    add_volatile, sleep, add_plain = traced[1], traced[2], traced[4]
    assert add_volatile.strongest_lock("users") == "AccessExclusiveLock"
    assert add_volatile.rewritten == ["users"]
    assert add_plain.rewritten == [] and add_plain.strongest_lock("users") == "AccessExclusiveLock"
    # Inside the block the lock lasts until COMMIT, past the sleep; outside, only the statement.
    assert add_volatile.held_ms >= sleep.duration_ms >= 50
    assert add_volatile.in_transaction and not add_plain.in_transaction
    assert add_plain.held_ms < add_volatile.held_ms


def test_concurrently_inside_a_transaction_fails_as_the_rule_says(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(b"create table users (id bigint primary key, email text)")
    sql = "begin;\ncreate index concurrently e on users (email);\ndrop table users;\ncommit;"
    traced = trace_sql(sql, pg_url).statements
    assert traced[1].sqlstate == "25001"  # active_sql_transaction
    assert traced[2].skipped
    outside = trace_sql("create index concurrently e on users (email);", pg_url).statements[0]
    assert outside.error is None and not outside.locks_observed


def test_set_not_null_scans_but_a_validated_check_avoids_it(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(b"create table users (id bigint primary key, email text)")
        conn.execute(b"insert into users values (1, 'a')")
    plain = trace_sql("alter table users alter column email set not null;", pg_url)
    assert plain.statements[0].scanned == ["users"]
    proven = trace_sql(
        "alter table users add constraint c check (email is not null) not valid;\n"
        "alter table users validate constraint c;\n"
        "alter table users alter column email set not null;",
        pg_url,
    )
    validate, set_not_null = proven.statements[1], proven.statements[2]
    assert validate.strongest_lock("users") == "ShareUpdateExclusiveLock"
    assert validate.scanned == ["users"]
    # PostgreSQL 12+ skips the scan: the set-not-null rule accepts this file.
    assert set_not_null.scanned == [] and set_not_null.error is None


def test_failed_statement_is_reported_and_the_trace_goes_on(pg_url: str) -> None:
    traced = trace_sql("alter table missing add column a int;\nselect 1;", pg_url).statements
    assert traced[0].sqlstate == "42P01" and "missing" in (traced[0].error or "")
    assert traced[1].error is None
    assert "failed [42P01]" in render_trace_text([trace_sql("drop table nope;", pg_url)])


def test_schema_copy_brings_constraints_indexes_enums_and_leaves_no_trace(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            b"create type mood as enum ('ok', 'sad');"
            b"create table orgs (id bigint generated always as identity primary key);"
            b"create table users (id bigserial primary key, m mood not null default 'ok',"
            b" org_id bigint references orgs (id), email text unique, check (id > 0));"
            b"create index users_lower on users (lower(email));"
        )
    traced = trace_sql(
        "insert into users (m, email) values ('sad', 'x');\n"
        "insert into users (m, email) values ('ok', 'x');\n"
        "drop index users_lower;",
        pg_url,
    ).statements
    assert traced[0].error is None
    assert traced[1].sqlstate == "23505"  # the unique constraint came along
    assert traced[2].error is None
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the source database is untouched
        assert conn.execute(b"select count(*) from users").fetchone() == (0,)
        names = conn.execute(
            b"select datname from pg_database where datname like 'liveshift_trace_%'"
        )
        assert names.fetchall() == []


def test_referenced_tables_skips_tables_the_file_creates() -> None:
    statements, _ = Source(
        "create table a (id int);\nalter table b add column x int references c (id);\n"
        "drop index i;\ninsert into a select * from d;"
    ).parse()
    assert sorted(referenced_tables(statements)) == ["b", "c", "d", "i"]


def test_command_trace_on_the_embedded_server(pg16_embedded: PgServer, tmp_path: Path) -> None:
    (tmp_path / "none.toml").write_text("")
    migration = tmp_path / "0001.sql"
    migration.write_text(
        "create table t (id bigint);\nset lock_timeout = '1s';\n"
        "alter table t add column at timestamptz default clock_timestamp();\n"
    )
    env = {**os.environ, "LIVESHIFT_EMBEDDED_DIR": str(EMBEDDED_DIR), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "liveshift.linter", "--trace", "--format", "json",
         "--config", str(tmp_path / "none.toml"), str(migration)],
        capture_output=True, text=True, env=env, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    statements = document["trace"][0]["statements"]
    assert document["trace"][0]["server_version"] >= 160000
    # The server rewrites even the new, empty table; the lint rule rightly lets it pass (exit 0)
    # because nobody else can be using a table this file created.
    assert statements[2]["rewritten"] == ["t"]
    assert document["findings"] == []
    assert ["t", "AccessExclusiveLock"] in statements[0]["locks"]
