"""add_constraint: check / unique / foreign key, NOT VALID or concurrent at start, then final."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from liveshift.errors import DatabaseError
from liveshift.migrator import Migrator
from tests.operations.catalog import Conn, leftovers, shape
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


ORDERS = """
create table orders (tenant_id int, id int, note text, primary key (tenant_id, id));
create table order_items (id int primary key, tenant_id int, order_id int, qty int);
insert into orders select t, g, 'o' || g from generate_series(1, 2) t, generate_series(1, 50) g;
insert into order_items select g, g / 50 % 2 + 1, g % 50 + 1, 1 from generate_series(1, 200) g;
"""

COMPOSITE_FK = {
    "add_constraint": {
        "table": "order_items",
        "name": "items_order_fkey",
        "type": "foreign_key",
        "columns": ["tenant_id", "order_id"],
        "references": {
            "table": "orders",
            "columns": ["tenant_id", "id"],
            "on_delete": "cascade",
            "on_update": "restrict",
        },
    }
}


def foreign_key(conn: Conn, name: str = "items_order_fkey") -> tuple[Any, ...] | None:
    return conn.execute(
        "select pg_get_constraintdef(oid), convalidated from pg_constraint where conname = %s "
        "and conrelid = 'public.order_items'::regclass",
        (name,),
    ).fetchone()


FK_DEFINITION = (
    "FOREIGN KEY (tenant_id, order_id) REFERENCES orders(tenant_id, id) "
    "ON UPDATE RESTRICT ON DELETE CASCADE"
)


def test_composite_foreign_key_lifecycle(pg_url: str, conn: Conn) -> None:
    conn.execute(ORDERS)

    def started(old: Conn, new: Conn) -> None:
        assert foreign_key(old) == (FK_DEFINITION + " NOT VALID", False)
        for client_conn in (old, new):
            # Each half of the key exists on its own, the pair does not: only a two-column key
            # refuses this row.
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                client_conn.execute("insert into order_items values (1000, 1, 99, 1)")
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                client_conn.execute("update order_items set tenant_id = 3 where id = 1")
        old.execute("insert into order_items values (1001, 2, 7, 1)")
        new.execute("insert into order_items values (1002, 1, 7, 1)")
        old.execute("delete from order_items where id > 1000")

    def completed(conn: Conn) -> None:
        assert foreign_key(conn) == (FK_DEFINITION, True)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("insert into order_items values (1000, 2, 51, 1)")
        # ON DELETE CASCADE kept: the order's items go with it, the other tenant's stay.
        conn.execute("delete from orders where tenant_id = 1 and id = 7")
        remaining = conn.execute(
            "select tenant_id, count(*) from order_items where order_id = 7 group by 1 order by 1"
        ).fetchall()
        assert remaining == [(2, 2)]

    run_lifecycle(pg_url, migration("m1", COMPOSITE_FK), started=started, completed=completed)


def test_composite_violation_stops_complete_and_rolls_back(pg_url: str, conn: Conn) -> None:
    """A row whose pair has no order passes NOT VALID at start; VALIDATE names the constraint at
    complete, and rollback then restores the tables exactly."""
    conn.execute(ORDERS)
    conn.execute("update order_items set order_id = 50, tenant_id = 3 where id = 9")
    with client(pg_url) as c:
        before = shape(c)
    migrator = Migrator(pg_url)
    migrator.start(migration("m1", COMPOSITE_FK))
    with pytest.raises(DatabaseError) as refused:
        migrator.complete()
    assert refused.value.sqlstate == "23503"
    assert "validate constraint items_order_fkey" in refused.value.message
    assert refused.value.hint is not None and "rollback" in refused.value.hint
    with client(pg_url) as c:
        assert foreign_key(c) == (FK_DEFINITION + " NOT VALID", False)
    migrator.rollback()
    with client(pg_url) as c:
        assert shape(c) == before
        assert foreign_key(c) is None
        assert leftovers(c) == []


def test_later_operations_see_the_composite_key(pg_url: str, conn: Conn) -> None:
    """The model has the new key: a later drop_table of the referenced table is refused with it
    named, and a key made earlier in the migration can be referenced."""
    conn.execute(ORDERS)
    error = assert_refused(
        pg_url, migration("m1", COMPOSITE_FK, {"drop_table": {"table": "orders"}}), "used by"
    )
    assert "foreign key items_order_fkey on order_items" in error.details

    conn.execute("alter table order_items add column note text")
    by_note = {
        "add_constraint": {
            **COMPOSITE_FK["add_constraint"],
            "name": "items_note_fkey",
            "columns": ["tenant_id", "note"],
            "references": {"table": "orders", "columns": ["tenant_id", "note"]},
        }
    }
    unique = {
        "add_constraint": {
            "table": "orders",
            "name": "orders_note_key",
            "type": "unique",
            "columns": ["note", "tenant_id"],
        }
    }
    refused = assert_refused(pg_url, migration("m2", by_note), "covers exactly")
    assert refused.hint is not None and "Add a unique constraint on orders" in refused.hint
    Migrator(pg_url).start(migration("m2", unique, by_note))
    Migrator(pg_url).complete()
    with client(pg_url) as c:
        assert foreign_key(c, "items_note_fkey") == (
            "FOREIGN KEY (tenant_id, note) REFERENCES orders(tenant_id, note)",
            True,
        )
