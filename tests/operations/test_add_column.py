"""add_column: the whole lifecycle per variant, on both PostgreSQL servers."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from liveshift.errors import StateError, ValidationError
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.progress import BackfillProgress, Reporter
from liveshift.settings import Settings
from tests.operations.catalog import Conn, columns, leftovers, table_shape

SETUP = """
create table users (
    id bigint generated always as identity primary key,
    name text not null,
    email text,
    created_at timestamptz not null default now(),
    updated_at timestamptz
);
create table teams (id int primary key, title text);
insert into teams values (1, 'one'), (2, 'two');
insert into users (name, email, updated_at)
select 'user' || g, 'u' || g || '@example.com', case when g % 3 = 0 then now() - interval '1 day' end
from generate_series(1, 2500) g;
analyze users;
"""


def data(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("select * from public.users order by id").fetchall()


def migration(column: dict[str, Any], up: str | None = None, name: str = "m1") -> Migration:
    spec: dict[str, Any] = {"table": "users", "column": column}
    if up is not None:
        spec["up"] = up
    return Migration.from_dict({"operations": [{"add_column": spec}]}, name=name)


def add_columns(*columns: tuple[dict[str, Any], str]) -> Migration:
    """One migration adding several columns to users, each with its `up`."""
    operations = [{"add_column": {"table": "users", "column": c, "up": up}} for c, up in columns]
    return Migration.from_dict({"operations": operations}, name="m1")


SEEN = (
    {"name": "seen", "type": "timestamptz", "nullable": False},
    "coalesce(updated_at, created_at)",
)

VARIANTS: dict[str, tuple[dict[str, Any], str | None]] = {
    "nullable": ({"name": "nickname", "type": "text"}, None),
    "constant_default": ({"name": "score", "type": "integer", "default": 7}, None),
    "not_null_up": (
        {"name": "last_login", "type": "timestamptz", "nullable": False, "default": "now()"},
        "coalesce(updated_at, created_at)",
    ),
    "unique": ({"name": "handle", "type": "text", "unique": True}, "'h-' || id"),
    "check": (
        {"name": "rank", "type": "integer", "check": {"constraint": "rank > 0"}},
        "id % 10 + 1",
    ),
    "references": (
        {"name": "team_id", "type": "integer", "references": {"table": "teams", "column": "id"}},
        "id % 2 + 1",
    ),
}


def expected_value(variant: str, row: dict[str, Any]) -> Any:
    if variant == "nullable":
        return None
    if variant == "constant_default":
        return 7
    if variant == "not_null_up":
        return row["updated_at"] or row["created_at"]
    if variant == "unique":
        return f"h-{row['id']}"
    if variant == "check":
        return row["id"] % 10 + 1
    return row["id"] % 2 + 1


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lifecycle(pg_url: str, conn: Conn, variant: str) -> None:
    column, up = VARIANTS[variant]
    conn.execute(SETUP)
    before_shape, before_data = table_shape(conn, "users"), data(conn)
    migrator = Migrator(pg_url)

    # start: old clients see the old shape, new clients the new one.
    migrator.start(migration(column, up))
    assert [c for c, _ in columns(conn, "users", "public_m1")][-1] == column["name"]
    assert column["name"] not in [r[0] for r in table_shape(conn, "users") if len(r) == 4]
    assert conn.execute("select count(*) from public.users").fetchone() == (2500,)
    rows = conn.execute(
        f"select id, created_at, updated_at, {column['name']} from public_m1.users order by id"
    ).fetchall()
    for id_, created_at, updated_at, value in rows:
        row = {"id": id_, "created_at": created_at, "updated_at": updated_at}
        assert value == expected_value(variant, row), (variant, id_)
    # an old client keeps inserting without knowing the column
    conn.execute("insert into public.users (name) values ('old-writer')")

    # rollback: exactly as before, shape and data (the old writer's row aside)
    migrator.rollback()
    conn.execute("delete from public.users where name = 'old-writer'")
    assert table_shape(conn, "users") == before_shape
    assert data(conn) == before_data
    assert conn.execute(
        "select count(*) from pg_namespace where nspname = 'public_m1'"
    ).fetchone() == (0,)
    assert leftovers(conn) == []

    # start again and complete: the final shape and data, no leftovers
    migrator.start(migration(column, up), complete=True)
    final = {
        r[0]: r
        for r in conn.execute(
            "select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute "
            "where attrelid = 'public.users'::regclass and attnum > 0 and not attisdropped"
        )
    }
    assert column["name"] in final
    assert final[column["name"]][2] == (not column.get("nullable", True))
    assert leftovers(conn) == []
    values = conn.execute(
        f"select id, created_at, updated_at, {column['name']} from public.users order by id"
    ).fetchall()
    for id_, created_at, updated_at, value in values:
        row = {"id": id_, "created_at": created_at, "updated_at": updated_at}
        assert value == expected_value(variant, row), (variant, id_)
    constraints = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "select contype::text, convalidated, conname from pg_constraint "
            "where conrelid = 'public.users'::regclass"
        )
    }
    if variant == "unique":
        assert "u" in constraints
    if variant == "check":
        assert constraints["c"][0] is True
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("insert into users (name, rank) values ('x', 0)")
    if variant == "references":
        assert constraints["f"][0] is True
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("insert into users (name, team_id) values ('x', 99)")
    # the version schema stays for new clients and still works after the rename
    assert (
        conn.execute(f"select count({column['name']}) from public_m1.users").fetchone() is not None
    )


def test_new_version_clients_write_through_the_view(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    column, up = VARIANTS["not_null_up"]
    Migrator(pg_url).start(migration(column, up))
    with psycopg.connect(pg_url, autocommit=True) as new:
        new.execute("set search_path = public_m1")
        explicit = "2001-02-03 04:05:06+00"
        new.execute("insert into users (name, last_login) values ('new-explicit', %s)", (explicit,))
        new.execute("insert into users (name) values ('new-default')")  # default now()
        new.execute("update users set name = name || '!' where id = 1")
        got = dict(new.execute("select name, last_login::text from users where name like 'new-%'"))
    assert got["new-explicit"].startswith("2001-02-03")
    assert got["new-default"] is not None
    # the old version does not see the column but its writes are filled
    conn.execute("insert into users (name, created_at) values ('old', '1999-01-01')")
    row = conn.execute(
        "select _ls_new_last_login::date::text from users where name = 'old'"
    ).fetchone()
    assert row == ("1999-01-01",)


def function_calls(conn: Conn) -> dict[str, int]:
    """Calls of liveshift's trigger functions so far, by function name (track_functions), with
    this session's own calls flushed first (PostgreSQL 15+)."""
    conn.execute("select pg_stat_force_next_flush()")
    conn.execute("select pg_stat_clear_snapshot()")
    return {
        name: calls
        for name, calls in conn.execute(
            "select funcname, calls from pg_stat_user_functions where funcname like '\\_ls\\_%'"
        )
    }


