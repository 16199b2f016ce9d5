"""drop_constraint: enforced for both versions until complete, then dropped."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.operations.catalog import Conn
from tests.operations.lifecycle import assert_refused, migration, run_lifecycle

SETUP = """
create table teams (id int primary key, title text);
create table users (
    id int primary key,
    email text constraint users_email_key unique,
    score int constraint users_score_check check (score > 0),
    team_id int constraint users_team_fkey references teams (id)
);
insert into teams values (1, 'one');
insert into users select g, 'u' || g, g, 1 from generate_series(1, 50) g;
"""

VARIANTS: dict[str, tuple[str, str, type[Exception]]] = {
    "check": (
        "users_score_check",
        "insert into users values (100, 'z', 0, 1)",
        psycopg.errors.CheckViolation,
    ),
    "unique": (
        "users_email_key",
        "insert into users values (100, 'u1', 1, 1)",
        psycopg.errors.UniqueViolation,
    ),
    "foreign_key": (
        "users_team_fkey",
        "insert into users values (100, 'z', 1, 9)",
        psycopg.errors.ForeignKeyViolation,
    ),
}


def names(conn: Conn) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select conname from pg_constraint where conrelid = 'public.users'::regclass order by 1"
        )
    ]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lifecycle(pg_url: str, conn: Conn, variant: str) -> None:
    name, write, violation = VARIANTS[variant]
    conn.execute(SETUP)

    def started(old: Conn, new: Conn) -> None:
        # Old clients may rely on it: still enforced for both versions until complete.
        assert name in names(old)
        with pytest.raises(violation):
            new.execute(write)

    def completed(conn: Conn) -> None:
        assert name not in names(conn)
        conn.execute(write)
        if variant == "unique":
            assert conn.execute("select to_regclass('public.users_email_key')").fetchone() == (
                None,
            )

    m = migration("m1", {"drop_constraint": {"table": "users", "name": name}})
    run_lifecycle(pg_url, m, started=started, completed=completed)


@pytest.mark.parametrize(
    ("spec", "match", "hint"),
    [
        ({"table": "usres", "name": "users_email_key"}, "no table 'usres'", "'users'"),
        (
            {"table": "users", "name": "users_email_kye"},
            "no constraint 'users_email_kye'",
            "'users_email_key'",
        ),
        ({"table": "teams", "name": "teams_pkey"}, "foreign keys rely on the primary key", None),
    ],
)
def test_bad_input(
    pg_url: str, conn: Conn, spec: dict[str, Any], match: str, hint: str | None
) -> None:
    conn.execute(SETUP)
    error = assert_refused(pg_url, migration("m1", {"drop_constraint": spec}), match)
    if hint is not None:
        assert error.hint is not None and hint in error.hint
    if "rely" in match:
        assert error.details == ["users_team_fkey on users"]
