"""Step builders several operations share: backfill, concurrent index, a column's contract phase."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from liveshift.migration.models import References
from liveshift.operations.actions import Action
from liveshift.operations.actions.columns import (
    AlterTable,
    Clause,
    LockTables,
    RenameColumn,
    RenameIndexColumns,
    SetNotNull,
)
from liveshift.operations.actions.constraints import (
    AddForeignKey,
    CreateIndex,
    CreateIndexDefinition,
    DropConstraint,
    DropIndex,
    ValidateConstraint,
)
from liveshift.operations.actions.triggers import DropFunction, DropTrigger
from liveshift.operations.table_triggers import BackfillTriggers
from liveshift.plan import WARNING, Backfill, CatchUp, ConcurrentIndex, LockMode, Step
from liveshift.schema import Schema, Table, quote_ident
from liveshift.triggers import ChangeLog


def backfill_step(
    table: Table,
    column: str,
    expression: str,
    *,
    description: str,
    operation: str,
    catch_up_follows: bool = False,
    triggers: BackfillTriggers | None = None,
) -> Step:
    """Fill `column` (a physical name) from `expression` for rows where it is still NULL, in keyset
    batches on the primary key, else a unique NOT NULL key, else ctid; `triggers` says whether the
    table's own triggers fire for those rows."""
    triggers = triggers or BackfillTriggers()
    return Step(
        description,
        lock=LockMode.ROW_EXCLUSIVE,
        tables=(table.qualified,),
        estimated_rows=table.estimated_rows,
        transactional=False,
        backfill=Backfill(
            schema=table.schema,
            table=table.physical,
            column=column,
            expression=expression,
            where=f"{quote_ident(column)} is null",
            key=table.backfill_key(),
            catch_up_follows=catch_up_follows,
            skip_triggers=triggers.skip,
        ),
        operation=operation,
        notes=triggers.notes,
    )


def catch_up_steps(
    table: Table,
    backfill: Step,
    *,
    checks: Sequence[Clause],
    update_trigger: Action,
    log: ChangeLog,
    column: str,
    operation: str,
) -> list[Step]:
    """After a backfill that ran with a change log instead of an UPDATE trigger: install the
    trigger and the NOT VALID `checks` (ADD CONSTRAINT clauses, which waited for it) in place of
    the log's trigger, recompute the rows the log names, drop the log. Dropping the log's trigger
    takes ACCESS EXCLUSIVE, briefly."""
    assert backfill.backfill is not None and backfill.backfill.key is not None
    switch: list[Action] = (
        [AlterTable(table=table.qualified, clauses=tuple(checks))] if checks else []
    )
    switch += [update_trigger, log.drop_trigger(table)]
    return [
        Step(
            f"install the UPDATE trigger for {column} in place of the change log",
            actions=tuple(switch),
            lock=LockMode.ACCESS_EXCLUSIVE,
            tables=(table.qualified,),
            operation=operation,
            notes=("metadata only: no scan",),
        ),
        Step(
            f"recompute {column} for the rows old clients updated during the backfill",
            lock=LockMode.ROW_EXCLUSIVE,
            tables=(table.qualified,),
            transactional=False,
            catch_up=CatchUp(target=backfill.backfill, log=log.log),
            operation=operation,
            notes=backfill.notes,
        ),
        Step(
            f"drop the change log of {column}",
            actions=(log.drop(),),
            lock=LockMode.ACCESS_EXCLUSIVE,
            tables=(log.log,),
            operation=operation,
            notes=("the log alone: no client uses it any more",),
        ),
    ]


def foreign_key_not_valid_step(
    table: Table,
    name: str,
    columns: Sequence[str],
    target: str,
    target_columns: Sequence[str],
    *,
    on_delete: str,
    on_update: str,
    description: str,
    operation: str,
    notes: tuple[str, ...] = (),
) -> Step:
    """ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID (columns are physical names, `target` the
    qualified referenced table): enforced for new
    writes at once, with no scan; SHARE ROW EXCLUSIVE on both tables for a moment."""
    return Step(
        description,
        actions=(
            AddForeignKey(
                table=table.qualified,
                name=name,
                columns=tuple(columns),
                target=target,
                target_columns=tuple(target_columns),
                on_delete=on_delete,
                on_update=on_update,
            ),
        ),
        lock=LockMode.SHARE_ROW_EXCLUSIVE,
        tables=(table.qualified, target),
        operation=operation,
        notes=notes,
    )


def column_references_step(
    schema: Schema, table: Table, name: str, column: str, references: References, operation: str
) -> Step:
    """The NOT VALID foreign key of one (physical) `column`, as a column's `references:` says."""
    target = schema.table(references.table)
    return foreign_key_not_valid_step(
        table,
        name,
        [column],
        target.qualified,
        [target.column(references.target_column).physical],
        on_delete=references.on_delete,
        on_update=references.on_update,
        description=f"add foreign key {name} (not valid)",
        operation=operation,
    )


def concurrent_index_step(
    table: Table,
    name: str,
    create: CreateIndex | CreateIndexDefinition,
    *,
    description: str,
    operation: str,
    notes: tuple[str, ...] = (),
) -> Step:
    """CREATE INDEX CONCURRENTLY: SHARE UPDATE EXCLUSIVE, so reads and writes go on. `create` is
    the build's action, which the planner renders into `ConcurrentIndex.create_sql`."""
    return Step(
        description,
        actions=(create,),
        lock=LockMode.SHARE_UPDATE_EXCLUSIVE,
        tables=(table.qualified,),
        scans=True,
        transactional=False,
        estimated_rows=table.estimated_rows,
        concurrent_index=ConcurrentIndex(schema=table.schema, name=name, create_sql=""),
        operation=operation,
        notes=notes,
    )


