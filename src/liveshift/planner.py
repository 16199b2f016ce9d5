"""Turns a migration into its plan: every step of start, complete and rollback, as data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from liveshift import operations
from liveshift.engines.base import Capabilities
from liveshift.engines.probe import Probe
from liveshift.errors import ValidationError
from liveshift.migration import Migration
from liveshift.operations.actions import Action, Sql
from liveshift.operations.actions.schemas import CreateSchema, DropSchema
from liveshift.operations.actions.views import (
    CreateVersionView,
    DropView,
    RestoreViewGrants,
    SaveViewGrants,
)
from liveshift.operations.base import MAX_IDENTIFIER, Names, Operation
from liveshift.operations.objects import refuse_taken_version_schema
from liveshift.operations.requirements import HINTS, VERSION_SCHEMA, lacks, required
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema, Table
from liveshift.sqlexpr import referenced_columns

Render = Callable[[Action], str]  # an engine's text for one action


@dataclass
class MigrationPlan:
    """The steps of every phase of one migration, planned against one schema snapshot."""

    migration: Migration
    schema: str
    version_schema: str
    before: Schema
    after: Schema
    start: list[Step] = field(default_factory=list)
    complete: list[Step] = field(default_factory=list)
    rollback: list[Step] = field(default_factory=list)
    operations: list[Operation[Any]] = field(default_factory=list)
    previous_version_schema: str | None = None

    def phases(self) -> dict[str, list[Step]]:
        return {"start": self.start, "complete": self.complete, "rollback": self.rollback}


def _view(table: Table, version_schema: str, server_version: int) -> CreateVersionView:
    """The version view of one table: its columns under the names that version gives them."""
    return CreateVersionView(
        schema=version_schema,
        name=table.name,
        table=table.qualified,
        columns=tuple((c.physical, c.name) for c in table.columns.values()),
        security_invoker=server_version >= 150000,
    )


def version_views(schema: Schema, version_schema: str, server_version: int) -> Step:
    """One view per table showing the new version's shape: the search_path of new clients."""
    return Step(
        f"publish the new version's schema {version_schema}",
        actions=(
            CreateSchema(name=version_schema),
            *(_view(t, version_schema, server_version) for t in schema.tables.values()),
        ),
        lock=LockMode.ACCESS_SHARE,
        tables=tuple(t.qualified for t in schema.tables.values()),
        operation="version schema",
    )


def around_version_views(step: Step, before: Schema, version_schema: str, views: set[str]) -> Step:
    """`step` (which changes a column's type in place) with the previous version's `views` over
    its tables dropped before it and made again after it, with their grants, in its transaction:
    PostgreSQL refuses to retype a column a view uses, and old clients must not see those views
    go missing. The views are rendered from the schema before the migration, the shape that
    version shows."""
    tables = [t for t in before.tables.values() if t.qualified in step.tables and t.name in views]
    if not tables:
        return step
    # A step of an operation not converted to actions yet carries only its text.
    inner = step.actions or (Sql(text=step.sql),)
    actions = (
        *(SaveViewGrants(schema=version_schema, name=t.name, slot=i) for i, t in enumerate(tables)),
        *(DropView(schema=version_schema, name=t.name) for t in tables),
        *inner,
        CreateSchema(name=version_schema),
        *(_view(t, version_schema, before.server_version) for t in tables),
        *(
            RestoreViewGrants(schema=version_schema, name=t.name, slot=i)
            for i, t in enumerate(tables)
        ),
    )
    note = (
        f"drops and makes again (with its grants) the view of the previous version {version_schema}"
    )
    return replace(step, actions=actions, notes=(*step.notes, note))


def _previous_views(probe: Probe, version_schema: str) -> set[str]:
    """The views of the previous version's schema that are there now."""
    return probe.views_in_schema(version_schema)


def _undoes(ran: list[Step], start: list[Step]) -> tuple[int, ...]:
    """The positions in `start` of the steps `ran` (by identity: equal steps may repeat)."""
    ids = {id(s) for s in ran}
    return tuple(position for position, s in enumerate(start) if id(s) in ids)


# Operations whose steps after their backfill may wait for the next operation's backfill.
HOLDS_FOR_BACKFILLS = ("add_column", "alter_column")


def _reads_held_columns(start: list[Step], held: list[Step]) -> bool:
    """Whether a backfill among `start` reads a column whose catch-up is among the `held` steps:
    it would copy the values old clients made stale before they are recomputed."""
    pending = {s.catch_up.target.column for s in held if s.catch_up is not None}
    return any(
        s.backfill is not None and referenced_columns(s.backfill.expression) & pending
        for s in start
    )


def check_capabilities(migration: Migration, capabilities: Capabilities) -> None:
    """Refuse, before connecting, every operation whose needs (operations/requirements.py) the
    engine lacks, each named with the missing capability and why: a pure function of the file
    and the engine's flags."""
    refusals: list[str] = []
    flags: list[str] = []
    if lacks(capabilities, VERSION_SCHEMA, None):
        refusals.append(f"every migration needs updatable_views: {VERSION_SCHEMA.why}")
        flags.append(VERSION_SCHEMA.flag)
    for index, (name, spec) in enumerate(migration.operations):
        for need in required(name, spec):
            if lacks(capabilities, need, spec):
                refusals.append(f"operation {index + 1} ({name}) needs {need.flag}: {need.why}")
                flags.append(need.flag)
    if refusals:
        raise ValidationError(
            f"the {capabilities.name} engine lacks capabilities this migration relies on "
            "(refused before anything runs)",
            file=migration.source,
            details=refusals,
            hint=" ".join(HINTS[flag] for flag in dict.fromkeys(flags)),
        )


