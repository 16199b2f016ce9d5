"""No dead ends: after a failed start or complete there is a command forward and one back, and
liveshift's own version views never block its own DDL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from liveshift.errors import DatabaseError, LockTimeoutExceeded, StateError, ValidationError
from liveshift.executor import rollback_open
from liveshift.migrator import Migrator
from liveshift.plan import step_from_json, step_to_json
from liveshift.settings import Settings
from tests.operations.catalog import leftovers, shape
from tests.operations.lifecycle import client, migration

ADD_AGE = {"add_column": {"table": "users", "column": {"name": "age", "type": "int"}}}


def _users(url: str) -> None:
    with client(url) as conn:
        conn.execute(
            "create table users (id bigint primary key, email varchar(100) not null, bio text)"
        )
        conn.execute("create table posts (id bigint primary key, title text)")
        conn.execute("insert into users select g, 'u' || g, 'bio' from generate_series(1, 20) g")
        conn.execute("insert into posts select g, 't' || g from generate_series(1, 5) g")


def _everything(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """The user schema and the previous version's schema, as the catalog shows them."""
    return {"public": shape(conn), "public_m1": shape(conn, "public_m1")}


def _type_of(conn: psycopg.Connection[Any], relation: str, column: str) -> str:
    row = conn.execute(
        "select format_type(atttypid, atttypmod) from pg_attribute "
        "where attrelid = %s::regclass and attname = %s",
        (relation, column),
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_type_change_in_place_after_a_completed_migration(pg_url: str) -> None:
    """The previous version's view over the column is made again around the ALTER TYPE, in
    start and in rollback; old clients on that version keep reading it."""
    _users(pg_url)
    migrator = Migrator(pg_url)
    migrator.start(migration("m1", ADD_AGE), complete=True)
    with client(pg_url) as conn:
        before = _everything(conn)
        # The server itself refuses the change while the view exists: what liveshift plans around.
        with pytest.raises(psycopg.errors.FeatureNotSupported), conn.transaction():
            conn.execute("alter table users alter column email type text")
    widen = migration("m2", {"alter_column": {"table": "users", "column": "email", "type": "text"}})
    migrator.start(widen)
    with client(pg_url, "public_m1") as old:
        assert _type_of(old, "public.users", "email") == "text"
        assert _type_of(old, "public_m1.users", "email") == "text"
        assert old.execute("select count(email) from users").fetchone() == (20,)
    migrator.rollback()
    with client(pg_url) as conn:
        assert _everything(conn) == before
        assert leftovers(conn) == []
    migrator.start(widen, complete=True)
    with client(pg_url) as conn:
        assert _type_of(conn, "public_m2.users", "email") == "text"
        assert "public_m1" not in [s[0] for s in shape(conn)["schemas"]]


def test_the_previous_versions_view_keeps_its_grants(pg_url: str) -> None:
    """Old clients of the previous version read through its views with the privileges they were
    given: the views made again around the type change get the same grants."""
    _users(pg_url)
    role = "ls_app_" + pg_url.rsplit("ls_test_", 1)[-1].split()[0][:12]
    migrator = Migrator(pg_url)
    migrator.start(migration("m1", ADD_AGE), complete=True)
    with client(pg_url) as conn:
        conn.execute(f"create role {role}")
        try:
            # The version views are security_invoker (PostgreSQL 15+): the table's grant counts too.
            conn.execute(f"grant usage on schema public_m1 to {role}")
            conn.execute(f"grant select on public.users to {role}")
            conn.execute(f"grant select, update on public_m1.users to {role} with grant option")

            def acl() -> Any:
                row = conn.execute(
                    "select array(select (a.grantee::regrole::text, a.privilege_type, "
                    "a.is_grantable)::text from pg_class c, aclexplode(c.relacl) a "
                    "where c.oid = 'public_m1.users'::regclass order by 1)"
                ).fetchone()
                return row[0] if row else None

            granted = acl()
            assert any(role in entry for entry in granted)
            before = _everything(conn)
            widen = migration(
                "m2", {"alter_column": {"table": "users", "column": "email", "type": "text"}}
            )
            migrator.start(widen)
            assert acl() == granted
            conn.execute(f"set role {role}")
            assert conn.execute("select count(*) from public_m1.users").fetchone() == (20,)
            conn.execute("reset role")
            migrator.rollback()
            assert acl() == granted
            assert _everything(conn) == before
        finally:
            conn.execute("reset role")
            conn.execute(f"drop owned by {role}")
            conn.execute(f"drop role {role}")


def test_a_users_view_on_the_column_is_refused_at_plan_time(pg_url: str) -> None:
    _users(pg_url)
    with client(pg_url) as conn:
        conn.execute("create view emails as select email from users")
        with pytest.raises(psycopg.errors.FeatureNotSupported), conn.transaction():
            conn.execute("alter table users alter column email type text")
        before = shape(conn)
    widen = migration("m2", {"alter_column": {"table": "users", "column": "email", "type": "text"}})
    with pytest.raises(ValidationError, match="cannot change the type") as refused:
        Migrator(pg_url).plan(widen)
    assert refused.value.details == ["view public.emails"]
    with pytest.raises(ValidationError):
        Migrator(pg_url).start(widen)
    with client(pg_url) as conn:
        assert shape(conn) == before


@pytest.mark.parametrize("shape_of_change", ["add_constraint", "after_a_drop_column"])
def test_complete_that_meets_a_violating_row_can_be_rolled_back(
    pg_url: str, shape_of_change: str
) -> None:
    """Every VALIDATE runs before anything complete cannot take back (here: dropping the previous
    version schema, and a column an earlier operation drops), so rollback stays open."""
    _users(pg_url)
    migrator = Migrator(pg_url)
    migrator.start(migration("m1", ADD_AGE), complete=True)
    check = {
        "add_constraint": {
            "table": "users",
            "name": "email_not_empty",
            "type": "check",
            "check": "email <> ''",
        }
    }
    operations: list[dict[str, Any]] = [check]
    if shape_of_change == "after_a_drop_column":
        operations.insert(0, {"drop_column": {"table": "users", "column": "bio"}})
    with client(pg_url) as conn:
        conn.execute("update users set email = '' where id = 1")  # a row that breaks the check
        before = _everything(conn)
    migrator.start(migration("m2", *operations))
    with pytest.raises(DatabaseError) as failed:
        migrator.complete()
    assert failed.value.sqlstate == "23514"  # check_violation, the server's own refusal
    assert failed.value.hint is not None and "`liveshift rollback`" in failed.value.hint
    migrator.rollback()
    with client(pg_url) as conn:
        assert _everything(conn) == before
        assert leftovers(conn) == []


@contextmanager
def _holding(url: str, table: str) -> Iterator[None]:
    """Another session holds ACCESS SHARE on `table` (an open read transaction) until the end."""
    ready, done = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(url) as conn:
            conn.execute(f"select from {table} limit 1")
            ready.set()
            done.wait(30)
            conn.rollback()

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait(10)
    try:
        yield
    finally:
        done.set()
        thread.join()


def test_complete_stopped_after_an_irreversible_step_offers_complete_only(pg_url: str) -> None:
    _users(pg_url)
    settings = Settings(lock_timeout_ms=20, lock_retry_deadline_s=0.2)
    migrator = Migrator(pg_url, settings=settings)
    drops = migration(
        "m1",
        {"drop_column": {"table": "users", "column": "bio"}},
        {"drop_column": {"table": "posts", "column": "title"}},
    )
    migrator.start(drops)
    with _holding(pg_url, "posts"), pytest.raises(LockTimeoutExceeded) as failed:
        migrator.complete()
    assert failed.value.hint is not None and "rollback" not in failed.value.hint
    with pytest.raises(StateError, match="part-way through complete") as refused:
        migrator.rollback()
    assert refused.value.hint is not None and "`liveshift complete`" in refused.value.hint
    with pytest.raises(StateError) as busy:
        migrator.start(migration("m2", ADD_AGE))
    assert busy.value.hint == "Finish it first: `liveshift complete`."
    migrator.complete()
    with client(pg_url) as conn:
        assert ("bio",) not in [(c[2],) for c in shape(conn)["columns"] if c[0] == "users"]


def test_a_start_that_never_took_effect_rolls_back_without_undoing_it(pg_url: str) -> None:
    """start stopped at its first step (a lock that never came): complete points at start or
    rollback, rollback skips the undo of steps that never ran, and the schema is as before."""
    _users(pg_url)
    migrator = Migrator(pg_url, settings=Settings(lock_timeout_ms=20, lock_retry_deadline_s=0.2))
    with client(pg_url) as conn:
        before = shape(conn)
    loosen = migration(
        "m1", {"alter_column": {"table": "users", "column": "email", "nullable": True}}
    )
    with _holding(pg_url, "users"), pytest.raises(LockTimeoutExceeded):
        migrator.start(loosen)
    with pytest.raises(StateError, match="not started") as refused:
        migrator.complete()
    assert refused.value.hint is not None
    assert "`liveshift start FILE`" in refused.value.hint
    assert "`liveshift rollback`" in refused.value.hint
    migrator.rollback()
    with client(pg_url) as conn:
        assert shape(conn) == before
        undone = conn.execute(
            "select description from liveshift.steps where phase = 'rollback' order by position"
        ).fetchall()
    assert undone == [("drop the version schema public_m1",)]


def test_complete_during_a_rollback_points_at_rollback(pg_url: str) -> None:
    _users(pg_url)
    migrator = Migrator(pg_url)
    migrator.start(migration("m1", ADD_AGE))
    with client(pg_url) as conn:
        conn.execute("update liveshift.migrations set phase = 'rolling_back'")
    with pytest.raises(StateError, match="being rolled back") as refused:
        migrator.complete()
    assert refused.value.hint == "Run `liveshift rollback` to finish the rollback."
    migrator.rollback()


def test_a_plan_stored_by_an_older_liveshift_still_loads() -> None:
    """Steps stored without the newer fields: rollback undoes everything (no `undoes`), and a
    complete step counts as one rollback cannot take back."""
    stored = {
        "description": "validate c",
        "sql": "alter table only t validate constraint c",
        "lock": "SHARE UPDATE EXCLUSIVE",
        "tables": ["t"],
        "rewrites": False,
        "scans": True,
        "transactional": True,
        "estimated_rows": None,
        "backfill": None,
        "concurrent_index": None,
        "catch_up": None,
        "operation": "add_constraint",
        "notes": [],
    }
    step = step_from_json(stored)
    assert (step.undoes, step.reversible, step.retypes) == ((), False, False)
    assert not rollback_open("complete", [step], {0})
    assert step_from_json(step_to_json(step)) == step


def test_a_complete_step_begun_outside_a_transaction_closes_rollback(pg_url: str) -> None:
    """DROP INDEX CONCURRENTLY cut short may have taken effect in part: once begun, complete is
    the only way on, and both the error and the refused rollback say so."""
    _users(pg_url)
    with client(pg_url) as conn:
        conn.execute("create index users_bio on users (bio)")
    drop = migration("m1", {"drop_index": {"name": "users_bio"}})
    migrator = Migrator(pg_url, settings=Settings(statement_timeout_ms=200))
    migrator.start(drop)
    # An open transaction that read the table: DROP INDEX CONCURRENTLY waits for it, and the
    # statement timeout cuts the wait short.
    with _holding(pg_url, "users"), pytest.raises(DatabaseError) as failed:
        migrator.complete()
    assert failed.value.sqlstate == "57014"  # query_canceled, from the server
    assert failed.value.hint is not None and "rollback" not in failed.value.hint
    with pytest.raises(StateError, match="part-way through complete") as refused:
        migrator.rollback()
    assert refused.value.hint == "Run `liveshift complete` to finish it."
    Migrator(pg_url).complete()
    with client(pg_url) as conn:
        assert conn.execute("select to_regclass('public.users_bio')").fetchone() == (None,)
