"""The declared type is the type the database gets: every operation that takes a type makes the
column PostgreSQL itself makes for the same type text, and a type change is planned as the server
would do it (catalog only, or a rewrite with every existing row checked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from liveshift.errors import ValidationError
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from tests.operations.catalog import Conn, leftovers, shape
from tests.operations.lifecycle import assert_refused, client, migration


def run_lifecycle(
    url: str,
    the_migration: Migration,
    *,
    started: Callable[[Conn, Conn], None],
    completed: Callable[[Conn], None],
) -> None:
    """start -> check -> rollback -> exactly as before -> start -> check -> complete -> check
    (lifecycle.run_lifecycle, with the user schema `other` these tests need)."""
    with client(url) as conn:
        before = shape(conn)
    migrator = Migrator(url)
    for _ in range(2):
        migrator.start(the_migration)
        with client(url) as old, client(url, "public_m1") as new:
            started(old, new)
        if _ == 0:
            migrator.rollback()
            with client(url) as conn:
                assert shape(conn) == before
                assert leftovers(conn) == []
    migrator.complete()
    with client(url) as conn:
        completed(conn)
        assert leftovers(conn) == []


TYPES_SETUP = """
create type mood as enum ('sad', 'ok', 'happy');
create domain posint as integer check (value > 0);
create domain short_text as varchar(5);
create type pair as (a integer, b text);
create type floatrange as range (subtype = float8);
create schema other;
create type other.level as enum ('low', 'high');
create type "Weird Type" as enum ('a', 'b');
"""

# Type texts as a user writes them; each must give the column a direct CREATE TABLE gives.
TYPE_TEXTS = [
    "varchar(10)",
    "character varying(320)",
    "varchar(10)[]",
    "char(3)",
    "character",
    "char(3)[]",
    "numeric(5,2)",
    "numeric(10,2)[]",
    "decimal(7)",
    "numeric",
    "text[]",
    "integer[][]",
    "time(2) with time zone",
    "timestamp(3)",
    "timestamptz(0)",
    "interval day to second(2)",
    "interval year",
    "interval(3)",
    "bit(8)",
    "bit varying(16)",
    "varbit",
    "float(10)",
    "float(30)",
    "int8",
    "pg_catalog.int4",
    "mood",
    "mood[]",
    "public.mood",
    "posint",
    "short_text",
    "pair",
    "floatrange",
    "other.level",
    '"Weird Type"',
    "jsonb",
    "tsrange",
]


def column_types(conn: Conn, table: str, schema: str = "public") -> dict[str, str]:
    """The server's own spelling of each column's type, modifiers included."""
    return {
        str(name): str(type_)
        for name, type_ in conn.execute(
            "select attname, format_type(atttypid, atttypmod) from pg_attribute "
            "where attrelid = %s::regclass and attnum > 0 and not attisdropped",
            (f'"{schema}"."{table}"',),
        )
    }


def direct_types(conn: Conn) -> dict[str, str]:
    """What PostgreSQL makes of each type text, from a table created directly with them."""
    columns = ", ".join(f"c{i} {text}" for i, text in enumerate(TYPE_TEXTS))
    conn.execute(f"create table direct ({columns})")
    types = column_types(conn, "direct")
    conn.execute("drop table direct")
    return types


def assert_types(types: dict[str, str], expected: dict[str, str]) -> None:
    for i, text in enumerate(TYPE_TEXTS):
        assert types[f"c{i}"] == expected[f"c{i}"], text


def test_create_table_makes_the_declared_types(pg_url: str, conn: Conn) -> None:
    conn.execute(TYPES_SETUP)
    expected = direct_types(conn)
    columns: list[dict[str, Any]] = [{"name": "id", "type": "bigint", "primary_key": True}]
    columns += [{"name": f"c{i}", "type": text} for i, text in enumerate(TYPE_TEXTS)]

    def started(old: Conn, new: Conn) -> None:
        # format_type names types outside the search path with their schema: ask as `public`.
        assert_types(column_types(old, "typed"), expected)
        assert_types(column_types(old, "typed", "public_m1"), expected)  # the view

    def completed(conn: Conn) -> None:
        assert_types(column_types(conn, "typed"), expected)

    run_lifecycle(
        pg_url,
        migration("m1", {"create_table": {"table": "typed", "columns": columns}}),
        started=started,
        completed=completed,
    )


def test_add_column_makes_the_declared_types(pg_url: str, conn: Conn) -> None:
    conn.execute(TYPES_SETUP)
    conn.execute("create table typed (id bigint primary key); insert into typed values (1), (2)")
    expected = direct_types(conn)
    operations = [
        {"add_column": {"table": "typed", "column": {"name": f"c{i}", "type": text}}}
        for i, text in enumerate(TYPE_TEXTS)
    ]

    def started(old: Conn, new: Conn) -> None:
        assert_types(column_types(old, "typed", "public_m1"), expected)

    def completed(conn: Conn) -> None:
        assert_types(column_types(conn, "typed"), expected)

    run_lifecycle(pg_url, migration("m1", *operations), started=started, completed=completed)


def test_alter_column_makes_the_declared_types(pg_url: str, conn: Conn) -> None:
    conn.execute(TYPES_SETUP)
    columns = ", ".join(f"c{i} text" for i in range(len(TYPE_TEXTS)))
    conn.execute(f"create table typed (id bigint primary key, {columns})")
    conn.execute("insert into typed (id) values (1), (2)")
    expected = direct_types(conn)
    operations = [
        {
            "alter_column": {
                "table": "typed",
                "column": f"c{i}",
                "type": text,
                "up": "null",
                "down": "null",
            }
        }
        for i, text in enumerate(TYPE_TEXTS)
    ]

    def started(old: Conn, new: Conn) -> None:
        assert_types(column_types(old, "typed", "public_m1"), expected)

    def completed(conn: Conn) -> None:
        assert_types(column_types(conn, "typed"), expected)

    run_lifecycle(pg_url, migration("m1", *operations), started=started, completed=completed)


# (old type, new type): whether the server rewrites is asked of the server in the test itself.
TYPE_CHANGES = [
    ("varchar(20)", "varchar(320)"),
    ("varchar(20)", "varchar"),
    ("varchar(20)", "text"),
    ("varchar(20)", "varchar(10)"),
    ("text", "varchar(5)"),
    ("char(3)", "char(5)"),
    ("numeric(5,2)", "numeric(10,2)"),
    ("numeric(10,2)", "numeric(8,2)"),
    ("numeric(10,2)", "numeric(10,3)"),
    ("numeric(10,2)", "numeric"),
    ("bit varying(8)", "bit varying(16)"),
    ("timestamp(3)", "timestamp(6)"),
    ("time(2)", "time(0)"),
    ("integer", "bigint"),
]


def server_rewrites(conn: Conn, old: str, new: str) -> bool:
    """Whether PostgreSQL's own ALTER COLUMN TYPE rewrites a real table for this change."""
    conn.execute(f"create table probe_direct (c {old}); insert into probe_direct values (null)")
    file = "select relfilenode from pg_class where oid = 'probe_direct'::regclass"
    before = conn.execute(file).fetchone()
    conn.execute(f"alter table probe_direct alter column c type {new}")
    after = conn.execute(file).fetchone()
    conn.execute("drop table probe_direct")
    return before != after