def test_sync_triggers_skip_backfilled_rows_and_recompute_old_writes(
    pg_url: str, conn: Conn
) -> None:
    """Two columns of one table backfilled in one migration: neither backfill enters either
    trigger function (the UPDATE trigger's condition skips them before PL/pgSQL), while an
    old-version update of an input recomputes both values and a new-version write of the column
    is kept as written."""
    conn.execute(SETUP)
    conn.execute("select set_config('track_functions', 'pl', false)")
    conn.execute(f"alter database {conn.info.dbname} set track_functions = 'pl'")
    both = add_columns(
        ({"name": "name_length", "type": "integer", "nullable": False}, "length(name)"), SEEN
    )
    migrator = Migrator(pg_url)
    migrator.start(both)
    # The migrator's sessions have ended: their function statistics are flushed.
    assert function_calls(conn) == {}
    conn.execute("update users set name = 'renamed!', updated_at = '2001-01-01' where id = 7")
    row = conn.execute(
        "select _ls_new_name_length, _ls_new_seen::date::text from users where id = 7"
    ).fetchone()
    assert row == (8, "2001-01-01")
    assert sorted(function_calls(conn).values()) == [1, 1]
    with psycopg.connect(pg_url, autocommit=True) as new:
        new.execute("set search_path = public_m1")
        new.execute("update users set name_length = 99, name = 'x' where id = 8")
    assert conn.execute("select _ls_new_name_length from users where id = 8").fetchone() == (99,)
    wrong = conn.execute(
        "select count(*) from users where id <> 8 and (_ls_new_name_length <> length(name) "
        "or _ls_new_seen <> coalesce(updated_at, created_at))"
    ).fetchone()
    assert wrong == (0,)


