"""rename_table: the whole lifecycle, with old and new names side by side, and bad input."""

from __future__ import annotations

import psycopg
import pytest

from liveshift.migrator import Migrator
from tests.operations.catalog import Conn, columns, relations, rows
from tests.operations.lifecycle import assert_refused, client, migration, run_lifecycle

SETUP = """
create table teams (id int primary key, title text);
create table people (
    id bigint generated always as identity primary key,
    name text not null,
    team_id int references teams (id)
);
insert into teams values (1, 'one');
insert into people (name, team_id) values ('ann', 1), ('bob', null);
"""


def test_lifecycle(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)

    def started(old: Conn, new: Conn) -> None:
        assert relations(new, "public_m1", kinds="v") == ["persons", "teams"]
        assert columns(new, "persons", "public_m1") == [
            ("id", "bigint"),
            ("name", "text"),
            ("team_id", "integer"),
        ]
        with pytest.raises(psycopg.errors.UndefinedTable):
            new.execute("select * from people")
        # Each side writes under its own name and sees the other's writes.
        old.execute("insert into people (name) values ('old')")
        new.execute("insert into persons (name, team_id) values ('new', 1)")
        names = [r[1] for r in rows(old, "people")]
        assert names == [r[1] for r in rows(new, "persons")] == ["ann", "bob", "old", "new"]
        new.execute("update persons set name = 'ANN' where name = 'ann'")
        assert rows(old, "people")[0][1] == "ANN"
        new.execute("delete from persons where name in ('old', 'new')")
        new.execute("update persons set name = 'ann' where name = 'ANN'")

    def completed(conn: Conn) -> None:
        assert relations(conn, kinds="r") == ["persons", "teams"]
        assert [r[1] for r in rows(conn, "persons")] == ["ann", "bob"]
        with client(pg_url, "public_m1") as new:
            assert rows(new, "persons")[0][1] == "ann"

    run_lifecycle(
        pg_url,
        migration("m1", {"rename_table": {"from": "people", "to": "persons"}}),
        started=started,
        completed=completed,
    )


def test_rename_then_change_the_table_in_the_same_migration(pg_url: str, conn: Conn) -> None:
    """Later operations name the table by its new name; their complete steps run before the
    physical rename."""
    conn.execute(SETUP)
    m = migration(
        "m1",
        {"rename_table": {"from": "people", "to": "persons"}},
        {"add_column": {"table": "persons", "column": {"name": "age", "type": "int"}}},
        {"create_index": {"name": "persons_name_idx", "table": "persons", "columns": ["name"]}},
    )
    migrator = Migrator(pg_url)
    migrator.start(m)
    with client(pg_url, "public_m1") as new:
        new.execute("insert into persons (name, age) values ('cy', 30)")
        assert columns(new, "persons", "public_m1")[-1] == ("age", "integer")
    migrator.complete()
    with client(pg_url) as c:
        assert relations(c, kinds="r") == ["persons", "teams"]
        assert "persons_name_idx" in relations(c, kinds="i")
        assert [r[1:] for r in rows(c, "persons")] == [
            ("ann", 1, None),
            ("bob", None, None),
            ("cy", None, 30),
        ]
        assert columns(c, "persons")[-1] == ("age", "integer")


def test_bad_input(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    conn.execute("create view team_view as select * from teams")
    error = assert_refused(
        pg_url, migration("m1", {"rename_table": {"from": "peple", "to": "x"}}), "no table 'peple'"
    )
    assert error.hint == "Did you mean 'people'?"
    assert_refused(
        pg_url,
        migration("m1", {"rename_table": {"from": "people", "to": "teams"}}),
        "already used by a table",
    )
    assert_refused(
        pg_url,
        migration("m1", {"rename_table": {"from": "people", "to": "team_view"}}),
        "already used by a view",
    )
    assert_refused(
        pg_url, migration("m1", {"rename_table": {"from": "people", "to": "people"}}), "same name"
    )
    assert_refused(
        pg_url,
        migration(
            "m1",
            {"rename_table": {"from": "people", "to": "a"}},
            {"rename_table": {"from": "a", "to": "b"}},
        ),
        "already renamed by this migration",
    )
    # The old name stays taken until complete.
    assert_refused(
        pg_url,
        migration(
            "m1",
            {"rename_table": {"from": "people", "to": "persons"}},
            {"create_table": {"table": "people", "columns": [{"name": "id", "type": "int"}]}},
        ),
        "keeps this name until complete",
    )