@pytest.mark.parametrize(("old", "new"), TYPE_CHANGES)
def test_type_change_is_classified_as_the_server_does_it(
    pg_url: str, conn: Conn, old: str, new: str
) -> None:
    conn.execute(f"create table items (id int primary key, c {old})")
    conn.execute("insert into items values (1, null)")
    rewrites = server_rewrites(conn, old, new)
    migrator = Migrator(pg_url)
    the_migration = migration(
        "m1", {"alter_column": {"table": "items", "column": "c", "type": new}}
    )
    plan = migrator.plan(the_migration)
    # A rewrite goes through a new column, filled by a backfill; else the change is in place.
    assert any(s.backfill for s in plan.start) == rewrites
    migrator.start(the_migration, complete=True)
    expected = server_type(conn, new)
    assert column_types(conn, "items")["c"] == expected


def server_type(conn: Conn, text: str) -> str:
    conn.execute(f"create table type_direct (c {text})")
    expected = column_types(conn, "type_direct")["c"]
    conn.execute("drop table type_direct")
    return expected


@pytest.mark.parametrize(
    ("old", "new", "value", "misfits"),
    [
        ("varchar(20)", "varchar(10)", "'a much longer text'", 3),
        ("numeric(10,2)", "numeric(8,2)", "12345678.5", 3),
        ("text", "varchar(5)", "'sixsix'", 3),
        ("integer", "posint", "-1", 3),
    ],
)
def test_narrowing_with_rows_that_do_not_fit_is_refused_with_their_count(
    pg_url: str, conn: Conn, old: str, new: str, value: str, misfits: int
) -> None:
    conn.execute("create domain posint as integer check (value > 0)")
    conn.execute(f"create table items (id int primary key, c {old})")
    conn.execute("insert into items select g, null from generate_series(1, 10) g")
    conn.execute(f"update items set c = {value} where id <= {misfits}")
    # The server's own change refuses these rows too.
    refusals = (psycopg.errors.DataError, psycopg.errors.IntegrityError)
    with pytest.raises(refusals), conn.transaction():
        conn.execute(f"alter table items alter column c type {new}")
    the_migration = migration(
        "m1", {"alter_column": {"table": "items", "column": "c", "type": new}}
    )
    refused = assert_refused(pg_url, the_migration, f"{misfits} rows of items hold a value of c")
    assert server_type(conn, new) in str(refused)
    # Once they fit, the change goes through and the column is what the server makes.
    conn.execute(f"update items set c = null where id <= {misfits}")
    Migrator(pg_url).start(the_migration, complete=True)
    assert column_types(conn, "items")["c"] == server_type(conn, new)


