"""create_index: concurrent builds (plain, unique, partial, expression, include, method)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from liveshift.migrator import Migrator
from tests.operations.catalog import Conn, relations, rows
from tests.operations.lifecycle import assert_refused, client, migration, run_lifecycle

SETUP = """
create table users (
    id bigint generated always as identity primary key,
    email text not null,
    active boolean not null default true,
    tags text[] not null default '{}',
    score int
);
insert into users (email, active, score)
select 'u' || g || '@example.com', g % 2 = 0, g from generate_series(1, 500) g;
"""


def index_def(conn: Conn, name: str) -> str | None:
    row = conn.execute(
        "select pg_get_indexdef(indexrelid) from pg_index where indexrelid = to_regclass(%s)",
        (f"public.{name}",),
    ).fetchone()
    return None if row is None else str(row[0])


VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "plain": ({"columns": ["score"]}, "USING btree (score)"),
    "unique_partial": (
        {"columns": ["email"], "unique": True, "where": "active"},
        "CREATE UNIQUE INDEX users_idx ON public.users USING btree (email) WHERE active",
    ),
    "expression": ({"columns": ["lower(email)"]}, "USING btree (lower(email))"),
    "include": ({"columns": ["email"], "include": ["score"]}, "INCLUDE (score)"),
    "gin": ({"columns": ["tags"], "method": "gin"}, "USING gin (tags)"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lifecycle(pg_url: str, conn: Conn, variant: str) -> None:
    spec, expected = VARIANTS[variant]
    conn.execute(SETUP)

    def started(old: Conn, new: Conn) -> None:
        definition = index_def(old, "users_idx")
        assert definition is not None and expected in definition
        assert old.execute(
            "select indisvalid from pg_index where indexrelid = 'users_idx'::regclass"
        ).fetchone() == (True,)
        old.execute("insert into users (email, active) values ('x@example.com', true)")
        new.execute("insert into users (email, active) values ('y@example.com', true)")
        if spec.get("unique"):
            with pytest.raises(psycopg.errors.UniqueViolation):
                new.execute("insert into users (email, active) values ('x@example.com', true)")
            # Partial: rows outside the predicate may repeat.
            old.execute("insert into users (email, active) values ('x@example.com', false)")
            old.execute("delete from users where email = 'x@example.com' and not active")
        old.execute("delete from users where email in ('x@example.com', 'y@example.com')")

    def completed(conn: Conn) -> None:
        definition = index_def(conn, "users_idx")
        assert definition is not None and expected in definition
        assert len(rows(conn, "users")) == 500

    m = migration("m1", {"create_index": {"name": "users_idx", "table": "users", **spec}})
    run_lifecycle(pg_url, m, started=started, completed=completed)


def test_unique_build_over_duplicates_fails_cleanly(pg_url: str, conn: Conn) -> None:
    """A unique index over duplicate values fails at start, leaves no invalid index, and
    rollback returns everything to before."""
    conn.execute(SETUP)
    conn.execute("update users set score = 1 where id <= 2")
    migrator = Migrator(pg_url)
    m = migration(
        "m1",
        {
            "create_index": {
                "name": "users_idx",
                "table": "users",
                "columns": ["score"],
                "unique": True,
            }
        },
    )
    with pytest.raises(Exception, match="could not create unique index"):
        migrator.start(m)
    with client(pg_url) as c:
        assert "users_idx" not in relations(c, kinds="i")
    migrator.rollback()
    with client(pg_url) as c:
        assert relations(c, kinds="i") == ["users_pkey"]


def test_index_on_a_column_added_in_the_same_migration(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    m = migration(
        "m1",
        {
            "add_column": {
                "table": "users",
                "column": {"name": "nick", "type": "text"},
                "up": "email",
            }
        },
        {
            "create_index": {
                "name": "users_nick",
                "table": "users",
                "columns": ["nick"],
                "where": "nick is not null",
            }
        },
    )
    migrator = Migrator(pg_url)
    migrator.start(m)
    with client(pg_url) as c:
        definition = index_def(c, "users_nick")
        assert definition is not None and "(_ls_new_nick)" in definition
    migrator.complete()
    with client(pg_url) as c:
        definition = index_def(c, "users_nick")
        assert definition is not None and "(nick) WHERE (nick IS NOT NULL)" in definition


@pytest.mark.parametrize(
    ("spec", "match", "hint"),
    [
        ({"table": "usres", "columns": ["email"]}, "no table 'usres'", "'users'"),
        ({"table": "users", "columns": ["emial"]}, "no column 'emial'", "'email'"),
        ({"table": "users", "columns": ["lower(emial)"]}, "no column 'emial'", "'email'"),
        (
            {"table": "users", "columns": ["email"], "include": ["scroe"]},
            "no column 'scroe'",
            "'score'",
        ),
        (
            {"table": "users", "columns": ["email"], "where": "actve"},
            "no column 'actve'",
            "'active'",
        ),
        (
            {"table": "users", "columns": ["email"], "where": "score"},
            "refused by the database",
            None,
        ),
        (
            {"table": "users", "columns": ["email"], "unique": True, "method": "hash"},
            "cannot be unique",
            None,
        ),
        (
            {"table": "users", "columns": ["tags"], "method": "gin", "include": ["score"]},
            "INCLUDE",
            None,
        ),
        (
            {"name": "users_pkey", "table": "users", "columns": ["email"]},
            "already used by an index",
            None,
        ),
        (
            {"name": "users", "table": "users", "columns": ["email"]},
            "already used by a table",
            None,
        ),
    ],
)
def test_bad_input(
    pg_url: str, conn: Conn, spec: dict[str, Any], match: str, hint: str | None
) -> None:
    conn.execute(SETUP)
    error = assert_refused(
        pg_url, migration("m1", {"create_index": {"name": "users_idx", **spec}}), match
    )
    if hint is not None:
        assert error.hint is not None and hint in error.hint
