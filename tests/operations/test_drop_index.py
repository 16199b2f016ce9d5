"""drop_index: the index serves both versions until complete drops it concurrently."""

from __future__ import annotations

from liveshift.migrator import Migrator
from tests.operations.catalog import Conn, relations
from tests.operations.lifecycle import assert_refused, client, migration, run_lifecycle

SETUP = """
create table users (id int primary key, email text unique, score int);
create index users_score on users (score);
insert into users select g, 'u' || g, g from generate_series(1, 100) g;
"""


def test_lifecycle(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)

    def started(old: Conn, new: Conn) -> None:
        assert "users_score" in relations(old, kinds="i")
        old.execute("insert into users values (101, 'x', 5)")
        new.execute("update users set score = 6 where id = 101")
        assert old.execute("select score from users where id = 101").fetchone() == (6,)
        new.execute("delete from users where id = 101")

    def completed(conn: Conn) -> None:
        assert relations(conn, kinds="i") == ["users_email_key", "users_pkey"]

    run_lifecycle(
        pg_url,
        migration("m1", {"drop_index": {"name": "users_score"}}),
        started=started,
        completed=completed,
    )


def test_drop_an_index_created_in_the_same_migration(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    m = migration(
        "m1",
        {"create_index": {"name": "tmp_idx", "table": "users", "columns": ["email", "score"]}},
        {"drop_index": {"name": "tmp_idx"}},
    )
    Migrator(pg_url).start(m, complete=True)
    with client(pg_url) as c:
        assert "tmp_idx" not in relations(c, kinds="i")


def test_bad_input(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    error = assert_refused(
        pg_url, migration("m1", {"drop_index": {"name": "users_scor"}}), "no index 'users_scor'"
    )
    assert error.hint == "Did you mean 'users_score'?"
    assert_refused(
        pg_url,
        migration("m1", {"drop_index": {"name": "users_email_key"}}),
        "belongs to the unique constraint",
    )
    assert_refused(
        pg_url,
        migration("m1", {"drop_index": {"name": "users_pkey"}}),
        "belongs to the primary key",
    )