def test_narrowing_with_up_counts_what_up_makes(pg_url: str, conn: Conn) -> None:
    conn.execute("create table items (id int primary key, c varchar(20))")
    conn.execute("insert into items values (1, 'a much longer text'), (2, 'short')")
    spec = {"table": "items", "column": "c", "type": "varchar(10)"}
    assert_refused(
        pg_url,
        migration("m1", {"alter_column": {**spec, "up": "c || c || c"}}),
        r"2 rows of items hold a value of c that does not fit character varying\(10\) "
        r"\(as `up` computes it\)",
    )
    Migrator(pg_url).start(
        migration("m1", {"alter_column": {**spec, "up": "left(c, 10)"}}), complete=True
    )
    assert conn.execute("select c from items order by id").fetchall() == [
        ("a much lon",),
        ("short",),
    ]


def test_an_up_that_fails_for_some_row_is_refused_with_the_servers_error(
    pg_url: str, conn: Conn
) -> None:
    conn.execute("create table items (id int primary key, c text)")
    conn.execute("insert into items values (1, '12'), (2, 'abc')")
    spec = {"table": "items", "column": "c", "type": "integer", "up": "c::integer"}
    assert_refused(
        pg_url,
        migration("m1", {"alter_column": {**spec, "down": "c::text"}}),
        "the new value of every row of items.c is refused by the database: invalid input syntax "
        'for type integer: "abc"',
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("varchr(10)", r"type 'varchr\(10\)' does not exist"),
        ("int, x int", "is not one type"),
        (
            "int); commit; create table leaked as select 1 as x; create temp table t (x int",
            "is not one type",
        ),
        ("varchar(10) not null", r"says more than the type \(NOT NULL\)"),
        ("int default 5", r"says more than the type \(DEFAULT\)"),
        ('text collate "C"', r"says more than the type \(COLLATE\)"),
        ("int check (value > 0)", r"says more than the type \(a constraint\)"),
        ("int generated always as identity", r"says more than the type \(.*IDENTITY\)"),
        ("varchar(0)", "length for type varchar must be at least 1"),
    ],
)
def test_a_type_the_server_refuses_is_refused(
    pg_url: str, conn: Conn, text: str, message: str
) -> None:
    conn.execute("create table items (id int primary key)")
    the_migration = migration(
        "m1", {"add_column": {"table": "items", "column": {"name": "c", "type": text}}}
    )
    refused = assert_refused(pg_url, the_migration, message)
    assert conn.execute("select to_regclass('leaked')").fetchone() == (None,)
    if "varchr" in text:
        assert refused.hint == "Did you mean 'varchar'?"


