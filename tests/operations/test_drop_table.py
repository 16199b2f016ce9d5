"""drop_table: the whole lifecycle, dependents and bad input, on both PostgreSQL servers."""

from __future__ import annotations

import psycopg
import pytest

from liveshift.migrator import Migrator
from tests.operations.catalog import Conn, relations, rows, shape
from tests.operations.lifecycle import assert_refused, client, migration, run_lifecycle

SETUP = """
create table teams (id int primary key, title text);
create table legacy (id int primary key, payload text);
insert into teams values (1, 'one');
insert into legacy values (1, 'a'), (2, 'b');
"""


def test_lifecycle(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)

    def started(old: Conn, new: Conn) -> None:
        # Gone for the new version, untouched for the old one.
        assert relations(new, "public_m1", kinds="v") == ["teams"]
        with pytest.raises(psycopg.errors.UndefinedTable):
            new.execute("select * from legacy")
        old.execute("insert into legacy values (3, 'c')")
        assert rows(old, "legacy") == [(1, "a"), (2, "b"), (3, "c")]
        old.execute("delete from legacy where id = 3")

    def completed(conn: Conn) -> None:
        assert relations(conn, kinds="r") == ["teams"]
        assert rows(conn, "teams") == [(1, "one")]

    run_lifecycle(
        pg_url,
        migration("m1", {"drop_table": {"table": "legacy"}}),
        started=started,
        completed=completed,
    )


def test_refuses_with_dependents_then_cascade(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    conn.execute(
        "create view legacy_view as select * from legacy;"
        "create table child (id int primary key, legacy_id int references legacy (id));"
        "create function count_legacy() returns bigint language plpgsql as "
        "$$ begin return (select count(*) from legacy); end $$;"
    )
    error = assert_refused(
        pg_url, migration("m1", {"drop_table": {"table": "legacy"}}), "used by 3 other objects"
    )
    assert sorted(error.details) == [
        "foreign key child_legacy_id_fkey on child",
        "function (by name in its body) count_legacy()",
        "view legacy_view",
    ]
    assert error.hint is not None and "cascade: true" in error.hint

    m = migration("m1", {"drop_table": {"table": "legacy", "cascade": True}})
    migrator = Migrator(pg_url)
    migrator.start(m)
    migrator.rollback()
    with client(pg_url) as c:
        assert relations(c, kinds="rv") == ["child", "legacy", "legacy_view", "teams"]
    migrator.start(m)
    migrator.complete()
    with client(pg_url) as c:
        assert relations(c, kinds="rv") == ["child", "teams"]
        fks = c.execute(
            "select count(*) from pg_constraint where contype = 'f' "
            "and connamespace = 'public'::regnamespace"
        ).fetchone()
        assert fks == (0,)


def test_drop_a_table_created_by_an_earlier_migration(pg_url: str, conn: Conn) -> None:
    """The previous migration's version schema has a view of the table: not a dependent."""
    conn.execute(SETUP)
    migrator = Migrator(pg_url)
    migrator.start(
        migration(
            "m1",
            {"create_table": {"table": "tmp", "columns": [{"name": "id", "type": "int"}]}},
        ),
        complete=True,
    )
    migrator.start(migration("m2", {"drop_table": {"table": "tmp"}}), complete=True)
    with client(pg_url) as c:
        assert "tmp" not in relations(c)
        assert relations(c, "public_m2", kinds="v") == ["legacy", "teams"]
        assert relations(c, "public_m1") == []


def test_bad_input(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    error = assert_refused(
        pg_url, migration("m1", {"drop_table": {"table": "legcy"}}), "no table 'legcy'"
    )
    assert error.hint == "Did you mean 'legacy'?"
    # Dropping the same table twice in one migration: the second sees it gone.
    assert_refused(
        pg_url,
        migration("m1", {"drop_table": {"table": "legacy"}}, {"drop_table": {"table": "legacy"}}),
        "operation 2 .*no table 'legacy'",
    )
    with client(pg_url) as c:
        assert shape(c)["relations"]
