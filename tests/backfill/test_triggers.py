"""The table's own triggers and the backfill (`backfill_triggers`), on both PostgreSQL servers:
refused until the migration says, fired with `fire`, kept from firing for liveshift's rows (the
backfill and its catch-up) with `skip`, while the application's writes still fire them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import conninfo, sql

from liveshift.errors import ValidationError
from liveshift.migration import Migration
from liveshift.progress import BackfillProgress, Reporter
from tests.backfill.helpers import migrator
from tests.operations.catalog import leftovers, table_shape

ROWS = 3000
STAMP = "2000-01-01 00:00:00+00"
SETUP = f"""
create table users (
    id int primary key, name text not null, v int not null default 1,
    updated_at timestamptz not null default '{STAMP}'
);
insert into users (id, name) select i, 'user' || i from generate_series(1, {ROWS}) i;
create table audit (id int, op text);
create function touch() returns trigger language plpgsql as
  $$ begin new.updated_at = now(); return new; end $$;
create function audit_row() returns trigger language plpgsql as
  $$ begin insert into audit values (new.id, tg_op); return null; end $$;
create function audit_statement() returns trigger language plpgsql as
  $$ begin insert into audit values (null, 'statement'); return null; end $$;
-- These fire for a backfill's UPDATE:
create trigger touch before update on users for each row execute function touch();
create trigger audited after update on users for each row
  when (old.* is distinct from new.*) execute function audit_row();
-- These do not: INSERT only, UPDATE OF another column, disabled.
create trigger inserted after insert on users for each row execute function audit_row();
create trigger renamed after update of name on users for each row execute function audit_row();
create trigger off after update on users for each statement execute function audit_statement();
alter table users disable trigger off;
analyze users;
"""
FIRING = ("touch", "audited")
NOT_FIRING = ("inserted", "renamed", "off", "replica_only")
# A trigger that fires only under session_replication_role = replica.
REPLICA_ONLY = """
create trigger replica_only after update on users for each row execute function audit_row();
alter table users enable replica trigger replica_only;
"""


def add_handle(triggers: str | None) -> Migration:
    spec: dict[str, Any] = {
        "table": "users",
        "column": {"name": "handle", "type": "text", "nullable": False},
        "up": "upper(name)",
    }
    if triggers is not None:
        spec["backfill_triggers"] = triggers
    return Migration.from_dict({"operations": [{"add_column": spec}]}, name="m1")


def widen_v(triggers: str) -> Migration:
    spec = {"table": "users", "column": "v", "type": "bigint", "backfill_triggers": triggers}
    return Migration.from_dict({"operations": [{"alter_column": spec}]}, name="m1")


def stamped_and_audited(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """(rows whose updated_at a trigger changed, audit rows)."""
    row = conn.execute(
        f"select (select count(*) from users where updated_at <> '{STAMP}'), "
        "(select count(*) from audit)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.fixture
def db(pg_url: str) -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(SETUP)
        yield pg_url, conn


def test_a_backfill_the_tables_triggers_would_fire_for_is_refused_until_the_migration_says(
    db: tuple[str, psycopg.Connection[Any]],
) -> None:
    url, conn = db
    conn.execute(REPLICA_ONLY)
    before = table_shape(conn, "users")
    with pytest.raises(ValidationError) as caught:
        migrator(url).start(add_handle(None))
    error = caught.value
    assert all(name in error.message for name in FIRING), error.message
    assert not any(f"{name} (" in error.message for name in NOT_FIRING), error.message
    assert "WHEN condition" in error.message  # audited's, which liveshift cannot judge
    assert error.hint is not None and "backfill_triggers: skip" in error.hint
    # Refused while planning: nothing was changed.
    assert table_shape(conn, "users") == before
    assert leftovers(conn) == []
    assert stamped_and_audited(conn) == (0, 0)


def test_fire_runs_them_for_every_backfilled_row(db: tuple[str, psycopg.Connection[Any]]) -> None:
    url, conn = db
    runner = migrator(url, max_replication_lag_s=0)
    plan = runner.plan(add_handle("fire"))
    # The plan says so, on the backfill and on the catch-up, which writes rows too.
    for kind in ("backfill", "catch-up"):
        (step,) = [step for step in plan.start if step.kind == kind]
        assert any("triggers audited, touch" in note for note in step.notes), (kind, step.notes)
    runner.start(add_handle("fire"))
    assert stamped_and_audited(conn) == (ROWS, ROWS)


class RenamesDuringBackfill(Reporter):
    """An old client renames 40 rows the first batch has already filled, once the backfill is
    under way: the catch-up must recompute them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.renamed = False

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if not self.renamed and not final and progress.rows_done > 0:
            self.renamed = True
            with psycopg.connect(self.url, autocommit=True) as app:
                app.execute("update users set name = 'renamed' || id where id <= 40")