def test_the_probe_speaks_in_the_users_names(pg_url: str, conn: Conn) -> None:
    conn.execute("create table users (id int primary key, email text)")
    wrong_type = migration(
        "m1",
        {
            "add_column": {
                "table": "users",
                "column": {"name": "n", "type": "integer"},
                "up": "email",
            }
        },
    )
    refused = assert_refused(pg_url, wrong_type, "the `up` expression `email`")
    assert 'column "users.n" is of type integer but expression is of type text' in str(refused)
    assert "value" not in str(refused) and "_ls_" not in str(refused)
    typo = migration(
        "m1",
        {
            "add_column": {
                "table": "users",
                "column": {"name": "n", "type": "text"},
                "up": "users.emial",
            }
        },
    )
    refused = assert_refused(pg_url, typo, "column users.emial does not exist")
    assert refused.hint is not None and "users.email" in refused.hint
    assert "_ls_" not in str(refused) + refused.hint
    conn.execute("alter table users add column n integer")
    down = migration("m1", {"drop_column": {"table": "users", "column": "n", "down": "email"}})
    refused = assert_refused(pg_url, down, "the `down` expression `email`")
    assert 'column "users.n" is of type integer but expression is of type text' in str(refused)
    # alter_column's own check of `up` names its target the same way.
    earlier = migration(
        "m1",
        {"add_column": {"table": "users", "column": {"name": "age", "type": "integer"}}},
        {
            "alter_column": {
                "table": "users",
                "column": "email",
                "type": "integer",
                "up": "age || 'x'",
                "down": "email::text",
            }
        },
    )
    refused = assert_refused(pg_url, earlier, 'column "users.email" is of type integer')
    assert "_ls_" not in str(refused) and "value" not in str(refused)


def test_alter_column_refuses_a_serial_type(pg_url: str, conn: Conn) -> None:
    conn.execute("create table items (id int primary key, n integer)")
    refused = assert_refused(
        pg_url,
        migration("m1", {"alter_column": {"table": "items", "column": "n", "type": "serial"}}),
        "'serial' is not a type but a new column with its own sequence",
    )
    assert isinstance(refused, ValidationError)


# What depends on the column, and what the server's own binary-coercible change does with it.
DEPENDENTS = {
    "check": "alter table items add constraint items_c_check check (length(c) > 0)",
    "expression index": "create index items_lower on items (lower(c))",
    "partial index": "create index items_partial on items (id) where c <> ''",
    "plain index": "create index items_c on items (c)",
    "not valid check": "alter table items add constraint items_c_check check (c <> 'x') not valid",
}


def server_checks_again(conn: Conn, dependent: str) -> bool:
    """Whether PostgreSQL's own varchar(20) -> varchar(30) scans the table (a CHECK validated
    again) or builds an index again, on a real table, rolled back."""
    with conn.transaction(force_rollback=True):
        conn.execute("alter table items rename to items_real")
        conn.execute("create table items (id int primary key, c varchar(20))")
        conn.execute("insert into items values (1, 'a')")
        conn.execute(DEPENDENTS[dependent])
        state = (
            "select pg_stat_get_xact_tuples_returned('items'::regclass), array_agg(relfilenode "
            "order by relname) from pg_class c join pg_index i on i.indexrelid = c.oid "
            "where i.indrelid = 'items'::regclass"
        )
        before = conn.execute(state).fetchone()
        conn.execute("alter table items alter column c type varchar(30)")
        return before != conn.execute(state).fetchone()


@pytest.mark.parametrize("dependent", list(DEPENDENTS))
def test_a_binary_coercible_change_that_the_server_would_check_again_goes_through_a_new_column(
    pg_url: str, conn: Conn, dependent: str
) -> None:
    conn.execute("create table items (id int primary key, c varchar(20))")
    conn.execute("insert into items values (1, 'a')")
    checked_again = server_checks_again(conn, dependent)
    assert checked_again == (dependent in ("check", "expression index", "partial index"))
    conn.execute(DEPENDENTS[dependent])
    the_migration = migration(
        "m1", {"alter_column": {"table": "items", "column": "c", "type": "varchar(30)"}}
    )
    migrator = Migrator(pg_url)
    # Through a new column (a backfill, the check NOT VALID then validated, the index built
    # concurrently) exactly when the server's own change would lock the table to check again.
    assert any(s.backfill for s in migrator.plan(the_migration).start) == checked_again
    migrator.start(the_migration, complete=True)
    assert column_types(conn, "items")["c"] == "character varying(30)"
