"""add_constraint: check / unique / foreign key, NOT VALID or concurrent at start, then final."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from liveshift.errors import DatabaseError
from liveshift.migrator import Migrator
from tests.operations.catalog import Conn
from tests.operations.lifecycle import assert_refused, client, migration, run_lifecycle

SETUP = """
create table teams (id int primary key, title text);
create table users (id int primary key, email text, score int, team_id int);
insert into teams values (1, 'one'), (2, 'two');
insert into users select g, 'u' || g, g, g % 2 + 1 from generate_series(1, 300) g;
"""

VARIANTS: dict[str, tuple[dict[str, Any], str, type[Exception]]] = {
    "check": (
        {"type": "check", "check": "score > 0"},
        "insert into users values (1000, 'z', 0, 1)",
        psycopg.errors.CheckViolation,
    ),
    "unique": (
        {"type": "unique", "columns": ["email"]},
        "insert into users values (1000, 'u1', 1, 1)",
        psycopg.errors.UniqueViolation,
    ),
    "foreign_key": (
        {
            "type": "foreign_key",
            "columns": ["team_id"],
            "references": {"table": "teams", "column": "id", "on_delete": "cascade"},
        },
        "insert into users values (1000, 'z', 1, 9)",
        psycopg.errors.ForeignKeyViolation,
    ),
}


def constraint(conn: Conn, name: str) -> tuple[Any, ...] | None:
    return conn.execute(
        "select contype::text, convalidated from pg_constraint where conname = %s "
        "and conrelid = 'public.users'::regclass",
        (name,),
    ).fetchone()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lifecycle(pg_url: str, conn: Conn, variant: str) -> None:
    spec, bad_write, violation = VARIANTS[variant]
    conn.execute(SETUP)

    def started(old: Conn, new: Conn) -> None:
        # Enforced for new writes of both versions as soon as start is done.
        for client_conn in (old, new):
            with pytest.raises(violation):
                client_conn.execute(bad_write)
        old.execute("insert into users values (1001, 'ok-old', 5, 1)")
        new.execute("insert into users values (1002, 'ok-new', 5, 2)")
        assert old.execute("select count(*) from users").fetchone() == (302,)
        old.execute("delete from users where id > 1000")
        if variant == "unique":
            index = old.execute(
                "select indisunique, indisvalid from pg_index where indexrelid = 'users_c'::regclass"
            ).fetchone()
            assert index == (True, True)
            assert constraint(old, "users_c") is None
        else:
            assert constraint(old, "users_c") == (
                {"check": "c", "foreign_key": "f"}[variant],
                False,
            )

    def completed(conn: Conn) -> None:
        assert constraint(conn, "users_c") == (
            {"check": "c", "unique": "u", "foreign_key": "f"}[variant],
            True,
        )
        with pytest.raises(violation):
            conn.execute(bad_write)

    m = migration("m1", {"add_constraint": {"table": "users", "name": "users_c", **spec}})
    run_lifecycle(pg_url, m, started=started, completed=completed)


def test_existing_violations_stop_complete_until_fixed(pg_url: str, conn: Conn) -> None:
    """NOT VALID accepts old rows at start; VALIDATE finds them at complete, which stops there
    (nothing after it ran) and resumes once the rows are fixed."""
    conn.execute(SETUP)
    conn.execute("update users set score = -1 where id = 7")
    migrator = Migrator(pg_url)
    migrator.start(
        migration(
            "m1",
            {
                "add_constraint": {
                    "table": "users",
                    "name": "pos",
                    "type": "check",
                    "check": "score > 0",
                }
            },
        )
    )
    with pytest.raises(DatabaseError, match="violated"):
        migrator.complete()
    conn.execute("update users set score = 1 where id = 7")
    migrator.complete()
    with client(pg_url) as c:
        assert constraint(c, "pos") == ("c", True)


@pytest.mark.parametrize(
    ("spec", "match", "hint"),
    [
        ({"table": "usr", "type": "check", "check": "score > 0"}, "no table 'usr'", "'users'"),
        ({"table": "users", "type": "check", "check": "scor > 0"}, "no column 'scor'", "'score'"),
        (
            {"table": "users", "type": "check", "check": "email + 1"},
            "refused by the database",
            None,
        ),
        (
            {"table": "users", "type": "unique", "columns": ["emial"]},
            "no column 'emial'",
            "'email'",
        ),
        (
            {"table": "users", "type": "unique", "columns": ["email"], "name": "users_pkey"},
            "already exists",
            None,
        ),
        (
            {"table": "users", "type": "unique", "columns": ["email"], "name": "teams"},
            "already used by a table",
            None,
        ),
        (
            {
                "table": "users",
                "type": "foreign_key",
                "columns": ["team_id"],
                "references": {"table": "team", "column": "id"},
            },
            "no table 'team'",
            "'teams'",
        ),
        (
            {
                "table": "users",
                "type": "foreign_key",
                "columns": ["team_id"],
                "references": {"table": "teams", "column": "ids"},
            },
            "no column 'ids'",
            "'id'",
        ),
    ],
)
def test_bad_input(
    pg_url: str, conn: Conn, spec: dict[str, Any], match: str, hint: str | None
) -> None:
    conn.execute(SETUP)
    error = assert_refused(
        pg_url, migration("m1", {"add_constraint": {"name": "c1", **spec}}), match
    )
    if hint is not None:
        assert error.hint is not None and hint in error.hint
