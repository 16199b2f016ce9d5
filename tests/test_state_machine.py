"""The lifecycle as a state machine: random migrations, failures injected at random steps (a lock
that never comes, a stopped runner, a killed connection, a row that breaks a check); after each
failure the hint names a command the tool then accepts, one of start/complete/rollback always gets
through, and rollback leaves schema and data exactly as before the migration."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from psycopg import sql

from liveshift.errors import LiveshiftError, StateError, ValidationError
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.progress import BackfillProgress, Reporter
from liveshift.settings import Settings
from tests.conftest import PgServer, fresh_database
from tests.operations.catalog import leftovers, shape, user_schemas

RUNNER = "liveshift-state-machine"
COMMANDS = ("start", "complete", "rollback")

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class Fault:
    """What goes wrong during one command: `kind` at the step numbered `at` (1-based)."""

    kind: str  # none, lock, stop, kill (as a step begins), kill_backfill (within a backfill)
    at: int = 1
    table: str = "users"


FAULTS = st.one_of(
    st.just(Fault("none")),
    st.builds(Fault, st.just("stop"), st.integers(1, 6)),
    st.builds(Fault, st.just("kill"), st.integers(1, 6)),
    st.just(Fault("kill_backfill")),
    st.builds(Fault, st.just("lock"), st.just(1), st.sampled_from(["users", "posts"])),
)


class _Injector(Reporter):
    """Stops the runner or kills its connections as step `fault.at` begins, or kills them as a
    backfill reports its first progress."""

    def __init__(self, url: str, fault: Fault) -> None:
        self.url, self.fault = url, fault
        self.stop = threading.Event()  # the runner's, once it exists
        self.fired = False

    def step_started(self, position: int, total: int, description: str) -> None:
        if self.fired or position != self.fault.at or self.fault.kind == "kill_backfill":
            return
        self.fired = True
        if self.fault.kind == "stop":
            self.stop.set()
        elif self.fault.kind == "kill":
            _kill_runner(self.url)

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if self.fault.kind == "kill_backfill" and not self.fired:
            self.fired = True
            _kill_runner(self.url)


def _kill_runner(url: str) -> None:
    """pg_terminate_backend of every runner session, and wait until they are gone."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where application_name = %s",
            (RUNNER,),
        )
        for _ in range(100):
            left = conn.execute(
                "select count(*) from pg_stat_activity where application_name = %s", (RUNNER,)
            ).fetchone()
            if left == (0,):
                return
            time.sleep(0.02)


@contextmanager
def _holding(url: str, table: str) -> Iterator[None]:
    """Another session holds ACCESS SHARE on `table` in an open transaction (for at most a few
    seconds: a concurrent index build waits for it rather than failing)."""
    ready, done = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(url) as conn:
            conn.execute(sql.SQL("select from {} limit 1").format(sql.Identifier(table)))
            ready.set()
            done.wait(3)
            conn.rollback()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield
    finally:
        done.set()
        thread.join()


def _hinted(hint: str | None, command: str) -> set[str]:
    """The lifecycle commands a hint names: `liveshift X ...`, or the same command again."""
    text = hint or ""
    named = set(re.findall(r"`liveshift (start|complete|rollback)\b", text))
    if re.search(r"same command|command again|the same `liveshift " + command, text):
        named.add(command)
    return named


