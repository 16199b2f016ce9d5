"""create_table: the whole lifecycle and bad input, on both PostgreSQL servers."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.operations.catalog import Conn, columns, relations, rows
from tests.operations.lifecycle import assert_refused, client, migration, run_lifecycle

SETUP = """
create table teams (id int primary key, title text);
insert into teams values (1, 'one'), (2, 'two');
"""

TEAM_MEMBERS: dict[str, Any] = {
    "table": "members",
    "columns": [
        {"name": "id", "type": "bigint", "primary_key": True},
        {
            "name": "team_id",
            "type": "int",
            "nullable": False,
            "references": {"table": "teams", "column": "id", "on_delete": "cascade"},
        },
        {"name": "email", "type": "text", "unique": True},
        {"name": "rank", "type": "integer", "default": 1, "check": {"constraint": "rank > 0"}},
        {"name": "note", "type": "varchar(20)", "comment": "free text"},
    ],
}


def test_lifecycle(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)

    def started(old: Conn, new: Conn) -> None:
        assert columns(new, "members", "public_m1") == [
            ("id", "bigint"),
            ("team_id", "integer"),
            ("email", "text"),
            ("rank", "integer"),
            ("note", "character varying"),
        ]
        new.execute("insert into members (id, team_id, email) values (1, 1, 'a@x')")
        assert rows(new, "members") == [(1, 1, "a@x", 1, None)]
        # Every constraint holds from the start, for writes through the version schema.
        with pytest.raises(psycopg.errors.UniqueViolation):
            new.execute("insert into members (id, team_id, email) values (2, 2, 'a@x')")
        with pytest.raises(psycopg.errors.CheckViolation):
            new.execute("insert into members (id, team_id, rank) values (3, 2, 0)")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            new.execute("insert into members (id, team_id) values (4, 9)")
        with pytest.raises(psycopg.errors.NotNullViolation):
            new.execute("insert into members (id) values (5)")
        # Old clients keep working on their tables; the new version sees them too.
        old.execute("insert into teams values (3, 'three')")
        assert rows(new, "teams") == [(1, "one"), (2, "two"), (3, "three")]
        old.execute("delete from teams where id = 3")

    def completed(conn: Conn) -> None:
        assert "members" in relations(conn, kinds="r")
        assert rows(conn, "members") == [(1, 1, "a@x", 1, None)]
        constraints = sorted(
            r[0]
            for r in conn.execute(
                "select conname from pg_constraint where conrelid = 'members'::regclass"
            )
        )
        assert constraints == [
            "members_email_key",
            "members_pkey",
            "members_rank_check",
            "members_team_id_fkey",
        ]
        comment = conn.execute("select col_description('members'::regclass, 5)").fetchone()
        assert comment == ("free text",)
        conn.execute("delete from teams where id = 1")  # on delete cascade
        assert rows(conn, "members") == []

    run_lifecycle(
        pg_url,
        migration("m1", {"create_table": TEAM_MEMBERS}),
        started=started,
        completed=completed,
    )


def test_two_new_tables_referencing_each_other_in_order(pg_url: str, conn: Conn) -> None:
    """A later operation sees the table an earlier one created (model-only until start)."""
    m = migration(
        "m1",
        {
            "create_table": {
                "table": "a",
                "columns": [{"name": "id", "type": "int", "primary_key": True}],
            }
        },
        {
            "create_table": {
                "table": "b",
                "columns": [
                    {"name": "id", "type": "int", "primary_key": True},
                    {"name": "a_id", "type": "int", "references": {"table": "a", "column": "id"}},
                    {"name": "parent", "type": "int", "references": {"table": "b", "column": "id"}},
                ],
            }
        },
    )

    def started(old: Conn, new: Conn) -> None:
        new.execute("insert into a values (1)")
        new.execute("insert into b values (1, 1, null), (2, 1, 1)")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            new.execute("insert into b values (3, 1, 7)")

    def completed(conn: Conn) -> None:
        assert relations(conn, kinds="r") == ["a", "b"]
        assert rows(conn, "b") == [(1, 1, None), (2, 1, 1)]

    run_lifecycle(pg_url, m, started=started, completed=completed)


@pytest.mark.parametrize(
    ("spec", "match", "hint"),
    [
        (
            {"table": "teams", "columns": [{"name": "id", "type": "int"}]},
            "already used by a table",
            None,
        ),
        (
            {"table": "t", "columns": [{"name": "id", "type": "integr"}]},
            "type 'integr' does not exist",
            "integer",
        ),
        (
            {"table": "t", "columns": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]},
            "defined twice",
            None,
        ),
        (
            {
                "table": "t",
                "columns": [
                    {"name": "a", "type": "int", "references": {"table": "team", "column": "id"}}
                ],
            },
            "no table 'team'",
            "teams",
        ),
        (
            {
                "table": "t",
                "columns": [
                    {"name": "a", "type": "int", "references": {"table": "teams", "column": "idd"}}
                ],
            },
            "no column 'idd'",
            "'id'",
        ),
        (
            {
                "table": "t",
                "columns": [{"name": "a", "type": "int", "check": {"constraint": "b > 0"}}],
            },
            "refused by the database",
            None,
        ),
        (
            {"table": "t", "columns": [{"name": "a", "type": "int", "default": "'x'"}]},
            "refused by the database",
            None,
        ),
        (
            {"table": "teams_pkey", "columns": [{"name": "a", "type": "int"}]},
            "already used by an index",
            None,
        ),
    ],
)
def test_bad_input(
    pg_url: str, conn: Conn, spec: dict[str, Any], match: str, hint: str | None
) -> None:
    conn.execute(SETUP)
    error = assert_refused(pg_url, migration("m1", {"create_table": spec}), match)
    if hint is not None:
        assert error.hint is not None and hint in error.hint


def test_old_clients_do_not_need_it(pg_url: str, conn: Conn) -> None:
    """Before start, old clients' queries do not mention the table; after start they still run."""
    conn.execute(SETUP)
    from liveshift.migrator import Migrator

    Migrator(pg_url).start(migration("m1", {"create_table": TEAM_MEMBERS}))
    with client(pg_url) as old:
        assert rows(old, "teams") == [(1, "one"), (2, "two")]
