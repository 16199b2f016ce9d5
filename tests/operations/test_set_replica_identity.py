"""set_replica_identity: the new identity from start; rollback restores the one before."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from liveshift.errors import LiveshiftError
from tests.operations.catalog import Conn
from tests.operations.lifecycle import assert_refused, migration, run_lifecycle
from tests.operations.twin import definitions, direct

SETUP = """
create table users (
    id int primary key,
    email text not null constraint users_email_key unique,
    nick text,
    code int not null
);
create unique index users_nick_idx on users (nick);
create unique index users_code_partial on users (code) where code > 0;
create unique index users_lower_email on users (lower(email));
insert into users select g, 'u' || g, null, g from generate_series(1, 20) g;
"""

VARIANTS: dict[str, tuple[str, Any, str]] = {
    "full": ("", "full", "replica identity full"),
    "nothing": ("", "nothing", "replica identity nothing"),
    "index": ("", {"index": "users_email_key"}, "replica identity using index users_email_key"),
    # from an index back to the primary key, and from full to an index: rollback restores these
    "default_from_index": (
        "alter table users replica identity using index users_email_key",
        "default",
        "replica identity default",
    ),
    "index_from_full": (
        "alter table users replica identity full",
        {"index": "users_email_key"},
        "replica identity using index users_email_key",
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lifecycle(pg_url: str, conn: Conn, variant: str) -> None:
    before, identity, clause = VARIANTS[variant]
    setup = SETUP + (before + ";" if before else "")
    conn.execute(setup)
    expected = direct(conn, setup, f"alter table users {clause}", "users")
    assert expected != definitions(conn, "users")

    def started(old: Conn, new: Conn) -> None:
        assert definitions(old, "users") == expected
        old.execute("update users set nick = 'x' where id = 1")
        new.execute("update users set nick = null where id = 1")

    def completed(c: Conn) -> None:
        assert definitions(c, "users") == expected

    run_lifecycle(
        pg_url,
        migration("m1", {"set_replica_identity": {"table": "users", "identity": identity}}),
        started=started,
        completed=completed,
    )


@pytest.mark.parametrize(
    ("index", "match"),
    [
        ("users_email", "(?s)no index 'users_email'.*users_email_key"),
        ("users_nick_idx", r"covers a nullable column \(nick\)"),
        ("users_code_partial", "is partial"),
        ("users_lower_email", "has an expression among its keys"),
    ],
)
def test_unfit_index_is_refused(pg_url: str, conn: Conn, index: str, match: str) -> None:
    conn.execute(SETUP)
    # the server refuses each too
    with pytest.raises(psycopg.errors.DatabaseError), conn.transaction():
        conn.execute(f"alter table users replica identity using index {index}")
    spec = {"table": "users", "identity": {"index": index}}
    assert_refused(pg_url, migration("m1", {"set_replica_identity": spec}), match)


def test_unknown_identity_is_refused_as_the_file_is_read() -> None:
    with pytest.raises(LiveshiftError, match="identity"):
        migration("m1", {"set_replica_identity": {"table": "users", "identity": "everything"}})