def drop_index_concurrently_step(
    table: Table,
    name: str,
    *,
    description: str,
    operation: str,
    notes: tuple[str, ...] = (),
) -> Step:
    """DROP INDEX CONCURRENTLY (idempotent): SHARE UPDATE EXCLUSIVE, so reads and writes go on."""
    return Step(
        description,
        actions=(DropIndex(schema=table.schema, name=name),),
        lock=LockMode.SHARE_UPDATE_EXCLUSIVE,
        tables=(table.qualified,),
        transactional=False,
        operation=operation,
        notes=notes,
    )


def validate_constraint_step(
    qualified: str,
    constraint: str,
    *,
    operation: str,
    estimated_rows: int | None,
    tables: tuple[str, ...] = (),
) -> Step:
    """VALIDATE CONSTRAINT on `qualified`: a scan under SHARE UPDATE EXCLUSIVE, so reads and
    writes go on (a foreign key also takes ROW SHARE on the table it references)."""
    return Step(
        f"validate {constraint}",
        actions=(ValidateConstraint(table=qualified, name=constraint),),
        lock=LockMode.SHARE_UPDATE_EXCLUSIVE,
        tables=tables or (qualified,),
        scans=True,
        estimated_rows=estimated_rows,
        operation=operation,
        reversible=True,
    )


@dataclasses.dataclass(frozen=True)
class ColumnContract:
    """What the complete phase of one column does: the column made under a temporary name
    (add_column, alter_column through a new column) or changed in place.

    `validate` lists (constraint on the table, tables its validation locks); `before_final` are
    steps to run between the validations and the final transaction; `triggers` and `function` are
    the sync triggers and their function, dropped there. `before_not_null`, `after_not_null` and
    `after_rename` are actions of the final transaction around SET NOT NULL and the rename.
    `temporary`: `column` is a name liveshift made up, which the table's indexes must lose too.
    `tables`: every table the final transaction locks, in the order to lock them."""

    column: str
    final_name: str
    operation: str
    description: str
    validate: Sequence[tuple[str, tuple[str, ...]]] = ()
    not_null_check: str | None = None
    triggers: Sequence[str] = ()
    function: str | None = None
    before_not_null: Sequence[Action] = ()
    after_not_null: Sequence[Action] = ()
    after_rename: Sequence[Action] = ()
    before_final: Sequence[Step] = ()
    tables: tuple[str, ...] = ()
    temporary: bool = True


def contract_column_steps(table: Table, contract: ColumnContract) -> list[Step]:
    """The complete phase of a column (`contract`): validate the NOT VALID constraints (each a
    non-blocking scan), then one short ACCESS EXCLUSIVE transaction, catalog only: drop the sync
    triggers, `before_not_null`, SET NOT NULL through the validated check (which spares it the
    scan) and drop the check, `after_not_null`, rename the column to its final name,
    `after_rename`, drop the trigger function."""
    c = contract
    column, final_name, operation, tables = c.column, c.final_name, c.operation, c.tables
    qualified = table.qualified
    steps = [
        validate_constraint_step(
            qualified,
            constraint,
            operation=operation,
            estimated_rows=table.estimated_rows,
            tables=locked,
        )
        for constraint, locked in c.validate
    ]
    steps.extend(c.before_final)
    final: list[Action] = []
    if len(tables) > 1:
        # Every table at once, in the order given (tables whose writers lock this one after
        # their own first, then this one, then the tables it references: the order application
        # transactions take them in), so that the transaction never holds one lock while it
        # queues for another behind a writer that needs the first.
        final.append(LockTables(tables=tables))
    final.extend(DropTrigger(table=qualified, name=t) for t in c.triggers)
    final.extend(c.before_not_null)
    if c.not_null_check is not None:
        final.append(SetNotNull(table=qualified, column=column))
        final.append(DropConstraint(table=qualified, name=c.not_null_check))
    final.extend(c.after_not_null)
    if column != final_name:
        final.append(RenameColumn(table=qualified, old=column, new=final_name))
        if c.temporary:
            final.append(rename_index_columns(table, column, final_name))
    final.extend(c.after_rename)
    if c.function is not None:
        final.append(DropFunction(function=c.function))
    if final:
        steps.append(
            Step(
                c.description,
                actions=tuple(final),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=tables or (qualified,),
                operation=operation,
                notes=("catalog only: the validated check spares SET NOT NULL its scan",),
            )
        )
    return steps


def rename_index_columns(table: Table, old: str, new: str) -> RenameIndexColumns:
    """An index's columns keep the names its table's columns had when it was built, and RENAME
    COLUMN on the table leaves them be: rename those called `old` in every index of `table`."""
    return RenameIndexColumns(table=table.qualified, old=old, new=new)


def warn_old_inserts_fail(steps: list[Step], table: str, column: str, why: str) -> list[Step]:
    """`steps` (a complete phase) with a warning on the last one: after complete, old-version
    inserts that leave `column` out store NULL, which the NOT NULL column refuses (until then a
    trigger filled it for them). `liveshift plan` shows it; `complete` prints it before it runs."""
    if not steps:
        return steps
    warning = (
        f"{WARNING}old-version writers that insert into {table} without {column} will fail "
        f"after complete ({column} {why} with no default): give the column a default or retire "
        "them first"
    )
    return [*steps[:-1], dataclasses.replace(steps[-1], notes=(warning, *steps[-1].notes))]