class Lifecycle(RuleBasedStateMachine):
    """One fresh database with two tables; migrations come and go on it."""

    server: PgServer

    def __init__(self) -> None:
        super().__init__()
        self._database = fresh_database(self.server)
        self.url = next(self._database)
        with self._conn() as conn:
            conn.execute(
                "create table users (id bigint primary key, email varchar(100) not null, "
                "bio text, n int)"
            )
            conn.execute("create table posts (id bigint primary key, title text, likes int)")
            conn.execute(
                "insert into users select g, 'u' || g, 'bio', g from generate_series(1, 30) g"
            )
            conn.execute("insert into posts select g, 't' || g, g from generate_series(1, 10) g")
        self.counter = 0
        self.migration: Migration | None = None
        self.before: Any = None  # schema and data before the active migration
        self.hinted: set[str] = set()  # commands the last failure's hint named

    def teardown(self) -> None:
        try:
            if self._active() is not None:
                # With no fault left, one of the two ways out goes through.
                self.hinted = set()
                if not self._run("rollback", Fault("none")):
                    assert self._run("complete", Fault("none")), "neither way out went through"
        finally:
            self._database.close()

    # -- helpers -----------------------------------------------------------------------------

    def _conn(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True)

    def _snapshot(self) -> Any:
        with self._conn() as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "select relname from pg_class where relnamespace = 'public'::regnamespace "
                    "and relkind = 'r' order by 1"
                )
            ]
            data = {
                t: conn.execute(
                    sql.SQL("select * from {} order by 1").format(sql.Identifier(t))
                ).fetchall()
                for t in tables
            }
            return {s: shape(conn, s) for s in user_schemas(conn)}, data

    def _active(self) -> str | None:
        with self._conn() as conn:
            if conn.execute("select to_regclass('liveshift.migrations')").fetchone() == (None,):
                return None
            row = conn.execute(
                "select phase from liveshift.migrations where phase in "
                "('starting', 'started', 'completing', 'rolling_back')"
            ).fetchone()
            return str(row[0]) if row else None

    def _columns(self, table: str) -> dict[str, tuple[str, bool]]:
        with self._conn() as conn:
            rows = conn.execute(
                "select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute "
                "where attrelid = %s::regclass and attnum > 0 and not attisdropped "
                "and attname <> 'id' order by attnum",
                (f"public.{table}",),
            ).fetchall()
        return {str(r[0]): (str(r[1]), bool(r[2])) for r in rows}

    def _indexes(self) -> list[str]:
        """Indexes of public that no constraint owns."""
        with self._conn() as conn:
            return [
                str(r[0])
                for r in conn.execute(
                    "select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid "
                    "where c.relnamespace = 'public'::regnamespace and not exists "
                    "(select from pg_constraint k where k.conindid = i.indexrelid) order by 1"
                )
            ]

    def _run(self, command: str, fault: Fault) -> bool:
        """Run one lifecycle command with `fault`; True when it succeeded. A refusal must name a
        state the hint of the previous failure did not lead to."""
        injector = _Injector(self.url, fault)
        settings_ = Settings(
            lock_timeout_ms=20,
            lock_retry_deadline_s=0.3,
            lock_retry_max_backoff_s=0.05,
            reconnect_timeout_s=0,
            runner_lock_wait_s=5,
            application_name=RUNNER,
        )
        migrator = Migrator(self.url, settings=settings_, reporter=injector)
        injector.stop = migrator.stop
        hinted, self.hinted = self.hinted, set()
        note(f"{command} with {fault}")
        try:
            with _holding(self.url, fault.table) if fault.kind == "lock" else _nothing():
                if command == "start":
                    assert self.migration is not None
                    migrator.start(self.migration)
                elif command == "complete":
                    migrator.complete()
                else:
                    migrator.rollback()
        except StateError as refused:
            note(f"  refused: {refused.message} | {refused.hint}")
            event(f"{command} refused in phase {self._active()}")
            assert command not in hinted, (
                f"the hint named `liveshift {command}`, which was then refused: {refused}"
            )
            self.hinted = _hinted(refused.hint, command)
            assert self.hinted, f"the refusal names no command to go on with: {refused.hint!r}"
            return False
        except ValidationError:
            raise
        except LiveshiftError as failed:
            note(f"  failed: {failed.message} | {failed.hint}")
            event(f"{command} failed: {type(failed).__name__}")
            self.hinted = _hinted(failed.hint, command)
            assert self.hinted, f"the hint names no command to go on with: {failed.hint!r}"
            return False
        if command == "rollback":
            assert self._snapshot() == self.before, "rollback did not restore schema and data"
        if command in ("rollback", "complete"):
            with self._conn() as conn:
                assert leftovers(conn) == []
            self.migration = None
        return True

    def _operation(self, data: st.DataObject) -> dict[str, Any]:
        self.counter += 1
        k = self.counter
        table = data.draw(st.sampled_from(["users", "posts"]))
        columns = self._columns(table) or {"id": ("bigint", True)}  # all others dropped
        column = data.draw(st.sampled_from(sorted(columns)))
        kind, not_null = columns[column]
        choices: list[dict[str, Any]] = [
            {"add_column": {"table": table, "column": {"name": f"c{k}", "type": "int"}}},
            {
                "add_column": {
                    "table": table,
                    "column": {"name": f"d{k}", "type": "int", "nullable": False},
                    "up": "7",
                }
            },
            {"rename_column": {"table": table, "from": column, "to": f"r{k}"}},
            {"create_index": {"name": f"i{k}", "table": table, "columns": [column]}},
            {"create_table": {"table": f"t{k}", "columns": [{"name": "id", "type": "int"}]}},
            {
                "raw_sql": {
                    "up": f"create table s{k} (id int)",
                    "down": f"drop table s{k}",
                }
            },
            {"alter_column": {"table": table, "column": column, "nullable": not not_null}},
        ]
        if len(columns) > 1:
            choices.append({"drop_column": {"table": table, "column": column}})
        choices += [{"drop_index": {"name": index}} for index in self._indexes()]
        if kind.startswith("character varying"):
            choices.append({"alter_column": {"table": table, "column": column, "type": "text"}})
        if kind == "integer":
            choices += [
                {"alter_column": {"table": table, "column": column, "type": "bigint"}},
                {
                    "add_constraint": {
                        "table": table,
                        "name": f"k{k}",
                        "type": "check",
                        "check": f"{column} > 0",
                    }
                },
                {
                    "alter_column": {
                        "table": table,
                        "column": column,
                        "check": {"constraint": f"{column} < 1000000"},
                    }
                },
            ]
        chosen: dict[str, Any] = data.draw(st.sampled_from(choices))
        return chosen

    # -- rules -------------------------------------------------------------------------------

    @precondition(lambda self: self.migration is None)
    @rule(data=st.data(), operations=st.integers(1, 2), fault=FAULTS, violate=st.booleans())
    def begin(self, data: st.DataObject, operations: int, fault: Fault, violate: bool) -> None:
        """Start a new migration (perhaps after a row that will break its checks)."""
        ops = [self._operation(data) for _ in range(operations)]
        if violate:  # checks ask for `> 0`
            with self._conn() as conn:
                for table, column in (("users", "n"), ("posts", "likes")):
                    if column in self._columns(table):
                        # A check an earlier migration completed refuses it: no harm.
                        with contextlib.suppress(psycopg.errors.CheckViolation):
                            conn.execute(
                                sql.SQL("update {} set {} = 0 where id = 1").format(
                                    sql.Identifier(table), sql.Identifier(column)
                                )
                            )
        self.before = self._snapshot()
        self.migration = Migration.from_dict({"operations": ops}, name=f"m{self.counter}")
        try:
            self._run("start", fault)
        except ValidationError:
            # Refused before anything changed: no migration, nothing to undo.
            assert self._active() is None
            assert self._snapshot() == self.before
            self.migration = None

    @precondition(lambda self: self.migration is not None)
    @rule(data=st.data(), fault=FAULTS)
    def go_on(self, data: st.DataObject, fault: Fault) -> None:
        """A lifecycle command on the active migration, often one the last hint named (which
        must be accepted), else any (a refusal's hint must name commands that are)."""
        commands = sorted(self.hinted) if self.hinted and data.draw(st.booleans()) else COMMANDS
        self._run(data.draw(st.sampled_from(commands)), fault)

    @invariant()
    def a_migration_is_active_only_while_the_test_has_one(self) -> None:
        if self.migration is None:
            assert self._active() is None


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@pytest.mark.parametrize("server_name", ["pg15", "pg16_embedded"])
def test_every_state_has_a_way_forward_and_back(
    request: pytest.FixtureRequest, server_name: str
) -> None:
    server: PgServer = request.getfixturevalue(server_name)
    machine = type("LifecycleOn" + server.name.replace("-", "_"), (Lifecycle,), {"server": server})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=8,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
