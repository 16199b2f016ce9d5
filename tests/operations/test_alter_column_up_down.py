"""alter_column with `up`/`down` and no type change: values fixed for the new version (through a
new column, backfill and triggers) while a unique, check or NOT NULL applies; old clients keep
writing through `down`."""

from __future__ import annotations

import psycopg
import pytest

from liveshift.migrator import Migrator
from tests.operations.catalog import Conn
from tests.operations.lifecycle import migration, run_lifecycle
from tests.operations.twin import definitions, direct

SETUP = """
create table users (id int primary key, email text, score int);
insert into users values (1, 'Alice@X', 5), (2, 'bob@x', -3), (3, null, null), (4, 'CAROL@x', 0);
"""


def rows(c: Conn) -> list[tuple[object, ...]]:
    return c.execute("select id, email, score from users order by id").fetchall()


def test_up_fixes_values_for_a_new_unique_constraint(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    original = rows(conn)
    fixed = conn.execute("select id, lower(email), score from users order by id").fetchall()
    expected = direct(
        conn,
        SETUP,
        "update users set email = lower(email); "
        "alter table users add constraint users_email_key unique (email)",
        "users",
    )
    spec = {"table": "users", "column": "email", "up": "lower(email)", "unique": True}

    def started(old: Conn, new: Conn) -> None:
        assert rows(old) == original  # old clients see the values as they were
        assert rows(new) == fixed  # the new version sees `up` of every row
        old.execute("insert into users values (10, 'Dave@X', 1)")
        new.execute("insert into users values (11, 'erin@x', 1)")
        old.execute("update users set email = 'Bob@Y' where id = 2")
        assert new.execute(
            "select email from users where id in (2, 10, 11) order by id"
        ).fetchall() == [
            ("bob@y",),
            ("dave@x",),
            ("erin@x",),
        ]
        # `down` is the value itself: old clients read what new clients wrote
        assert old.execute("select email from users where id = 11").fetchone() == ("erin@x",)
        # the unique key holds on the fixed values, for writes of either version
        with pytest.raises(psycopg.errors.UniqueViolation):
            new.execute("insert into users values (12, 'alice@x', 1)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            old.execute("insert into users values (12, 'ALICE@x', 1)")
        old.execute("delete from users where id >= 10")
        old.execute("update users set email = 'bob@x' where id = 2")

    def completed(c: Conn) -> None:
        assert rows(c) == fixed
        assert definitions(c, "users") == expected

    run_lifecycle(
        pg_url, migration("m1", {"alter_column": spec}), started=started, completed=completed
    )


def test_select_case_up_and_down_with_a_check(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    up = "SELECT CASE WHEN score < 0 THEN 0 ELSE score END"
    fixed = conn.execute(f"select id, email, ({up}) from users order by id").fetchall()
    expected = direct(
        conn,
        SETUP,
        "update users set score = case when score < 0 then 0 else score end; "
        "alter table users add constraint users_score_check check (score >= 0)",
        "users",
    )
    spec = {
        "table": "users",
        "column": "score",
        "up": up,
        "down": "SELECT score * 1",
        "check": {"constraint": "score >= 0"},
    }
    plan = Migrator(pg_url).plan(migration("m1", {"alter_column": spec}))
    assert any(s.kind == "backfill" for s in plan.start)

    def started(old: Conn, new: Conn) -> None:
        assert rows(new) == fixed
        old.execute("insert into users values (10, 'x', -7)")
        assert new.execute("select score from users where id = 10").fetchone() == (0,)
        with pytest.raises(psycopg.errors.CheckViolation):
            new.execute("insert into users values (11, 'y', -1)")
        old.execute("delete from users where id = 10")

    def completed(c: Conn) -> None:
        assert rows(c) == fixed
        assert definitions(c, "users") == expected

    run_lifecycle(
        pg_url, migration("m1", {"alter_column": spec}), started=started, completed=completed
    )


@pytest.mark.parametrize("kind", ["unique", "check", "foreign_key"])
def test_add_constraint_with_up_fixes_the_rows_for_the_new_version(
    pg_url: str, conn: Conn, kind: str
) -> None:
    """add_constraint with `up`/`down` (one column) runs alter_column's change: the new version
    sees the fixed values under the constraint, old clients keep theirs."""
    conn.execute(
        SETUP + "; create table scores (score int primary key); insert into scores values (0), (5)"
    )
    constraint, fixed_expression, statement = {
        "unique": (
            {"type": "unique", "columns": ["email"]},
            "lower(email)",
            "alter table users add constraint c unique (email)",
        ),
        "check": (
            {"type": "check", "columns": ["score"], "check": "score >= 0"},
            "greatest(score, 0)",
            "alter table users add constraint c check (score >= 0)",
        ),
        "foreign_key": (
            {
                "type": "foreign_key",
                "columns": ["score"],
                "references": {"table": "scores", "column": "score"},
            },
            "greatest(score, 0)",
            "alter table users add constraint c foreign key (score) references scores (score)",
        ),
    }[kind]
    column = constraint["columns"][0]
    original = rows(conn)
    fix = f"update users set {column} = {fixed_expression}"
    fixed = conn.execute(
        f"select id, {'lower(email)' if column == 'email' else 'email'}, "
        f"{'greatest(score, 0)' if column == 'score' else 'score'} from users order by id"
    ).fetchall()
    expected = direct(
        conn,
        SETUP + "; create table scores (score int primary key); insert into scores values (0), (5)",
        f"{fix}; {statement}",
        "users",
    )
    spec = {"table": "users", "name": "c", **constraint, "up": fixed_expression}

    def started(old: Conn, new: Conn) -> None:
        assert rows(old) == original
        assert rows(new) == fixed

    def completed(c: Conn) -> None:
        assert rows(c) == fixed
        assert definitions(c, "users") == expected

    run_lifecycle(
        pg_url, migration("m1", {"add_constraint": spec}), started=started, completed=completed
    )


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            {"type": "primary_key", "columns": ["id"]},
            "fix the column's values first, with an alter_column",
        ),
        ({"type": "unique", "columns": ["id", "email"]}, "list that one column"),
        ({"type": "check", "check": "score > 0"}, "list that one column"),
    ],
)
def test_add_constraint_up_refusals(spec: dict[str, object], match: str) -> None:
    from liveshift.errors import LiveshiftError

    with pytest.raises(LiveshiftError, match=match):
        migration("m1", {"add_constraint": {"table": "users", "name": "c", "up": "1", **spec}})


def test_up_alone_is_a_change(pg_url: str, conn: Conn) -> None:
    """`up` with nothing else is a data fix for the new version: no longer "changes nothing"."""
    conn.execute(SETUP)
    spec = {"table": "users", "column": "email", "up": "coalesce(email, '')"}
    fixed = conn.execute("select id, coalesce(email, ''), score from users order by id").fetchall()

    def started(old: Conn, new: Conn) -> None:
        assert rows(new) == fixed

    def completed(c: Conn) -> None:
        assert rows(c) == fixed

    run_lifecycle(
        pg_url, migration("m1", {"alter_column": spec}), started=started, completed=completed
    )