def test_skip_keeps_them_from_firing_for_liveshifts_rows_but_not_for_the_applications(
    db: tuple[str, psycopg.Connection[Any]],
) -> None:
    url, conn = db
    reporter = RenamesDuringBackfill(url)
    runner = migrator(url, reporter, batch_size=500, max_replication_lag_s=0)
    runner.start(add_handle("skip"))
    assert reporter.renamed
    # The application's 40 updates fired the triggers (and `renamed`, an UPDATE OF name); the
    # backfill's 3000 rows and the catch-up's 40 did not.
    assert stamped_and_audited(conn) == (40, 80)
    runner.complete()
    wrong = conn.execute("select count(*) from users where handle is distinct from upper(name)")
    assert wrong.fetchone() == (0,)
    assert conn.execute("select count(*) from users where name like 'renamed%'").fetchone() == (40,)


def test_skip_for_alter_columns_backfill(db: tuple[str, psycopg.Connection[Any]]) -> None:
    url, conn = db
    runner = migrator(url, max_replication_lag_s=0)
    runner.start(widen_v("skip"))
    assert stamped_and_audited(conn) == (0, 0)
    runner.complete()
    assert conn.execute(
        "select format_type(atttypid, null) from pg_attribute "
        "where attrelid = 'users'::regclass and attname = 'v'"
    ).fetchone() == ("bigint",)


@pytest.mark.parametrize(
    ("setup", "named"),
    [
        ("alter table users enable always trigger audited", "audited"),
        (REPLICA_ONLY, "replica_only"),
    ],
    ids=["always", "replica"],
)
def test_skip_is_refused_for_triggers_that_fire_under_the_replica_role(
    db: tuple[str, psycopg.Connection[Any]], setup: str, named: str
) -> None:
    url, conn = db
    conn.execute(setup)
    with pytest.raises(ValidationError) as caught:
        migrator(url).plan(add_handle("skip"))
    assert f"{named} (" in caught.value.message, caught.value.message
    migrator(url).plan(add_handle("fire"))  # firing the others is possible


@pytest.fixture
def owner_role(db: tuple[str, psycopg.Connection[Any]]) -> Iterator[tuple[str, str]]:
    """A role that is not a superuser and owns the test tables; yields (its URL, its name)."""
    url, conn = db
    role = f"ls_test_{uuid.uuid4().hex[:10]}"
    dbname = conninfo.conninfo_to_dict(url)["dbname"]
    conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
    try:
        conn.execute(
            sql.SQL("grant all on database {} to {}").format(
                sql.Identifier(str(dbname)), sql.Identifier(role)
            )
        )
        conn.execute(sql.SQL("grant all on schema public to {}").format(sql.Identifier(role)))
        for table in ("users", "audit"):
            conn.execute(
                sql.SQL("alter table {} owner to {}").format(
                    sql.Identifier(table), sql.Identifier(role)
                )
            )
        params = conninfo.conninfo_to_dict(url)
        params["user"] = role
        yield conninfo.make_conninfo("", **params), role
    finally:
        conn.execute(sql.SQL("drop owned by {} cascade").format(sql.Identifier(role)))
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_skip_needs_the_right_to_set_session_replication_role(
    db: tuple[str, psycopg.Connection[Any]], owner_role: tuple[str, str]
) -> None:
    _, conn = db
    url, role = owner_role
    with pytest.raises(ValidationError) as caught:
        migrator(url).plan(add_handle("skip"))
    assert "session_replication_role" in caught.value.message
    assert caught.value.hint is not None and "GRANT SET ON PARAMETER" in caught.value.hint
    # Granted the parameter (PostgreSQL 15+), the role may skip them.
    conn.execute(
        sql.SQL("grant set on parameter session_replication_role to {}").format(
            sql.Identifier(role)
        )
    )
    migrator(url, max_replication_lag_s=0).start(add_handle("skip"))
    assert stamped_and_audited(conn) == (0, 0)
