"""The migration file's `version_schema:`: the new version's views under a name the file chooses."""

from __future__ import annotations

import pytest

from liveshift.errors import LiveshiftError
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from tests.operations.catalog import Conn, columns, shape, user_schemas
from tests.operations.lifecycle import assert_refused, client

SETUP = "create table users (id int primary key, email text); insert into users values (1, 'a')"
ADD = {"add_column": {"table": "users", "column": {"name": "n", "type": "int"}, "up": "id * 2"}}


def chosen(version_schema: str, name: str = "m1") -> Migration:
    return Migration.from_dict(
        {"version_schema": version_schema, "operations": [ADD]},
        name=name,
    )


def test_lifecycle_under_the_chosen_name(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    before = shape(conn)
    migrator = Migrator(pg_url)
    assert migrator.plan(chosen("app_v2")).version_schema == "app_v2"
    for finish in ("rollback", "complete"):
        record = migrator.start(chosen("app_v2"))
        assert record.version_schema == "app_v2"
        with client(pg_url) as old, client(pg_url, "app_v2") as new:
            assert user_schemas(old) == ["app_v2", "public"]
            # the new version's sync trigger knows its clients by this schema
            new.execute("insert into users (id, email, n) values (2, 'b', 40)")
            old.execute("insert into users (id, email) values (3, 'c')")
            assert new.execute("select id, n from users order by id").fetchall() == [
                (1, 2),
                (2, 40),
                (3, 6),
            ]
            assert old.execute("select id, email from users order by id").fetchall() == [
                (1, "a"),
                (2, "b"),
                (3, "c"),
            ]
            old.execute("delete from users where id > 1")
        getattr(migrator, finish)()
        if finish == "rollback":
            with client(pg_url) as c:
                assert shape(c) == before
    with client(pg_url) as c:
        assert user_schemas(c) == ["app_v2", "public"]
        assert ("n", "integer") in columns(c, "users")
        assert columns(c, "users", schema="app_v2") == columns(c, "users")


def test_an_existing_schema_is_refused(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP + "; create schema api; create view api.v as select 1 as one")
    refused = assert_refused(pg_url, chosen("api"), "names an existing schema")
    assert "Choose a name no schema has yet" in (refused.hint or "")
    assert_refused(pg_url, chosen("public"), "the migration's own schema")


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("pg_v2", "reserved"),
        ("liveshift", "reserved"),
        ("é" * 32, "64 bytes long"),
        ("", "at least 1 character"),
    ],
)
def test_bad_names_are_refused_as_the_file_is_read(name: str, match: str) -> None:
    with pytest.raises(LiveshiftError, match=match):
        chosen(name)
