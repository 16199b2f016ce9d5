"""Comments: a table's and its columns' in create_table, a new column's in add_column, set or
removed by alter_column; rollback puts back exactly the comment that was there."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import sql

from liveshift.migrator import Migrator
from tests.operations.catalog import Conn
from tests.operations.lifecycle import migration, run_lifecycle


def column_comment(conn: Conn, table: str, column: str) -> str | None:
    row = conn.execute(
        "select col_description(attrelid, attnum) from pg_attribute "
        "where attrelid = %s::regclass and attname = %s",
        (table, column),
    ).fetchone()
    assert row is not None, column
    return None if row[0] is None else str(row[0])


def table_comment(conn: Conn, table: str) -> str | None:
    row = conn.execute("select obj_description(%s::regclass, 'pg_class')", (table,)).fetchone()
    assert row is not None
    return None if row[0] is None else str(row[0])


def test_create_table_comments(pg_url: str, conn: Conn) -> None:
    spec = {
        "table": "notes",
        "comment": "What users wrote down; it's theirs",
        "columns": [
            {"name": "id", "type": "int", "primary_key": True, "comment": "the key"},
            {"name": "body", "type": "text"},
        ],
    }

    def started(old: Conn, new: Conn) -> None:
        assert table_comment(old, "notes") == "What users wrote down; it's theirs"
        assert column_comment(old, "notes", "id") == "the key"
        assert column_comment(old, "notes", "body") is None

    run_lifecycle(
        pg_url,
        migration("m1", {"create_table": spec}),
        started=started,
        completed=lambda conn: started(conn, conn),
    )


def test_add_column_applies_its_comment(pg_url: str, conn: Conn) -> None:
    conn.execute("create table items (id int primary key); insert into items values (1)")
    column = {"name": "title", "type": "text", "comment": "shown in lists"}

    def started(old: Conn, new: Conn) -> None:
        # Under its temporary name until complete; the comment goes with it.
        (physical,) = [
            name
            for (name,) in old.execute(
                "select attname from pg_attribute where attrelid = 'items'::regclass "
                "and attname like '\\_ls\\_%'"
            )
        ]
        assert column_comment(old, "items", physical) == "shown in lists"

    def completed(conn: Conn) -> None:
        assert column_comment(conn, "items", "title") == "shown in lists"

    run_lifecycle(
        pg_url,
        migration("m1", {"add_column": {"table": "items", "column": column}}),
        started=started,
        completed=completed,
    )


@pytest.mark.parametrize(
    ("before", "change", "after"),
    [
        (None, {"comment": "the price in cents"}, "the price in cents"),
        ("old words", {"comment": "new words"}, "new words"),
        ("old words", {"comment": None}, None),
        ("old words", {"comment": ""}, None),
        # A type change through a new column carries the comment over, or sets the new one.
        ("old words", {"type": "bigint"}, "old words"),
        ("old words", {"type": "bigint", "comment": "new words"}, "new words"),
        ("old words", {"type": "bigint", "comment": None}, None),
    ],
)
def test_alter_column_sets_or_removes_the_comment_and_rollback_restores_it(
    pg_url: str, conn: Conn, before: str | None, change: dict[str, Any], after: str | None
) -> None:
    conn.execute("create table items (id int primary key, price integer)")
    conn.execute("insert into items values (1, 100)")
    text = "null" if before is None else sql.Literal(before).as_string(conn)
    conn.execute(f"comment on column items.price is {text}")
    the_migration = migration(
        "m1", {"alter_column": {"table": "items", "column": "price", **change}}
    )
    migrator = Migrator(pg_url)
    migrator.start(the_migration)
    if "type" not in change:  # in place: at once; else on the new column, final at complete
        assert column_comment(conn, "items", "price") == after
    migrator.rollback()
    assert column_comment(conn, "items", "price") == before
    migrator.start(the_migration)
    migrator.complete()
    assert column_comment(conn, "items", "price") == after


def test_rollback_restores_a_comment_with_quotes_exactly(pg_url: str, conn: Conn) -> None:
    conn.execute("create table items (id int primary key, price integer)")
    conn.execute("comment on column items.price is 'it''s $$ \\ and ''quoted'''")
    before = column_comment(conn, "items", "price")
    migrator = Migrator(pg_url)
    migrator.start(
        migration("m1", {"alter_column": {"table": "items", "column": "price", "comment": "x"}})
    )
    assert column_comment(conn, "items", "price") == "x"
    migrator.rollback()
    assert column_comment(conn, "items", "price") == before
