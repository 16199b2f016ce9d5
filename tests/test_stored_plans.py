"""A migration in flight while liveshift is upgraded: the plan an earlier version stored in the
database (tests/fixtures/stored_plans/<version>.json, kept as that version wrote it) still
completes and rolls back with this version.

`LIVESHIFT_RECORD_PLANS=1` writes the file of the running version (do it once per release, and
never rewrite an earlier version's file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from liveshift import __version__
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from tests.operations.catalog import leftovers, shape, user_schemas

Conn = psycopg.Connection[Any]
STORED = Path(__file__).parent / "fixtures" / "stored_plans"

SETUP = """
create table accounts (id int primary key);
insert into accounts select g from generate_series(1, 10) g;
create table users (id int primary key, name text, account_id int, score int);
insert into users select g, 'u' || g, 1 + g % 10, g from generate_series(1, 500) g;
"""

# Every kind of step a plan stores: DDL, backfill, catch-up, concurrent index, NOT VALID and
# VALIDATE, a type change in place with its carried-over column, a rename, version views.
MIGRATION = {
    "operations": [
        {
            "add_column": {
                "table": "users",
                "column": {
                    "name": "email",
                    "type": "varchar(80)",
                    "nullable": False,
                    "unique": True,
                },
                "up": "'u' || id || '@example.com'",
            }
        },
        {
            "alter_column": {
                "table": "users",
                "column": "score",
                "type": "bigint",
                "up": "score",
                "down": "score",
            }
        },
        {
            "alter_column": {
                "table": "users",
                "column": "account_id",
                "references": {"table": "accounts", "column": "id"},
            }
        },
        {"create_index": {"name": "users_name_idx", "table": "users", "columns": ["name"]}},
        {"rename_column": {"table": "users", "from": "name", "to": "full_name"}},
    ]
}


def _migration() -> Migration:
    return Migration.from_dict(MIGRATION, name="m1")


def _stored_versions() -> list[str]:
    return sorted(p.stem for p in STORED.glob("*.json"))


def _start_with_stored_plan(pg_url: str, conn: Conn, version: str) -> Migrator:
    """Start with this version, then put the earlier version's plan in its place, as an upgrade
    in the middle of a migration leaves it."""
    migrator = Migrator(pg_url)
    migrator.start(_migration())
    plan = json.loads((STORED / f"{version}.json").read_text())
    conn.execute("update liveshift.migrations set plan = %s::jsonb", (json.dumps(plan),))
    return migrator


def test_this_versions_plan_is_on_file(pg_url: str, conn: Conn) -> None:
    """The plan this version stores; recorded with LIVESHIFT_RECORD_PLANS=1."""
    conn.execute(SETUP)
    Migrator(pg_url).start(_migration())
    row = conn.execute("select plan from liveshift.migrations").fetchone()
    assert row is not None
    path = STORED / f"{__version__}.json"
    if os.environ.get("LIVESHIFT_RECORD_PLANS"):
        STORED.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row[0], indent=1, sort_keys=True) + "\n")
    assert path.exists(), f"no stored plan of {__version__}: record it (see the module docstring)"


@pytest.mark.parametrize("version", _stored_versions())
def test_a_stored_plan_completes(pg_url: str, conn: Conn, version: str) -> None:
    conn.execute(SETUP)
    migrator = _start_with_stored_plan(pg_url, conn, version)
    migrator.complete()
    types = conn.execute(
        "select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute "
        "where attrelid = 'users'::regclass and attnum > 0 and not attisdropped order by attname"
    ).fetchall()
    assert types == [
        ("account_id", "integer", False),
        ("email", "character varying(80)", True),
        ("full_name", "text", False),
        ("id", "integer", True),
        ("score", "bigint", False),
    ]
    nulls = conn.execute("select count(*) from users where email is null").fetchone()
    assert nulls == (0,)
    assert conn.execute("select to_regclass('users_name_idx') is not null").fetchone() == (True,)
    fks = conn.execute(
        "select count(*) from pg_constraint where conrelid = 'users'::regclass "
        "and contype = 'f' and convalidated"
    ).fetchone()
    assert fks == (1,)
    assert leftovers(conn) == []
    assert user_schemas(conn) == ["public", "public_m1"]


@pytest.mark.parametrize("version", _stored_versions())
def test_a_stored_plan_rolls_back(pg_url: str, conn: Conn, version: str) -> None:
    conn.execute(SETUP)
    before = shape(conn)
    migrator = _start_with_stored_plan(pg_url, conn, version)
    migrator.rollback()
    assert shape(conn) == before
    assert leftovers(conn) == []
