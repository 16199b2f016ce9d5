"""The `liveshift` command as a user runs it: exit codes, one clear paragraph, nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

Conn = psycopg.Connection[Any]


def liveshift(
    *args: str, url: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("LIVESHIFT_DATABASE_URL", "DATABASE_URL")
    }
    if url:
        env["LIVESHIFT_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "liveshift.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def users(conn: Conn) -> Conn:
    conn.execute(
        "create table users (id int primary key, name text not null, created_at timestamptz "
        "not null default now()); insert into users select g, 'u' || g from generate_series(1, 500) g"
    )
    return conn


def shape(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select table_name, column_name, data_type, is_nullable from information_schema.columns "
        "where table_schema = 'public' order by 1, ordinal_position"
    ).fetchall()


def test_plan_start_status_complete_history(pg_url: str, users: Conn, tmp_path: Path) -> None:
    migration = tmp_path / "0001_add_email.yaml"
    migration.write_text(
        "operations:\n  - add_column:\n      table: users\n      column: {name: email, type: text,"
        " nullable: false}\n      up: \"name || '@example.com'\"\n"
    )
    before = shape(users)
    plan = liveshift("plan", str(migration), url=pg_url)
    assert plan.returncode == 0, plan.stderr
    assert "ACCESS EXCLUSIVE" in plan.stdout and "backfill" in plan.stdout
    assert "writes only the rows the change log names" in " ".join(plan.stdout.split())
    assert shape(users) == before  # plan changes nothing
    planned = json.loads(liveshift("plan", "--json", str(migration), url=pg_url).stdout)
    assert [s["kind"] for s in planned["start"]] == [
        "ddl",
        "backfill",
        "ddl",
        "catch-up",
        "ddl",
        "ddl",
    ]

    started = liveshift("start", str(migration), "--progress", "plain", url=pg_url)
    assert started.returncode == 0, started.stderr
    status = json.loads(liveshift("status", "--json", url=pg_url).stdout)
    assert status["active"]["name"] == "0001_add_email"
    assert status["active"]["phase"] == "started"
    assert status["active"]["backfills"][0]["rows_done"] == 500

    assert liveshift("complete", url=pg_url).returncode == 0
    assert users.execute(
        "select count(*) from users where email = name || '@example.com'"
    ).fetchone() == (500,)
    history = json.loads(liveshift("history", "--json", url=pg_url).stdout)
    assert [(h["name"], h["phase"]) for h in history] == [("0001_add_email", "complete")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "operations:\n  - add_column: {table: userz, column: {name: x, type: text}}\n",
            "Did you mean 'users'",
        ),
        (
            "operations:\n  - add_column: {table: users, column: {name: x, type: integr}}\n",
            "Did you mean 'integer'",
        ),
        (
            "operations:\n  - add_column: {table: users, colum: {name: x, type: text}}\n",
            "Did you mean 'column'",
        ),
        (
            "operations:\n  - add_column: {table: users, column: {name: x, type: text, nullable: false}}\n",
            "`up:`",
        ),
    ],
)
def test_bad_input_exits_2_with_one_paragraph(
    pg_url: str, users: Conn, tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "0002_bad.yaml"
    path.write_text(text)
    before = shape(users)
    result = liveshift("start", str(path), url=pg_url)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("liveshift: ")
    assert shape(users) == before


def test_unreachable_database_exits_3(tmp_path: Path) -> None:
    result = liveshift("status", url="postgresql://postgres@127.0.0.1:1/nowhere")
    assert result.returncode == 3
    assert "cannot connect" in result.stderr and "Traceback" not in result.stderr


def test_nothing_active_is_a_clear_state_error(pg_url: str) -> None:
    result = liveshift("complete", url=pg_url)
    assert result.returncode == 2
    assert "no migration is active" in result.stderr


def test_bad_option_value_is_refused(pg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("operations:\n  - add_column: {table: users, column: {name: x, type: text}}\n")
    result = liveshift("start", str(path), "--lock-timeout", "soon", url=pg_url)
    assert result.returncode == 2
    assert "--lock-timeout" in result.stderr


def test_migrate_applies_a_directory_in_order_once(
    pg_url: str, users: Conn, tmp_path: Path
) -> None:
    (tmp_path / "0001_a.yaml").write_text(
        "operations:\n  - add_column: {table: users, column: {name: a, type: int, default: 1}}\n"
    )
    (tmp_path / "0002_b.json").write_text(
        json.dumps(
            {
                "operations": [
                    {
                        "add_column": {
                            "table": "users",
                            "column": {"name": "b", "type": "text"},
                            "up": "a::text",
                        }
                    }
                ]
            }
        )
    )
    first = liveshift("migrate", str(tmp_path), url=pg_url)
    assert first.returncode == 0, first.stderr
    assert "2 applied (0001_a.yaml, 0002_b.json), 0 skipped as applied before" in first.stdout
    assert users.execute("select count(*) from users where a = 1 and b = '1'").fetchone() == (500,)
    again = liveshift("migrate", str(tmp_path), url=pg_url)
    assert "nothing to apply (0 applied, 2 skipped as applied before" in again.stdout


@pytest.mark.parametrize("command", ["plan", "start", "status"])
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@127.0.0.1:3306/test", "MySQL/MariaDB"),
        ("mariadb://root@127.0.0.1/test", "MySQL/MariaDB"),
        ("oracle://scott@127.0.0.1/orcl", "unknown database URL scheme 'oracle'"),
    ],
)
def test_a_url_of_an_engine_liveshift_cannot_run_on_exits_2(
    tmp_path: Path, command: str, url: str, expected: str
) -> None:
    """The URL goes through the engine registry: MySQL's and MariaDB's to the MySQL engine, which
    refuses in one paragraph (nothing listens on those ports: it must not try to connect), an
    unknown scheme with the schemes there are."""
    path = tmp_path / "0001_add.yaml"
    path.write_text(
        "operations:\n  - add_column: {table: users, column: {name: x, type: text, nullable: true}}\n"
    )
    result = liveshift(command, *([str(path)] if command != "status" else []), url=url)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("liveshift: ")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and "cannot connect" not in result.stderr