def compile_steps(steps: list[Step], render: Render) -> list[Step]:
    """`steps` with the actions of each rendered into its statement text by the engine."""
    return [_compiled(s, render) if s.actions else s for s in steps]


def _compiled(step: Step, render: Render) -> Step:
    text = ";\n".join(render(a) for a in step.actions)
    if step.concurrent_index is not None:
        # The guard runs a concurrent build itself, outside a transaction: the text is its own.
        return replace(step, concurrent_index=replace(step.concurrent_index, create_sql=text))
    return replace(step, sql=text)


def plan_migration(
    migration: Migration,
    schema: Schema,
    probe: Probe,
    previous_version_schema: str | None,
    render: Render | None = None,
) -> MigrationPlan:
    """Validate every operation in order against the schema model and collect its steps, their
    actions rendered by `render` (the engine's; PostgreSQL's by default)."""
    if render is None:
        from liveshift.engines.postgres.render import render as postgres

        render = postgres
    names = Names(migration.name, schema.name, chosen_version_schema=migration.version_schema)
    version_schema = names.version_schema
    if migration.version_schema is not None:
        refuse_taken_version_schema(schema, probe, migration.version_schema)
    elif len(f"{schema.name}_{migration.name}".encode()) > MAX_IDENTIFIER:
        raise ValidationError(
            f"the version schema name {schema.name}_{migration.name} is longer than PostgreSQL's "
            f"{MAX_IDENTIFIER}-byte limit",
            hint="Give the migration a shorter `name:`, or choose its `version_schema:`.",
        )
    current = schema.clone()
    plan = MigrationPlan(migration, schema.name, version_schema, before=schema, after=current)
    # Complete steps of operations that rename a table run last: every other step names the
    # table by its physical name of before the migration.
    complete_first: list[Step] = []
    complete_last: list[Step] = []
    # Each operation's start and rollback steps: a rollback step is needed only when one of its
    # operation's start steps ran.
    undo: list[tuple[list[Step], list[Step]]] = []
    held: list[Step] = []
    held_table: str | None = None
    for index, (name, spec) in enumerate(migration.operations):
        operation = operations.build(name, spec, names)
        before = current.clone()
        try:
            checked = operation.validate(current, probe)
        except ValidationError as exc:
            exc.message = f"operation {index + 1} ({name}): {exc.message}"
            if migration.source and exc.file is None:
                exc.file = migration.source
            raise
        plan.operations.append(operation)
        # The steps after an operation's backfill wait for the backfills of the column changes
        # right after it on the same table: its UPDATE trigger would make each of those
        # backfills lock every row it writes (docs/backfill.md).
        table = getattr(spec, "table", None) if name in HOLDS_FOR_BACKFILLS else None
        start = compile_steps(operation.start(checked, before, current), render)
        after_backfills = compile_steps(
            operation.start_after_backfills(checked, before, current), render
        )
        if held and (table != held_table or _reads_held_columns(start, held)):
            plan.start.extend(held)
            held = []
        plan.start.extend(start)
        held.extend(after_backfills)
        held_table = table
        complete = compile_steps(operation.complete(checked, before, current), render)
        # Complete runs every step after which rollback is still exact (the VALIDATEs, which may
        # find a violating row) before anything it cannot take back, such as dropping the old
        # clients' version schema, columns or triggers: a complete that fails on one leaves
        # rollback open. Only an operation's leading such steps move: a later one may need the
        # steps before it.
        lead = next((i for i, step in enumerate(complete) if not step.reversible), len(complete))
        complete_first.extend(complete[:lead])
        (complete_last if operation.complete_last else plan.complete).extend(complete[lead:])
        rollback = compile_steps(operation.rollback(checked, before, current), render)
        undo.append((start + after_backfills, rollback))
        plan.rollback[:0] = rollback
    plan.complete.extend(complete_last)
    plan.start.extend(held)
    plan.start.extend(
        compile_steps([version_views(current, version_schema, schema.server_version)], render)
    )
    ran_by = {id(step): ran for ran, steps in undo for step in steps}
    plan.rollback = [
        replace(step, undoes=_undoes(ran_by[id(step)], plan.start)) for step in plan.rollback
    ]
    drop_version = Step(
        f"drop the version schema {version_schema}",
        actions=(DropSchema(name=version_schema),),
        operation="version schema",
    )
    plan.rollback[:0] = compile_steps([drop_version], render)
    plan.complete[:0] = complete_first
    if previous_version_schema and previous_version_schema != version_schema:
        plan.previous_version_schema = previous_version_schema
        drop_previous = Step(
            f"drop the previous version schema {previous_version_schema}",
            actions=(DropSchema(name=previous_version_schema),),
            operation="version schema",
        )
        plan.complete[len(complete_first) : len(complete_first)] = compile_steps(
            [drop_previous], render
        )
        if any(s.retypes for s in plan.start + plan.rollback):
            views = _previous_views(probe, previous_version_schema)
            previous = previous_version_schema

            def around(step: Step) -> Step:
                if not step.retypes:
                    return step
                (wrapped,) = compile_steps(
                    [around_version_views(step, schema, previous, views)], render
                )
                return wrapped

            plan.start = [around(s) for s in plan.start]
            plan.rollback = [around(s) for s in plan.rollback]
    return plan
