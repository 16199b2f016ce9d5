"""rename_constraint: the new name from start for both versions; rollback renames it back."""

from __future__ import annotations

import psycopg
import pytest

from tests.operations.catalog import Conn
from tests.operations.lifecycle import assert_refused, migration, run_lifecycle
from tests.operations.twin import definitions, direct

SETUP = """
create table teams (id int primary key);
create table users (
    id int constraint users_pk primary key,
    email text constraint users_email_key unique,
    score int constraint users_score_check check (score > 0),
    team_id int constraint users_team_fkey references teams (id)
);
insert into teams values (1);
insert into users select g, 'u' || g, g, 1 from generate_series(1, 20) g;
"""

VARIANTS: dict[str, tuple[str, str, type[Exception]]] = {
    "primary_key": (
        "users_pk",
        "insert into users values (1, 'z', 1, 1)",
        psycopg.errors.UniqueViolation,
    ),
    "unique": (
        "users_email_key",
        "insert into users values (99, 'u1', 1, 1)",
        psycopg.errors.UniqueViolation,
    ),
    "check": (
        "users_score_check",
        "insert into users values (99, 'z', 0, 1)",
        psycopg.errors.CheckViolation,
    ),
    "foreign_key": (
        "users_team_fkey",
        "insert into users values (99, 'z', 1, 9)",
        psycopg.errors.ForeignKeyViolation,
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lifecycle(pg_url: str, conn: Conn, variant: str) -> None:
    old_name, write, violation = VARIANTS[variant]
    new_name = f"{old_name}_renamed"
    conn.execute(SETUP)
    expected = direct(
        conn, SETUP, f"alter table users rename constraint {old_name} to {new_name}", "users"
    )

    def started(old: Conn, new: Conn) -> None:
        assert definitions(old, "users") == expected
        for client in (old, new):
            with pytest.raises(violation) as refused:
                client.execute(write)
            assert refused.value.diag.constraint_name == new_name

    def completed(c: Conn) -> None:
        assert definitions(c, "users") == expected

    run_lifecycle(
        pg_url,
        migration(
            "m1",
            {"rename_constraint": {"table": "users", "from": old_name, "to": new_name}},
        ),
        started=started,
        completed=completed,
    )


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"from": "users_pk_x", "to": "a"}, "no constraint 'users_pk_x'.*"),
        ({"from": "users_pk", "to": "users_score_check"}, "already has a constraint"),
        ({"from": "users_pk", "to": "teams_pkey"}, "already used by an index"),
        ({"from": "users_pk", "to": "users_pk"}, "to the same name"),
        ({"from": "users_pk", "to": "_ls_x"}, "reserved"),
    ],
)
def test_bad_input(pg_url: str, conn: Conn, spec: dict[str, str], match: str) -> None:
    conn.execute(SETUP)
    assert_refused(
        pg_url, migration("m1", {"rename_constraint": {"table": "users", **spec}}), match
    )


def test_a_constraint_this_migration_makes_is_named_where_it_is_made(
    pg_url: str, conn: Conn
) -> None:
    conn.execute(SETUP)
    refused = assert_refused(
        pg_url,
        migration(
            "m1",
            {
                "add_constraint": {
                    "table": "users",
                    "name": "c1",
                    "type": "check",
                    "check": "id > 0",
                }
            },
            {"rename_constraint": {"table": "users", "from": "c1", "to": "c2"}},
        ),
        "made by this migration",
    )
    assert "'c2'" in (refused.hint or "")
