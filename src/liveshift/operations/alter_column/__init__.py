"""alter_column: change a column's type, nullability, default, unique, check, references or name
while old and new application versions both keep working."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import AlterColumn, key_name
from liveshift.operations.actions import Action
from liveshift.operations.actions.columns import (
    AddColumnClause,
    AddUniqueUsingIndex,
    AlterColumnType,
    AlterTable,
    AlterTypeClause,
    CheckClause,
    Clause,
    DefinitionClause,
    DropColumn,
    DropDefault,
    DropNotNullClause,
    NotNullCheckClause,
    SetDefault,
    SetDefaultClause,
)
from liveshift.operations.actions.constraints import CreateIndex, DropConstraint, IndexKey
from liveshift.operations.actions.triggers import (
    CreateTwoWaySyncFunction,
    DropFunction,
    DropTrigger,
    VersionSyncTrigger,
)
from liveshift.operations.alter_column.change_type import plan_type_change, refuse_type_dependents
from liveshift.operations.alter_column.comment import set_comment
from liveshift.operations.alter_column.rename import refuse_name, refuse_views
from liveshift.operations.alter_column.set_default import new_default, refuse_default
from liveshift.operations.alter_column.set_nullable import (
    refuse_nullable,
    refuse_nulls,
    restore_not_null_steps,
)
from liveshift.operations.alter_column.set_unique import refuse_unique_name, unique_constraint
from liveshift.operations.alter_column.up_down import validate_down, validate_up
from liveshift.operations.base import CheckedOperation, ColumnConstraintNames
from liveshift.operations.carry_over import CarryOver
from liveshift.operations.objects import refuse_taken_not_null_check
from liveshift.operations.steps import (
    ColumnContract,
    backfill_step,
    catch_up_steps,
    column_references_step,
    concurrent_index_step,
    contract_column_steps,
    drop_index_concurrently_step,
    warn_old_inserts_fail,
)
from liveshift.operations.table_triggers import BackfillTriggers, backfill_triggers
from liveshift.plan import LockMode, Step
from liveshift.schema import Column, Schema, Table
from liveshift.sqlexpr import rewrite_columns
from liveshift.triggers import ChangeLog

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


@dataclass(frozen=True)
class AlterColumnChecked:
    """What validate found, that planning needs."""

    old: Column  # the column before the migration
    new: Column  # ... and as the new version sees it
    swap: bool  # the change goes through a new column
    fill_nulls: bool  # ... because NOT NULL needs `up` for NULLs, not for a type change
    direct_type: bool  # the type change is applied in place (binary coercible)
    up: str | None  # over the old shape's names
    down: str | None  # over the new shape's names
    set_not_null: bool
    drop_not_null: bool
    set_default: bool
    drop_default: bool
    add_unique: bool
    drop_unique: str | None  # the unique constraint to drop at complete
    carry: CarryOver | None  # what the new column takes over from the old one
    old_comment: str | None  # the column's comment before the migration
    new_comment: str | None  # ... and after it
    triggers: BackfillTriggers  # whether the table's own triggers fire for the backfill


class AlterColumnOperation(CheckedOperation[AlterColumn, AlterColumnChecked]):
    """A type change that would rewrite the table is made on a new column (`_ls_new_<col>`) kept in
    step with the old one by a two-way trigger (`up` for old-version writes, `down` for new-version
    writes) and filled by a batched backfill; complete swaps the columns. The new column carries
    the old one's indexes, keys, constraints, the foreign keys pointing at it and its serial or
    identity sequence over (carry_over.py). A binary-coercible type change (varchar widening,
    varchar -> text) is applied in place, catalog only. NOT NULL goes through a NOT VALID check
    validated at complete; unique through an index built concurrently; check and foreign key as
    NOT VALID constraints validated at complete; a rename is a view alias until complete."""

    name = "alter_column"

    def validate(self, schema: Schema, probe: Probe) -> AlterColumnChecked:
        spec = self.spec
        table = schema.table(spec.table)
        column = table.column(spec.column)
        before = table.columns.copy()
        up: str | None = None
        set_not_null = add_unique = False
        drop_unique: str | None = None
        carry: CarryOver | None = None
        old_comment: str | None = None
        triggers = BackfillTriggers()
        self._refuse_unsupported(schema, table, column)
        final = spec.name or spec.column
        old = Column(**vars(column))
        nullable = column.nullable if spec.nullable is None else spec.nullable
        new_type, swap, direct_type, fill_nulls = plan_type_change(
            spec, table, column, probe, nullable
        )
        default = new_default(spec, column)
        new = Column(
            name=final,
            type=new_type,
            nullable=nullable,
            default=default,
            physical=self.names.temp_column(spec.column) if swap else column.physical,
            identity=column.identity,
        )
        old_names = {c.name: c.physical for c in before.values()}
        unique_now = unique_constraint(table, column.physical)
        if spec.sets_comment or swap:
            # The new column carries the comment over; rollback puts the old one back.
            old_comment = probe.column_comment(table, column.physical)
        new_comment = (spec.comment or None) if spec.sets_comment else old_comment
        if swap:
            carry, up = validate_up(
                spec,
                schema,
                table,
                column,
                new,
                probe,
                old_names,
                unique_now if spec.unique is False else None,
                fill_nulls=fill_nulls,
                names=self.names,
            )
        else:
            set_not_null = column.nullable and not nullable
            if set_not_null:
                refuse_nulls(spec, table, column, probe)
            if spec.name is not None and spec.name != spec.column:
                refuse_views(spec, table, column, probe)
            if direct_type:
                refuse_type_dependents(spec, table, column, probe)
        # New clients may write NULL: the old column must take it too (with the new one it
        # goes away at complete; without, this is the change itself).
        drop_not_null = not column.nullable and nullable
        set_default = spec.default is not None
        drop_default = spec.drop_default and column.default is not None
        if default is not None and (spec.default is not None or swap):
            probe.expression_fits(
                table,
                default,
                new_type,
                f"the default `{default}`",
                column=f"{table.name}.{final}",
            )
        if spec.unique is not None and spec.unique is not False:
            add_unique = unique_now is None  # with a new column, it carries the old one
            refuse_unique_name(spec, schema, table, probe, unique_now)
        elif spec.unique is False and not swap:
            drop_unique = unique_now
        # The new shape, as the next operation and the version views see it.
        table.columns = {
            (final if name == spec.column else name): (new if name == spec.column else col)
            for name, col in table.columns.items()
        }
        down = self._validate_new_shape(schema, table, probe, old, new, swap=swap)
        if up is not None:
            triggers = backfill_triggers(
                table,
                new.physical,
                spec.backfill_triggers,
                probe,
                what=f"the backfill of {table.name}.{final}",
            )
        return AlterColumnChecked(
            old=old,
            new=new,
            swap=swap,
            fill_nulls=fill_nulls,
            direct_type=direct_type,
            up=up,
            down=down,
            set_not_null=set_not_null,
            drop_not_null=drop_not_null,
            set_default=set_default,
            drop_default=drop_default,
            add_unique=add_unique,
            drop_unique=drop_unique,
            carry=carry,
            old_comment=old_comment,
            new_comment=new_comment,
            triggers=triggers,
        )

    # -- validation helpers ---------------------------------------------------------------

    def _refuse_unsupported(self, schema: Schema, table: Table, column: Column) -> None:
        """Changes liveshift cannot make to this column, whatever the rest of the operation."""
        spec = self.spec
        where = f"{table.schema}.{table.name}.{spec.column}"
        if spec.nullable is False and column.nullable:
            refuse_taken_not_null_check(
                schema,
                table,
                ColumnConstraintNames(spec.table, spec.name or spec.column).not_null_check(),
            )
        if column.physical != column.name:
            raise ValidationError(
                f"column {spec.table}.{spec.column} is being changed by an earlier operation of "
                "this migration",
                object=where,
                hint="Give every change of one column in one alter_column (it has `name:` for a "
                "rename), or change it again in a later migration.",
            )
        refuse_default(spec, column, where)
        refuse_nullable(spec, table, column)
        refuse_name(spec, table)

    def _validate_new_shape(
        self, schema: Schema, table: Table, probe: Probe, old: Column, new: Column, *, swap: bool
    ) -> str | None:
        """The check and the foreign key against the new shape (`table` already has it); through
        a new column, `down` (returned)."""
        spec = self.spec
        new_names = {c.name: c.physical for c in table.columns.values()}
        if spec.check is not None:
            condition = rewrite_columns(spec.check.constraint, new_names, what="check")
            probe.condition_fits(table, condition, {}, f"the check `{spec.check.constraint}`")
        if spec.references is not None:
            target = schema.table(spec.references.table)
            target.column(spec.references.target_column)
        return validate_down(spec, table, probe, new_names, old, new) if swap else None

    # -- names --------------------------------------------------------------------------------

    def _constraint_names(self, checked: AlterColumnChecked) -> ColumnConstraintNames:
        return ColumnConstraintNames(self.spec.table, checked.new.name)

    def _nn(self, checked: AlterColumnChecked) -> str:
        return self._constraint_names(checked).not_null_check()

    def _check_name(self, checked: AlterColumnChecked) -> str:
        check = self.spec.check
        return self._constraint_names(checked).check(check.name if check else None)

    def _fk_name(self, checked: AlterColumnChecked) -> str:
        ref = self.spec.references
        return self._constraint_names(checked).foreign_key(ref.name if ref else None)

    def _unique_name(self, checked: AlterColumnChecked) -> str:
        return self._constraint_names(checked).unique(key_name(self.spec.unique))

    def _trigger(self) -> str:
        return self.names.object("trg", self.spec.table, self.spec.column)

    def _function(self) -> str:
        return self.names.function(self.spec.table, self.spec.column)

    def _has_trigger(self, checked: AlterColumnChecked) -> bool:
        return checked.swap

    def _log(self) -> ChangeLog:
        """The change log that stands in for the trigger's UPDATE half while the backfill runs."""
        return self.names.change_log(self.spec.table, self.spec.column)

    def _logged_key(self, checked: AlterColumnChecked, table: Table) -> tuple[str, ...] | None:
        """The key the change log records (the backfill's); None: no log, because there is no
        backfill, or the table has no key to find a logged row by (the trigger then fires on
        UPDATE from the start)."""
        return table.backfill_key() if checked.up is not None else None

    # -- phases -------------------------------------------------------------------------------

    def start(self, checked: AlterColumnChecked, before: Schema, after: Schema) -> list[Step]:
        spec = self.spec
        table = before.table(spec.table)
        qualified = table.qualified
        target = checked.new.physical
        old_names = {c.name: c.physical for c in table.columns.values()}
        new_names = {c.name: c.physical for c in after.table(spec.table).columns.values()}
        clauses: list[Clause] = []
        extra: list[Action] = []
        notes = ["catalog only: no rewrite, no scan"]
        rewrites = False
        if checked.swap:
            clauses.append(AddColumnClause(column=target, type=checked.new.type))
        elif checked.direct_type:
            clauses.append(AlterTypeClause(column=target, type=checked.new.type))
            notes = ["binary-coercible type change: catalog only, no rewrite"]
        if checked.set_default or (checked.swap and checked.new.default is not None):
            assert checked.new.default is not None
            clauses.append(SetDefaultClause(column=target, default=checked.new.default))
        if checked.drop_not_null:
            clauses.append(DropNotNullClause(column=checked.old.physical))
        # With a change log, the checks go in with the UPDATE trigger after the backfill: until
        # then an old client's update of a row not yet filled would meet them with no value.
        key = self._logged_key(checked, table)
        if key is None:
            clauses += self._checks(checked, new_names)
        if checked.swap:
            extra.append(self._two_way_function(checked, old_names, new_names))
            extra.append(self._two_way_trigger(table, update=key is None))
            if key is not None:
                extra.append(self._log().create(table, target=checked.new.physical, key=key))
        steps: list[Step] = []
        if clauses or extra:
            actions: list[Action] = (
                [AlterTable(table=qualified, clauses=tuple(clauses))] if clauses else []
            )
            actions += extra
            what = "add column " + checked.new.physical if checked.swap else f"alter {spec.column}"
            if extra:
                what += " with the trigger that keeps both versions' values in step"
            if key is not None:
                what += " (updates logged until the backfill is done)"
            steps.append(
                Step(
                    f"{what} on {table.name}",
                    actions=tuple(actions),
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=(qualified,),
                    rewrites=rewrites,
                    operation=self.name,
                    notes=tuple(notes),
                    retypes=checked.direct_type,
                )
            )
        if self._comment_changes(checked):
            steps.append(
                Step(
                    f"set the comment of {table.name}.{checked.new.name}",
                    actions=(set_comment(qualified, checked.new.physical, checked.new_comment),),
                    lock=LockMode.SHARE_UPDATE_EXCLUSIVE,
                    tables=(qualified,),
                    operation=self.name,
                    notes=("catalog only",),
                )
            )
        if checked.up is not None:
            steps.append(
                self._backfill(checked, table, old_names, catch_up_follows=key is not None)
            )
        return steps

    def _comment_changes(self, checked: AlterColumnChecked) -> bool:
        """Whether start sets a comment: the one given, or the old one on a new column."""
        if checked.swap:
            return checked.new_comment is not None
        return self.spec.sets_comment and checked.new_comment != checked.old_comment

    def start_after_backfills(
        self, checked: AlterColumnChecked, before: Schema, after: Schema
    ) -> list[Step]:
        """With a change log: the trigger's UPDATE half in place of the log, the catch-up, the log
        dropped. Then what must see filled (and caught-up) values, and would only slow the
        backfill down if it came before: the foreign keys, whose checks the backfill's rows would
        each pay (VALIDATE at complete checks them once), and the indexes, built once on full
        data (a stale value could collide in a unique one)."""
        spec = self.spec
        table = before.table(spec.table)
        qualified = table.qualified
        old_names = {c.name: c.physical for c in table.columns.values()}
        new_names = {c.name: c.physical for c in after.table(spec.table).columns.values()}
        steps: list[Step] = []
        if self._logged_key(checked, table) is not None:
            steps += catch_up_steps(
                table,
                self._backfill(checked, table, old_names, catch_up_follows=True),
                checks=self._checks(checked, new_names),
                update_trigger=self._two_way_trigger(table, update=True),
                log=self._log(),
                column=checked.new.physical,
                operation=self.name,
            )
        if spec.references is not None:
            steps.append(
                column_references_step(
                    before,
                    table,
                    self._fk_name(checked),
                    checked.new.physical,
                    spec.references,
                    self.name,
                )
            )
        if checked.carry is not None:
            steps += checked.carry.start_foreign_key_steps()
            steps += checked.carry.start_index_steps()
        if checked.add_unique:
            steps.append(
                concurrent_index_step(
                    table,
                    self._unique_name(checked),
                    CreateIndex(
                        table=qualified,
                        name=self._unique_name(checked),
                        keys=(IndexKey(column=checked.new.physical),),
                        unique=True,
                    ),
                    description=f"build the unique index for {checked.new.name} concurrently",
                    operation=self.name,
                )
            )
        return steps

    def _checks(self, checked: AlterColumnChecked, new_names: dict[str, str]) -> list[Clause]:
        """The NOT VALID checks on the column: NOT NULL, the user's check, and the checks the new
        column carries over."""
        spec = self.spec
        checks: list[Clause] = []
        if (checked.swap and not checked.new.nullable) or checked.set_not_null:
            checks.append(NotNullCheckClause(name=self._nn(checked), column=checked.new.physical))
        if spec.check is not None:
            condition = rewrite_columns(spec.check.constraint, new_names, what="check")
            checks.append(CheckClause(name=self._check_name(checked), condition=condition))
        if checked.carry is not None:
            checks += [DefinitionClause(text=c) for c in checked.carry.start_clauses()]
        return checks

    def _backfill(
        self,
        checked: AlterColumnChecked,
        table: Table,
        old_names: dict[str, str],
        *,
        catch_up_follows: bool,
    ) -> Step:
        assert checked.up is not None
        return backfill_step(
            table,
            checked.new.physical,
            rewrite_columns(checked.up, old_names, what="up"),
            description=f"backfill {checked.new.physical} for existing rows of {table.name}",
            operation=self.name,
            catch_up_follows=catch_up_follows,
            triggers=checked.triggers,
        )

    def _two_way_function(
        self, checked: AlterColumnChecked, old_names: dict[str, str], new_names: dict[str, str]
    ) -> CreateTwoWaySyncFunction:
        assert checked.up is not None and checked.down is not None
        # A row the backfill has not reached yet, updated without touching the column: the
        # function brings the new column up to date instead of writing NULL back into the old
        # one. A new-version insert that leaves a carried identity column out: the old column got
        # the identity's next value; the new column (no default) takes it over.
        return CreateTwoWaySyncFunction(
            function=self._function(),
            version_schema=self.names.version_schema,
            old=checked.old.physical,
            new=checked.new.physical,
            up=rewrite_columns(checked.up, old_names, what="up"),
            down=rewrite_columns(checked.down, new_names, what="down"),
            fill_new_on_insert=checked.carry is not None and checked.carry.identity,
        )

    def _two_way_trigger(self, table: Table, *, update: bool) -> VersionSyncTrigger:
        """The trigger on INSERT, and on UPDATE unless a change log stands in for that half while
        the backfill runs (the version schema is published after the backfill: until then every
        writer is an old client, whose updates the log records)."""
        return VersionSyncTrigger(
            table=table.qualified, name=self._trigger(), function=self._function(), update=update
        )

    def complete(self, checked: AlterColumnChecked, before: Schema, after: Schema) -> list[Step]:
        spec = self.spec
        table = before.table(spec.table)
        qualified = table.qualified
        target = checked.new.physical
        not_null = (checked.swap and not checked.new.nullable) or checked.set_not_null
        validate: list[tuple[str, tuple[str, ...]]] = []
        if not_null:
            validate.append((self._nn(checked), (qualified,)))
        if spec.check is not None:
            validate.append((self._check_name(checked), (qualified,)))
        if spec.references is not None:
            validate.append(
                (self._fk_name(checked), (qualified, before.table(spec.references.table).qualified))
            )
        before_not_null: list[Action] = []
        after_not_null: list[Action] = []
        prepare: list[Step] = []
        tables: tuple[str, ...] = (qualified,)
        if checked.carry is not None:
            validate += checked.carry.validate_on_table()
            prepare = checked.carry.reference_steps()
            before_not_null += checked.carry.swap_before_not_null_actions()
            after_not_null += checked.carry.swap_drop_old_actions()
            after_not_null += checked.carry.swap_take_names_actions()
            tables = checked.carry.complete_tables()
        if checked.drop_unique is not None and not checked.swap:
            after_not_null.append(DropConstraint(table=qualified, name=checked.drop_unique))
        if checked.add_unique:
            unique = self._unique_name(checked)
            after_not_null.append(AddUniqueUsingIndex(table=qualified, name=unique, index=unique))
        if checked.drop_default and not checked.swap:
            after_not_null.append(DropDefault(table=qualified, column=target))
        contract = ColumnContract(
            column=checked.new.physical,
            final_name=checked.new.name,
            operation=self.name,
            description=f"make {table.name}.{checked.new.name} final",
            validate=validate,
            not_null_check=self._nn(checked) if not_null else None,
            triggers=(self._trigger(),) if self._has_trigger(checked) else (),
            function=self._function() if self._has_trigger(checked) else None,
            before_not_null=before_not_null,
            after_not_null=after_not_null,
            before_final=prepare,
            tables=tables,
            temporary=checked.swap,
        )
        steps = contract_column_steps(table, contract)
        if not_null and checked.old.nullable and checked.new.default is None:
            return warn_old_inserts_fail(steps, table.name, checked.new.name, "becomes NOT NULL")
        return steps

    def rollback(self, checked: AlterColumnChecked, before: Schema, after: Schema) -> list[Step]:
        spec = self.spec
        table = before.table(spec.table)
        qualified = table.qualified
        steps: list[Step] = []
        if checked.carry is not None:
            steps += checked.carry.rollback_steps()
        if checked.add_unique:
            steps.append(
                drop_index_concurrently_step(
                    table,
                    self._unique_name(checked),
                    description=f"drop the unique index for {checked.new.name} concurrently",
                    operation=self.name,
                )
            )
        statements: list[Action] = []
        if self._has_trigger(checked):
            statements.append(DropTrigger(table=qualified, name=self._trigger()))
        if self._logged_key(checked, table) is not None:
            statements.append(self._log().drop_trigger(table))
        if checked.swap:
            statements.append(DropColumn(table=qualified, column=checked.new.physical))
        else:
            statements += self._undo_in_place(checked, qualified)
        if self._has_trigger(checked):
            statements.append(DropFunction(function=self._function()))
        if self._logged_key(checked, table) is not None:
            statements.append(self._log().drop())
        tables = [qualified]
        if spec.references is not None:
            tables.append(before.table(spec.references.table).qualified)
        if checked.carry is not None:  # its foreign keys go with the new column
            tables += [t for t in checked.carry.referenced_tables if t not in tables]
        if statements:
            steps.append(
                Step(
                    f"undo what start changed on {table.name}.{spec.column}",
                    actions=tuple(statements),
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=tuple(tables),
                    operation=self.name,
                    notes=("catalog only",),
                )
            )
        if checked.direct_type:
            # Going back to the narrower type is not binary coercible: PostgreSQL checks (and
            # rewrites) every row under ACCESS EXCLUSIVE. It fails if new clients wrote values the
            # old type cannot hold.
            steps.append(
                Step(
                    f"restore the type of {table.name}.{spec.column} to {checked.old.type}",
                    actions=(
                        AlterColumnType(
                            table=qualified, column=checked.old.physical, type=checked.old.type
                        ),
                    ),
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=(qualified,),
                    rewrites=True,
                    scans=True,
                    estimated_rows=table.estimated_rows,
                    operation=self.name,
                    retypes=True,
                )
            )
        if checked.drop_not_null:
            steps.extend(restore_not_null_steps(table, checked.old, self._nn(checked), self.name))
        return steps

    def _undo_in_place(self, checked: AlterColumnChecked, qualified: str) -> list[Action]:
        """Rollback actions of a change made on the column itself: the constraints start added,
        the old default and comment back."""
        spec = self.spec
        column = checked.old.physical
        actions: list[Action] = []
        for constraint, wanted in (
            (self._nn(checked), checked.set_not_null),
            (self._check_name(checked), spec.check is not None),
            (self._fk_name(checked), spec.references is not None),
        ):
            if wanted:
                actions.append(DropConstraint(table=qualified, name=constraint, if_exists=True))
        if checked.set_default:
            if checked.old.default is None:
                actions.append(DropDefault(table=qualified, column=column))
            else:
                actions.append(
                    SetDefault(table=qualified, column=column, default=checked.old.default)
                )
        if self._comment_changes(checked):
            actions.append(set_comment(qualified, column, checked.old_comment))
        return actions

    def describe(self) -> str:
        return f"{self.name} {self.spec.table}.{self.spec.column}"
