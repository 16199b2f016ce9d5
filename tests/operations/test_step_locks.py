"""The plan's lock for each step is the lock the step takes: `liveshift plan` shows it, and a step
that waits names the sessions holding locks that conflict with it. Each transactional step of
start, complete and rollback is run by the real runner; a trigger on the step journal (whose row
commits in the step's own transaction) copies the relation locks the transaction holds at that
moment, which are all it took."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.plan import LockMode, Step
from tests.operations.catalog import Conn

SETUP = """
create table teams (id int primary key, title text);
insert into teams values (1, 'one'), (2, 'two');
create table users (
    id bigint primary key,
    name text not null,
    email text,
    qty integer not null default 0,
    team_id int references teams (id),
    note text
);
create index users_email on users (email);
insert into users select g, 'u' || g, 'e' || g, g % 2 + 1, g % 2 + 1, null
from generate_series(1, 300) g;
create table events (at timestamptz not null default now(), what text);
insert into events (what) select 'e' || g from generate_series(1, 300) g;
create table legacy (id int primary key);
"""

# Locks as pg_locks names them, weakest first.
ORDER = [m.pg_name for m in LockMode]

OPERATIONS: dict[str, list[dict[str, Any]]] = {
    "add_column, not null": [
        {
            "add_column": {
                "table": "users",
                "column": {"name": "seen", "type": "text", "nullable": False},
                "up": "'s-' || id",
            }
        }
    ],
    "add_column, nullable with up": [
        {"add_column": {"table": "users", "column": {"name": "tag", "type": "text"}, "up": "name"}}
    ],
    "add_column, unique, check, references": [
        {
            "add_column": {
                "table": "users",
                "column": {
                    "name": "rank",
                    "type": "integer",
                    "unique": True,
                    "check": {"constraint": "rank > 0"},
                },
                "up": "id",
            }
        },
        {
            "add_column": {
                "table": "users",
                "column": {
                    "name": "team2",
                    "type": "integer",
                    "references": {"table": "teams", "column": "id"},
                },
                "up": "team_id",
            }
        },
    ],
    "add_column, no key": [
        {"add_column": {"table": "events", "column": {"name": "w", "type": "text"}, "up": "what"}}
    ],
    "alter_column, type": [
        {"alter_column": {"table": "users", "column": "qty", "type": "bigint"}},
    ],
    "alter_column, not null and check": [
        {
            "alter_column": {
                "table": "users",
                "column": "note",
                "nullable": False,
                "up": "'none'",
                "check": {"constraint": "length(note) < 100"},
            }
        },
    ],
    "alter_column, unique, references, rename": [
        {"alter_column": {"table": "users", "column": "email", "unique": True, "name": "mail"}},
        {
            "alter_column": {
                "table": "users",
                "column": "qty",
                "references": {"table": "teams", "column": "id"},
            }
        },
    ],
    "alter_column, up without a type change": [
        {
            "alter_column": {
                "table": "users",
                "column": "email",
                "up": "upper(email)",
                "unique": True,
            }
        },
    ],
    "keys, exclusion, renames, replica identity": [
        {
            "add_constraint": {
                "table": "events",
                "name": "events_pk",
                "type": "primary_key",
                "columns": ["what"],
                "include": ["at"],
            }
        },
        {
            "add_constraint": {
                "table": "users",
                "name": "x_id",
                "type": "exclude",
                "using": "hash",
                "elements": [{"column": "id", "operator": "="}],
                "build_under_lock": True,
            }
        },
        {"rename_constraint": {"table": "teams", "from": "teams_pkey", "to": "teams_pk"}},
        {"set_replica_identity": {"table": "users", "identity": "full"}},
    ],
    "drop_column": [{"drop_column": {"table": "users", "column": "note"}}],
    "indexes and constraints": [
        {"create_index": {"name": "users_name", "table": "users", "columns": ["name"]}},
        {"drop_index": {"name": "users_email"}},
        {
            "add_constraint": {
                "table": "users",
                "name": "c_qty",
                "type": "check",
                "check": "qty >= 0",
            }
        },
        {
            "add_constraint": {
                "table": "users",
                "name": "u_name",
                "type": "unique",
                "columns": ["name"],
            }
        },
        {
            "add_constraint": {
                "table": "users",
                "name": "f_team",
                "type": "foreign_key",
                "columns": ["team_id"],
                "references": {"table": "teams", "column": "id"},
            }
        },
    ],
    "tables": [
        {"rename_column": {"table": "users", "from": "name", "to": "full_name"}},
        {"rename_table": {"from": "events", "to": "happenings"}},
        {"drop_table": {"table": "legacy"}},
        {
            "create_table": {
                "table": "members",
                "columns": [
                    {"name": "id", "type": "bigint", "primary_key": True},
                    {
                        "name": "team_id",
                        "type": "int",
                        "references": {"table": "teams", "column": "id"},
                    },
                ],
            }
        },
    ],
}

RECORD = """
create schema watch;
create table watch.locks_seen (phase text, position int, relation oid, mode text);
create table watch.dropped (relation oid, name text);
create function watch.record_locks() returns trigger
language plpgsql set search_path = '' as $$
begin
  insert into watch.locks_seen
  select new.phase, new.position, l.relation, l.mode
  from pg_catalog.pg_locks l
  where l.pid = pg_catalog.pg_backend_pid() and l.locktype = 'relation' and l.granted;
  return null;
