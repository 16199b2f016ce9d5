"""The planner's ordering of start, complete and rollback, against a fake engine (no database):
plans are read as actions (tests/fake_engine.py), so each test runs in milliseconds. What the
steps do on a real server is in tests/operations/."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveshift.engines.base import Capabilities
from liveshift.errors import ValidationError
from liveshift.migration import Migration
from liveshift.plan import Step
from liveshift.planner import HOLDS_FOR_BACKFILLS, MigrationPlan, check_capabilities, plan_migration
from liveshift.schema import Column, Constraint, Index, Schema, Table
from tests.fake_engine import FakeProbe, actions_of, render

VERSION = "version schema"  # the operation name of the planner's own steps


def schema() -> Schema:
    """users (bigint key, name varchar(10), email) and teams (int key, title), on PostgreSQL 16."""

    def table(name: str, key_type: str, /, **columns: str) -> Table:
        return Table(
            "public",
            name,
            columns={
                "id": Column("id", key_type, nullable=False),
                **{c: Column(c, t) for c, t in columns.items()},
            },
            indexes={f"{name}_pkey": Index(f"{name}_pkey", ["id"], unique=True, primary=True)},
            constraints={f"{name}_pkey": Constraint(f"{name}_pkey", "p", ["id"])},
        )

    users = table("users", "bigint", name="character varying(10)", email="text")
    teams = table("teams", "integer", title="text")
    return Schema("public", {"users": users, "teams": teams}, server_version=160000)


def migration(*operations: dict[str, Any], name: str = "m1") -> Migration:
    return Migration.from_dict({"operations": list(operations)}, name=name)


def add_column(table: str, column: str, up: str | None = None, **options: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"table": table, "column": {"name": column, "type": "text", **options}}
    if up is not None:
        spec["up"] = up
    return {"add_column": spec}


def plan(
    m: Migration, previous: str | None = None, probe: FakeProbe | None = None
) -> MigrationPlan:
    model = schema()
    probe = probe or FakeProbe(model)
    return plan_migration(m, model, probe.as_probe(), previous, render=render)


def described(steps: list[Step]) -> list[str]:
    return [s.description for s in steps]


def position(steps: list[Step], text: str) -> int:
    """The position of the one step whose description contains `text`."""
    (found,) = [i for i, s in enumerate(steps) if text in s.description]
    return found


# A migration with a backfilled NOT NULL column, a unique one, a check and a new index.
MIXED = migration(
    add_column("users", "a", up="id", nullable=False),
    add_column("teams", "b", up="title", unique=True),
    {"add_constraint": {"table": "users", "name": "email_set", "type": "check", "check": "id > 0"}},
    {"create_index": {"name": "users_email", "table": "users", "columns": ["email"]}},
)


def test_rollback_undoes_each_operation_in_reverse_order_of_start() -> None:
    """Rollback undoes the operations last first; each rollback step's `undoes` is exactly the
    start steps of its own operation."""
    p = plan(MIXED)
    groups: list[tuple[int, ...]] = []
    for step in p.rollback[1:]:
        assert step.undoes, step.description
        assert {p.start[i].operation for i in step.undoes} == {step.operation}
        if not groups or groups[-1] != step.undoes:
            groups.append(step.undoes)
    # One group per operation, each earlier in start than the one rolled back before it.
    assert len(groups) == len(MIXED.operations)
    assert [min(g) for g in groups] == sorted((min(g) for g in groups), reverse=True)
    assert [p.start[g[0]].operation for g in groups] == [n for n, _ in reversed(MIXED.operations)]
    # Disjoint, and together every start step but the version schema's.
    undone = [i for g in groups for i in g]
    assert len(undone) == len(set(undone))
    assert sorted(undone) == [i for i, s in enumerate(p.start) if s.operation != VERSION]


def test_version_schema_is_published_last_and_dropped_first() -> None:
    p = plan(MIXED)
    last = p.start[-1]
    assert last.operation == VERSION
    assert actions_of(last.sql)[0] == "CreateSchema"
    # Its views show every table under the names the new version gives its columns.
    assert actions_of(last.sql).count("CreateVersionView") == 2
    assert "('_ls_new_a', 'a')" in last.sql
    first = p.rollback[0]
    assert (first.operation, actions_of(first.sql)) == (VERSION, ["DropSchema"])
    assert "public_m1" in first.sql
    assert first.undoes == ()


def test_validates_move_to_the_front_of_complete() -> None:
    """Steps after which rollback is still exact (VALIDATE) run before any that is not, across
    operations: the check of operation 3 is validated before column a (operation 1) is final."""
    p = plan(MIXED)
    lead = next(i for i, s in enumerate(p.complete) if not s.reversible)
    assert lead > 0
    assert all(not s.reversible for s in p.complete[lead:])
    assert [actions_of(s.sql) for s in p.complete[:lead]] == [["ValidateConstraint"]] * lead
    assert [s.operation for s in p.complete[:lead]] == ["add_column", "add_constraint"]
    assert position(p.complete, "validate constraint email_set") < position(
        p.complete, "make a final"
    )


def test_rename_table_completes_last() -> None:
    """Every other complete step names the table by its physical name of before the migration."""
    p = plan(
        migration(
            {"rename_table": {"from": "users", "to": "people"}},
            add_column("people", "nick", up="name"),
        )
    )
    assert p.complete[-1].operation == "rename_table"
    assert actions_of(p.complete[-1].sql) == ["RenameTable"]
    assert position(p.complete, "make nick final") < len(p.complete) - 1
    # Start and rollback have nothing of it: the version schema's view carries the new name.
    assert "rename_table" not in {s.operation for s in p.start + p.rollback}
    assert "CreateVersionView(schema='public_m1', name='people', table='public.users'" in (
        p.start[-1].sql
    )


def test_after_backfill_steps_wait_for_the_next_backfills_on_the_same_table() -> None:
    """a's UPDATE trigger and catch-up wait until b's backfill is done (docs/backfill.md)."""
    assert "add_column" in HOLDS_FOR_BACKFILLS
    p = plan(migration(add_column("users", "a", up="id"), add_column("users", "b", up="email")))
    steps = described(p.start)
    assert steps == [
        "add column a to users (as _ls_new_a until complete), with the triggers that fill it for "
        "old-version writes (updates logged until the backfill is done)",
        "backfill a for existing rows of users",
        "add column b to users (as _ls_new_b until complete), with the triggers that fill it for "
        "old-version writes (updates logged until the backfill is done)",
        "backfill b for existing rows of users",
        "install the UPDATE trigger for a in place of the change log",
        "recompute a for the rows old clients updated during the backfill",
        "drop the change log of a",
        "install the UPDATE trigger for b in place of the change log",
        "recompute b for the rows old clients updated during the backfill",
        "drop the change log of b",
        "publish the new version's schema public_m1",
    ]


def test_after_backfill_steps_do_not_wait_across_tables() -> None:
    p = plan(migration(add_column("users", "a", up="id"), add_column("teams", "b", up="title")))
    assert position(p.start, "drop the change log of a") < position(p.start, "add column b")


def test_a_backfill_reading_a_held_column_waits_for_its_catch_up() -> None:
    """b's backfill reads a: it must not copy values old clients made stale before a's catch-up
    recomputes them, so a's held steps run before b's start."""
    p = plan(migration(add_column("users", "a", up="id"), add_column("users", "b", up="a")))
    assert p.start[position(p.start, "backfill b")].backfill is not None
    assert position(p.start, "recompute a") < position(p.start, "add column b")


def test_previous_version_schema_is_dropped_in_complete_after_the_validates() -> None:
    p = plan(MIXED, previous="public_m0")
    assert p.previous_version_schema == "public_m0"
    lead = next(i for i, s in enumerate(p.complete) if not s.reversible)
    drop = p.complete[lead]
    assert (drop.operation, drop.sql) == (VERSION, "DropSchema(name='public_m0')")
    # Not when there is none, nor when it is this migration's own (a start run again).
    for previous in (None, "public_m1"):
        again = plan(MIXED, previous=previous)
        assert again.previous_version_schema is None
        assert all(s.operation != VERSION for s in again.complete)


def test_a_retype_in_place_remakes_the_previous_versions_views_around_it() -> None:
    """PostgreSQL refuses to retype a column a view uses: the previous version's view of users is
    dropped and made again (with its grants) in the step's transaction, in start and rollback."""
    widen = migration({"alter_column": {"table": "users", "column": "name", "type": "varchar(20)"}})
    probe = FakeProbe(schema(), views={"public_m0": {"users"}})
    p = plan(widen, previous="public_m0", probe=probe)
    (retype,) = [s for s in p.start if s.retypes]
    (restore,) = [s for s in p.rollback if s.retypes]
    for step in (retype, restore):
        names = actions_of(step.sql)
        assert names[:2] == ["SaveViewGrants", "DropView"]
        assert names[-3:] == ["CreateSchema", "CreateVersionView", "RestoreViewGrants"]
        assert "schema='public_m0', name='users'" in step.sql
    assert "views_in_schema" in probe.asked
    # With no view of users in the previous version, the step is left as it is.
    bare = plan(widen, previous="public_m0")
    (retype,) = [s for s in bare.start if s.retypes]
    assert actions_of(retype.sql) == ["AlterTable"]


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        (
            [add_column("users", "a"), add_column("nobody", "b")],
            "operation 2 (add_column): there is no table 'nobody' in schema 'public'",
        ),
        (
            [add_column("users", "a", type="nope")],
            "operation 1 (add_column): type 'nope' does not exist in the target database",
        ),
        (
            [add_column("users", "a"), add_column("users", "a")],
            "operation 2 (add_column): column 'a' already exists in table public.users",
        ),
        (
            [{"rename_table": {"from": "users", "to": "teams"}}],
            "operation 1 (rename_table): rename_table to 'teams': the name is already used",
        ),
    ],
)
def test_a_refusal_names_its_operation(operations: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        plan(migration(*operations))
    assert refused.value.message.startswith(message)


def test_a_refusal_by_the_server_names_its_operation() -> None:
    probe = FakeProbe(schema(), refuse={"id / 0": "division by zero"})
    with pytest.raises(ValidationError) as refused:
        plan(
            migration(add_column("users", "a"), add_column("users", "b", up="id / 0")), probe=probe
        )
    assert refused.value.message == (
        "operation 2 (add_column): the `up` expression `id / 0` is refused by the database: "
        "division by zero"
    )


def test_a_nullable_column_with_no_up_asks_no_row_question() -> None:
    probe = FakeProbe(schema(), rows=["users"])
    plan(migration(add_column("users", "a")), probe=probe)
    assert "has_rows" not in probe.asked
    with pytest.raises(ValidationError, match="has rows: they would have no value"):
        plan(migration(add_column("users", "a", nullable=False)), probe=probe)


FULL = Capabilities(
    name="fake",
    transactional_ddl=True,
    concurrent_index=True,
    not_valid_constraints=True,
    updatable_views=True,
    exclusion_constraints=True,
    partial_indexes=True,
    covering_indexes=True,
    index_methods=frozenset({"btree", "hash", "gist", "gin", "spgist", "brin"}),
    identity_columns=True,
    replica_identity=True,
)


def test_check_capabilities_accepts_what_the_engine_can_do() -> None:
    check_capabilities(MIXED, FULL)


def test_check_capabilities_refuses_naming_the_flag_and_the_operation() -> None:
    lacking = replace(FULL, name="fake-lacking", not_valid_constraints=False)
    with pytest.raises(ValidationError) as refused:
        check_capabilities(MIXED, lacking)
    error = refused.value
    assert "the fake-lacking engine lacks capabilities" in error.message
    assert [d.split(":")[0] for d in error.details] == [
        "operation 1 (add_column) needs not_valid_constraints",
        "operation 3 (add_constraint) needs not_valid_constraints",
    ]
    no_views = replace(FULL, updatable_views=False)
    with pytest.raises(ValidationError) as refused:
        check_capabilities(migration(add_column("users", "a")), no_views)
    assert refused.value.details[0].startswith("every migration needs updatable_views")


# Columns for the property: each on users or teams, with or without `up`, nullable or not,
# unique or not (a concurrent index and its own rollback step).
COLUMNS = st.lists(
    st.tuples(st.sampled_from(["users", "teams"]), st.booleans(), st.booleans(), st.booleans()),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(COLUMNS)
def test_every_rollback_step_undoes_start_steps_of_its_own_operation(
    columns: list[tuple[str, bool, bool, bool]],
) -> None:
    operations = [
        add_column(
            table,
            f"c{i}",
            up="id::text" if up else None,
            nullable=not not_null,
            unique=unique,
        )
        for i, (table, up, not_null, unique) in enumerate(columns)
    ]
    p = plan(migration(*operations))
    assert p.start[-1].operation == VERSION
    undone: set[int] = set()
    for step in p.rollback[1:]:
        assert step.undoes
        assert all(0 <= i < len(p.start) for i in step.undoes)
        assert {p.start[i].operation for i in step.undoes} == {"add_column"}
        undone.update(step.undoes)
    assert undone == set(range(len(p.start) - 1))
    # Rollback drops the new columns last first.
    dropped = [s.description.split()[2] for s in p.rollback if s.description.startswith("remove")]
    assert dropped == [f"_ls_new_c{i}" for i in reversed(range(len(columns)))]
