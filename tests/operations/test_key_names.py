"""`unique: {name}` / `primary_key: {name}`: the keys create_table, add_column and alter_column
make, under the names the file gives, as PostgreSQL names them when written directly."""

from __future__ import annotations

from typing import Any

from tests.operations.catalog import Conn
from tests.operations.lifecycle import assert_refused, migration, run_lifecycle
from tests.operations.twin import definitions, direct

SETUP = """
create table users (id int primary key, email text, login text constraint users_login_key unique);
insert into users select g, 'u' || g, 'l' || g from generate_series(1, 20) g;
"""


def check(url: str, conn: Conn, setup: str, statement: str, table: str, op: dict[str, Any]) -> None:
    conn.execute(setup)
    expected = direct(conn, setup, statement, table)

    def started(old: Conn, new: Conn) -> None:
        pass

    def completed(c: Conn) -> None:
        assert definitions(c, table) == expected

    run_lifecycle(url, migration("m1", op), started=started, completed=completed)


def test_create_table_names_its_primary_key_and_unique(pg_url: str, conn: Conn) -> None:
    columns = [
        {"name": "tenant", "type": "int", "primary_key": {"name": "accounts_pk"}},
        {"name": "id", "type": "int", "primary_key": True},
        {"name": "email", "type": "text", "unique": {"name": "accounts_email_uq"}},
        {"name": "login", "type": "text", "unique": True},
    ]
    check(
        pg_url,
        conn,
        "select 1",
        "create table accounts (tenant int, id int, email text, login text, "
        "constraint accounts_pk primary key (tenant, id), "
        "constraint accounts_email_uq unique (email), "
        "constraint accounts_login_key unique (login))",
        "accounts",
        {"create_table": {"table": "accounts", "columns": columns}},
    )


def test_add_column_names_its_unique(pg_url: str, conn: Conn) -> None:
    column = {"name": "nick", "type": "text", "unique": {"name": "users_nick_uq"}}
    check(
        pg_url,
        conn,
        SETUP,
        "alter table users add column nick text constraint users_nick_uq unique",
        "users",
        {"add_column": {"table": "users", "column": column}},
    )


def test_alter_column_names_its_unique(pg_url: str, conn: Conn) -> None:
    check(
        pg_url,
        conn,
        SETUP,
        "alter table users add constraint users_email_uq unique (email)",
        "users",
        {
            "alter_column": {
                "table": "users",
                "column": "email",
                "unique": {"name": "users_email_uq"},
            }
        },
    )


def test_refusals(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    refused = assert_refused(
        pg_url,
        migration(
            "m1",
            {"alter_column": {"table": "users", "column": "login", "unique": {"name": "login_uq"}}},
        ),
        "already unique, under constraint 'users_login_key'",
    )
    assert "rename_constraint" in (refused.hint or "")
    assert_refused(
        pg_url,
        migration(
            "m1",
            {
                "alter_column": {
                    "table": "users",
                    "column": "email",
                    "unique": {"name": "users_pkey"},
                }
            },
        ),
        "already has a constraint of that name",
    )
    column = {"name": "nick", "type": "text", "unique": {"name": "users"}}
    assert_refused(
        pg_url,
        migration("m1", {"add_column": {"table": "users", "column": column}}),
        "already used by a table",
    )
    columns = [
        {"name": "a", "type": "int", "primary_key": {"name": "t_pk"}},
        {"name": "b", "type": "int", "primary_key": {"name": "t_key"}},
    ]
    assert_refused(
        pg_url,
        migration("m1", {"create_table": {"table": "t", "columns": columns}}),
        r"primary key over \(a, b\) is given 2 names",
    )