end
$$;
create function watch.record_drops() returns event_trigger
language plpgsql set search_path = '' as $$
begin
  insert into watch.dropped
  select objid, object_identity from pg_catalog.pg_event_trigger_dropped_objects()
  where object_type = 'table';
end
$$;
create event trigger record_drops on sql_drop execute function watch.record_drops();
create trigger record_locks after insert or update on liveshift.steps
  for each row execute function watch.record_locks();
"""


def oids(conn: Conn, steps: list[Step]) -> dict[str, int]:
    """The tables the steps name, as they resolve now (tables renamed or created by a phase
    resolve before it, or after it, only)."""
    names = sorted({t for step in steps for t in step.tables})
    found = conn.execute(
        "select name, to_regclass(name)::oid from unnest(%s::text[]) name", (names,)
    ).fetchall()
    return {name: oid for name, oid in found if oid is not None}


def held(conn: Conn, phase: str, position: int, tables: set[int | str]) -> str | None:
    """The strongest lock the step's transaction held on any of `tables` (oids, or the names of
    tables the step dropped)."""
    modes = [
        mode
        for relation, dropped, mode in conn.execute(
            "select s.relation, d.name, s.mode from watch.locks_seen s "
            "left join watch.dropped d using (relation) where s.phase = %s and s.position = %s",
            (phase, position),
        ).fetchall()
        if relation in tables or dropped in tables
    ]
    return max(modes, key=ORDER.index) if modes else None


def journaled_in_transaction(step: Step) -> bool:
    return (
        step.transactional
        and step.backfill is None
        and step.catch_up is None
        and step.concurrent_index is None
        and step.lock is not None
    )


def run_phase(conn: Conn, phase: str, steps: list[Step], run: Callable[[], object]) -> list[str]:
    """Run a phase; what its steps took that their plan does not show."""
    before = oids(conn, steps)
    run()
    after = oids(conn, steps)
    wrong = []
    for position, step in enumerate(steps):
        if not journaled_in_transaction(step):
            continue
        assert step.lock is not None
        tables: set[int | str] = set(step.tables)
        tables |= {known[t] for known in (before, after) for t in step.tables if t in known}
        taken = held(conn, phase, position, tables)
        if taken != step.lock.pg_name:
            wrong.append(
                f"{phase} {position}: {step.description}: plan {step.lock.value}, took {taken}"
            )
    return wrong


@pytest.mark.parametrize("case", list(OPERATIONS))
def test_each_step_takes_the_lock_its_plan_shows(pg_url: str, conn: Conn, case: str) -> None:
    conn.execute(SETUP)
    migration = Migration.from_dict({"operations": OPERATIONS[case]}, name="m1")
    migrator = Migrator(pg_url)
    migrator.init()  # makes the state schema, whose journal the trigger watches
    conn.execute(RECORD)
    plan = migrator.plan(migration)
    wrong = run_phase(conn, "start", plan.start, lambda: migrator.start(migration))
    wrong += run_phase(conn, "rollback", plan.rollback, migrator.rollback)
    conn.execute("delete from watch.locks_seen")
    again = Migration.from_dict({"operations": OPERATIONS[case]}, name="m2")
    plan = migrator.plan(again)
    migrator.start(again)
    wrong += run_phase(conn, "complete", plan.complete, migrator.complete)
    conn.execute("drop event trigger record_drops")
    assert wrong == []