def test_old_writer_throughout_start_and_complete(pg_url: str, conn: Conn) -> None:
    """An old-version writer inserting and updating all through start and complete: no errors,
    and every row it wrote has the new column filled."""
    conn.execute(SETUP)
    column, up = VARIANTS["not_null_up"]
    stop = threading.Event()
    errors: list[BaseException] = []
    written: list[int] = []

    def old_writer() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as c:
                i = 0
                while not stop.is_set():
                    i += 1
                    row = c.execute(
                        "insert into users (name, updated_at) values (%s, now()) returning id",
                        (f"writer{i}",),
                    ).fetchone()
                    assert row is not None
                    written.append(row[0])
                    c.execute("update users set updated_at = now() where id = %s", (1 + i % 2500,))
                    time.sleep(0.002)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=old_writer)
    thread.start()
    try:
        time.sleep(0.2)
        migrator = Migrator(pg_url)
        migrator.start(migration(column, up))
        time.sleep(0.2)
        migrator.complete()
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert len(written) > 10
    missing = conn.execute(
        "select count(*) from users where last_login is null or id = any(%s) and last_login is null",
        (written,),
    ).fetchone()
    assert missing == (0,)
    attnotnull = conn.execute(
        "select attnotnull from pg_attribute where attrelid = 'users'::regclass "
        "and attname = 'last_login'"
    ).fetchone()
    assert attnotnull == (True,)


# -- bad input: refused before anything changes ------------------------------------------------


BAD_INPUTS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown table": ({"table": "userz", "column": {"name": "x", "type": "text"}}, "userz"),
    "existing column": ({"table": "users", "column": {"name": "email", "type": "text"}}, "already"),
    "unknown type": (
        {"table": "users", "column": {"name": "x", "type": "txet"}},
        "does not exist",
    ),
    "not null without value": (
        {"table": "users", "column": {"name": "x", "type": "text", "nullable": False}},
        "no default and no `up`",
    ),
    "up does not parse": (
        {"table": "users", "column": {"name": "x", "type": "text"}, "up": "(name || 'x'"},
        "does not parse",
    ),
    "up does not type-check": (
        {"table": "users", "column": {"name": "x", "type": "integer"}, "up": "created_at"},
        "refused by the database",
    ),
    "up names an unknown column": (
        {"table": "users", "column": {"name": "x", "type": "text"}, "up": "nmae"},
        "nmae",
    ),
    "unknown referenced table": (
        {
            "table": "users",
            "column": {"name": "x", "type": "int", "references": {"table": "tems", "column": "id"}},
        },
        "teams",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_and_changes_nothing(pg_url: str, conn: Conn, case: str) -> None:
    conn.execute(SETUP)
    before = table_shape(conn, "users")
    spec, expected = BAD_INPUTS[case]
    with pytest.raises(ValidationError) as raised:
        Migrator(pg_url).start(Migration.from_dict({"operations": [{"add_column": spec}]}, "bad"))
    assert expected in raised.value.paragraph()
    assert raised.value.exit_code == 2
    assert table_shape(conn, "users") == before
    recorded = conn.execute("select count(*) from liveshift.migrations").fetchone()
    assert recorded == (0,)


def test_one_active_migration_at_a_time(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    migrator = Migrator(pg_url)
    migrator.start(migration({"name": "a", "type": "text"}, name="m1"))
    with pytest.raises(StateError, match="m1"):
        migrator.start(migration({"name": "b", "type": "text"}, name="m2"))
    migrator.complete()
    migrator.start(migration({"name": "b", "type": "text"}, name="m2"), complete=True)
    # completing m2 dropped m1's version schema; m2's remains
    schemas = {r[0] for r in conn.execute("select nspname from pg_namespace")}
    assert "public_m2" in schemas and "public_m1" not in schemas
    history = migrator.history()
    assert [(h["name"], h["phase"]) for h in history] == [("m1", "complete"), ("m2", "complete")]


def test_backfill_keys_on_a_primary_key_renamed_earlier_in_the_migration(
    conn: Conn, pg_url: str
) -> None:
    """The backfill runs on the base table, so it must key on the key's physical name even when an
    earlier operation of the same migration gave that column a new logical name."""
    conn.execute(SETUP)
    m = Migration.from_dict(
        {
            "operations": [
                {"rename_column": {"table": "users", "from": "id", "to": "user_id"}},
                {
                    "add_column": {
                        "table": "users",
                        "column": {"name": "code", "type": "text", "nullable": False},
                        "up": "'u' || user_id",
                    }
                },
            ]
        },
        name="m_rename_key",
    )
    Migrator(pg_url).start(m)
    missing = conn.execute(
        "select count(*) from public.users where _ls_new_code is distinct from 'u' || id"
    ).fetchone()
    assert missing == (0,)
    Migrator(pg_url).complete()
    assert conn.execute(
        "select count(*) from public.users where code = 'u' || user_id"
    ).fetchone() == (2500,)


# -- the change log: no BEFORE UPDATE trigger while the backfill runs ------------------------------


def stale_last_login(conn: Conn) -> int:
    """Rows whose (not yet final) last_login differs from its `up`."""
    row = conn.execute(
        "select count(*) from users where _ls_new_last_login is distinct from "
        "coalesce(updated_at, created_at)"
    ).fetchone()
    return int(row[0]) if row else -1


class OldClientMidBackfill(Reporter):
    """After the backfill's first batches, an old client updates rows they already filled; it
    also notes which row triggers the table has at that moment and what the log holds."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.triggers: list[tuple[str, str]] = []
        self.logged = 0
        self.messages: list[str] = []

    def message(self, text: str) -> None:
        self.messages.append(text)

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if self.triggers or final or progress.rows_done < 200:
            return
        with psycopg.connect(self.url, autocommit=True) as old:
            old.execute("update users set updated_at = '2001-01-01' where id <= 50")
            self.triggers = old.execute(
                "select tgname, case when tgtype & 2 = 2 then 'before' else 'after' end "
                "from pg_trigger where tgrelid = 'users'::regclass and not tgisinternal "
                "and tgtype & 16 = 16 order by 1"  # row triggers on UPDATE
            ).fetchall()
            row = old.execute("select count(*) from public._ls_log_users_last_login").fetchone()
            self.logged = row[0] if row else 0


def test_old_updates_during_the_backfill_are_logged_then_recomputed(
    pg_url: str, conn: Conn
) -> None:
    """While the backfill runs the table has no BEFORE UPDATE trigger (its mere presence makes
    PostgreSQL lock every row the backfill writes, a WAL record each); an AFTER UPDATE trigger logs
    the keys old clients update instead. Rows the backfill had filled and an old client changed
    afterwards get the recomputed value; the log and its trigger are gone at the end."""
    conn.execute(SETUP)
    column, up = VARIANTS["not_null_up"]
    reporter = OldClientMidBackfill(pg_url)
    Migrator(pg_url, settings=Settings(batch_size=100), reporter=reporter).start(
        migration(column, up)
    )
    assert reporter.triggers == [("_ls_trgl_users_last_login", "after")]
    assert reporter.logged == 50
    assert reporter.messages[:2] == [
        "users._ls_new_last_login: 50 updates by old clients during the backfill to recompute",
        "users._ls_new_last_login: 50 rows recomputed",
    ]
    assert stale_last_login(conn) == 0
    assert conn.execute(
        "select count(*) from users where id <= 50 and _ls_new_last_login = '2001-01-01'"
    ).fetchone() == (50,)
    triggers = conn.execute(
        "select tgname from pg_trigger where tgrelid = 'users'::regclass and not tgisinternal "
        "order by 1"
    ).fetchall()
    assert triggers == [("_ls_trg_users_last_login",), ("_ls_trgi_users_last_login",)]
    assert conn.execute(
        "select count(*) from pg_class where relname = '_ls_log_users_last_login'"
    ).fetchone() == (0,)
    assert conn.execute(
        "select count(*) from pg_proc where proname = '_ls_logfn_users_last_login'"
    ).fetchone() == (0,)
    # The NOT NULL check went in with the UPDATE trigger, after the backfill.
    assert conn.execute(
        "select count(*) from pg_constraint where conrelid = 'users'::regclass "
        "and contype = 'c' and not convalidated"
    ).fetchone() == (1,)


def test_the_log_needs_no_privilege_of_the_application_role(pg_url: str, conn: Conn) -> None:
    """The log's trigger function is SECURITY DEFINER: an application role with rights on its
    table only can still update rows while the log is in place."""
    conn.execute(SETUP)
    role = f"app_{conn.info.dbname}"
    conn.execute(f"create role {role} login")
    try:
        conn.execute(f"grant usage on schema public to {role}")
        conn.execute(f"grant select, update on users to {role}")
        column, up = VARIANTS["not_null_up"]
        spec = migration(column, up)
        migrator = Migrator(pg_url)
        operation_steps = migrator.plan(spec).start
        # Only the first step: the column, the INSERT trigger and the log with its trigger.
        conn.execute(operation_steps[0].sql)
        params = psycopg.conninfo.conninfo_to_dict(pg_url)
        params["user"] = role
        with psycopg.connect(**params, autocommit=True) as app:  # type: ignore[arg-type]
            app.execute("update users set name = 'x' where id = 3")
        assert conn.execute("select id from public._ls_log_users_last_login").fetchall() == [(3,)]
    finally:
        conn.execute(f"drop owned by {role}")
        conn.execute(f"drop role {role}")


class Crash(Reporter):
    """Dies in the middle of the backfill, after an old client's update was logged."""

    def __init__(self, url: str) -> None:
        self.url = url

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if progress.rows_done >= 200:
            with psycopg.connect(self.url, autocommit=True) as old:
                old.execute("update users set name = 'x' where id = 1")
            raise RuntimeError("the runner dies here")


def test_rollback_in_the_middle_of_the_backfill_removes_the_log(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    before = table_shape(conn, "users")
    column, up = VARIANTS["not_null_up"]
    with pytest.raises(RuntimeError, match="dies here"):
        Migrator(pg_url, settings=Settings(batch_size=100), reporter=Crash(pg_url)).start(
            migration(column, up)
        )
    logged = conn.execute("select id from public._ls_log_users_last_login").fetchall()
    assert logged == [(1,)]
    Migrator(pg_url).rollback()
    assert leftovers(conn) == []
    assert table_shape(conn, "users") == before


class TriggersDuringBackfills(Reporter):
    """The row triggers on UPDATE of `users` while each column's backfill runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: dict[str, list[tuple[str, str]]] = {}

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if progress.column in self.seen or final:
            return
        with psycopg.connect(self.url, autocommit=True) as c:
            self.seen[progress.column] = c.execute(
                "select tgname, case when tgtype & 2 = 2 then 'before' else 'after' end "
                "from pg_trigger where tgrelid = 'users'::regclass and not tgisinternal "
                "and tgtype & 16 = 16 order by 1"
            ).fetchall()


def test_add_columns_on_one_table_backfill_before_any_update_trigger(
    pg_url: str, conn: Conn
) -> None:
    """Two add_columns on one table: the first one's UPDATE trigger, catch-up and unique index
    wait until the second's backfill is done, so neither backfill runs with a BEFORE UPDATE
    trigger on the table; both columns end right, and old clients' updates are caught up."""
    conn.execute(SETUP)
    migration = add_columns(
        ({"name": "handle", "type": "text", "unique": True}, "'h-' || id || '-' || name"), SEEN
    )
    kinds = [(s.kind, s.description.split(" ")[0]) for s in Migrator(pg_url).plan(migration).start]
    assert kinds[:4] == [("ddl", "add"), ("backfill", "backfill")] * 2
    reporter = TriggersDuringBackfills(pg_url)
    Migrator(pg_url, settings=Settings(batch_size=500), reporter=reporter).start(migration)
    assert reporter.seen == {
        "_ls_new_handle": [("_ls_trgl_users_handle", "after")],
        "_ls_new_seen": [("_ls_trgl_users_handle", "after"), ("_ls_trgl_users_seen", "after")],
    }
    conn.execute("update users set name = 'renamed', updated_at = '2001-01-01' where id = 9")
    wrong = conn.execute(
        "select count(*) from users where _ls_new_handle is distinct from 'h-' || id || '-' || name "
        "or _ls_new_seen is distinct from coalesce(updated_at, created_at)"
    ).fetchone()
    assert wrong == (0,)
    assert leftovers(conn) != []  # the migration is started, not completed
    Migrator(pg_url).complete()
    assert leftovers(conn) == []


class KillAtCatchUp(Reporter):
    """Terminates liveshift's session the moment the catch-up announces itself, once."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.killed = 0
        self.messages: list[str] = []

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if not final and progress.rows_done >= 200 and not self.messages:
            with psycopg.connect(self.url, autocommit=True) as old:
                old.execute("update users set updated_at = '2001-01-01' where id <= 30")

    def message(self, text: str) -> None:
        self.messages.append(text)
        if "to recompute" in text and not self.killed:
            with psycopg.connect(self.url, autocommit=True) as other:
                row = other.execute(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                    "where application_name = 'liveshift' and datname = current_database()"
                ).fetchone()
                self.killed = row[0] if row else 0


def test_a_connection_lost_in_the_catch_up_is_resumed(pg_url: str, conn: Conn) -> None:
    """pg_terminate_backend on liveshift's session as the catch-up begins: start reconnects,
    skips the journaled steps, and the catch-up finishes from the log it left."""
    conn.execute(SETUP)
    column, up = VARIANTS["not_null_up"]
    reporter = KillAtCatchUp(pg_url)
    Migrator(pg_url, settings=Settings(batch_size=100), reporter=reporter).start(
        migration(column, up)
    )
    assert reporter.killed >= 1
    assert any("reconnected" in m for m in reporter.messages), reporter.messages
    assert any(m.endswith("30 rows recomputed") for m in reporter.messages), reporter.messages
    assert stale_last_login(conn) == 0
    assert conn.execute(
        "select count(*) from pg_class where relname = '_ls_log_users_last_login'"
    ).fetchone() == (0,)


class RenameDuringFirstBackfill(Reporter):
    """Once the first column's backfill has filled a few batches, an old client renames the rows
    it has already filled."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.done = False

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if self.done or final or progress.column != "_ls_new_handle" or progress.rows_done < 200:
            return
        with psycopg.connect(self.url, autocommit=True) as old:
            old.execute("update users set name = 'renamed' where id <= 50")
        self.done = True


def test_a_backfill_reading_an_earlier_column_waits_for_its_catch_up(
    pg_url: str, conn: Conn
) -> None:
    """The second column's `up` reads the first column: its backfill must see the first one's
    values after their catch-up, not the stale values of rows an old client updated after the
    first backfill had filled them."""
    conn.execute(SETUP)
    migration = add_columns(
        ({"name": "handle", "type": "text"}, "'h-' || id || '-' || name"),
        ({"name": "tag", "type": "text"}, "upper(handle)"),
    )
    reporter = RenameDuringFirstBackfill(pg_url)
    Migrator(pg_url, settings=Settings(batch_size=100), reporter=reporter).start(migration)
    assert reporter.done
    wrong = conn.execute(
        "select count(*) from users where _ls_new_handle is distinct from 'h-' || id || '-' || name "
        "or _ls_new_tag is distinct from upper('h-' || id || '-' || name)"
    ).fetchone()
    assert wrong == (0,)


def test_plan_and_complete_warn_that_old_inserts_fail_on_not_null_without_default(
    pg_url: str, conn: Conn, tmp_path: Path
) -> None:
    from tests.test_cli import liveshift

    conn.execute(SETUP)
    file = tmp_path / "m1.yaml"
    file.write_text(
        "operations:\n"
        "  - add_column:\n"
        "      table: users\n"
        "      column: {name: last_seen, type: timestamptz, nullable: false}\n"
        "      up: coalesce(updated_at, created_at)\n"
    )
    warning = (
        "old-version writers that insert into users without last_seen will fail after "
        "complete (last_seen is NOT NULL with no default): give the column a default or "
        "retire them first"
    )
    plan = liveshift("plan", "--json", str(file), url=pg_url)
    assert plan.returncode == 0, plan.stderr
    (final,) = [s for s in json.loads(plan.stdout)["complete"] if "final" in s["description"]]
    assert f"warning: {warning}" in final["notes"]
    assert warning in " ".join(liveshift("plan", str(file), url=pg_url).stdout.split())
    assert liveshift("start", str(file), url=pg_url).returncode == 0
    conn.execute("insert into public.users (name) values ('old writer, during the migration')")
    done = liveshift("complete", url=pg_url)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    # Said before complete runs, and it is what the server then does.
    assert output.index(warning) < output.index("complete m1")
    with pytest.raises(psycopg.errors.NotNullViolation, match='"last_seen"'):
        conn.execute("insert into public.users (name) values ('old writer, after complete')")


def test_no_warning_when_the_not_null_column_has_a_default(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    column = {"name": "score", "type": "integer", "nullable": False, "default": 0}
    plan = Migrator(pg_url).plan(migration(column))
    assert not [w for s in plan.complete for w in s.warnings]


def test_a_volatile_default_is_drawn_once_per_row(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    column = {"name": "token", "type": "uuid", "default": "gen_random_uuid()"}
    migrator = Migrator(pg_url)
    migrator.start(migration(column))
    tokens = "select id, token from public_m1.users order by id"
    before = conn.execute(tokens).fetchall()
    assert None not in [t for _, t in before]
    # An old client's update leaves the row's value as it is, as after ALTER TABLE ... DEFAULT.
    conn.execute("update public.users set email = 'x' || email where id <= 100")
    assert conn.execute(tokens).fetchall() == before
    migrator.complete()
    assert conn.execute("select id, token from public.users order by id").fetchall() == before


def test_a_new_client_writing_null_reads_a_constraint_named_after_its_column(
    pg_url: str, conn: Conn
) -> None:
    conn.execute(SETUP)
    migrator = Migrator(pg_url)
    migrator.start(migration(*SEEN))
    with psycopg.connect(pg_url, autocommit=True) as new:
        new.execute("set search_path = public_m1")
        with pytest.raises(psycopg.errors.CheckViolation) as refused:
            new.execute("insert into users (name, seen) values ('new client', null)")
    # The server's own error, as the application gets it: in the table's and column's names.
    assert refused.value.diag.constraint_name == "users_seen_not_null_check"
    assert "_ls_" not in str(refused.value)
    migrator.complete()
    assert leftovers(conn) == []
    # Complete leaves what PostgreSQL makes of SET NOT NULL, and no check of that name.
    assert conn.execute(
        "select count(*) from pg_constraint where conname = 'users_seen_not_null_check'"
    ).fetchone() == (0,)


def test_a_constraint_already_named_like_the_not_null_check_is_refused(
    pg_url: str, conn: Conn
) -> None:
    conn.execute(SETUP)
    conn.execute("alter table users add constraint users_seen_not_null_check check (id > 0)")
    with pytest.raises(ValidationError, match="users_seen_not_null_check") as refused:
        Migrator(pg_url).plan(migration(*SEEN))
    assert refused.value.hint is not None and "rename_constraint" in refused.value.hint
