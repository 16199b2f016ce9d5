"""add_column: add a column to a live table without a blocking rewrite, filled and constrained."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import AddColumn, key_name
from liveshift.operations.actions import Action
from liveshift.operations.actions.columns import (
    AddColumnClause,
    AddIdentity,
    AddUniqueUsingIndex,
    AlterTable,
    CheckClause,
    Clause,
    CommentOnColumn,
    CreateNextValueFunction,
    CreateSequence,
    DropColumn,
    DropDefault,
    DropSequence,
    NotNullCheckClause,
    OwnSequence,
    ResumeIdentity,
    SetDefaultClause,
)
from liveshift.operations.actions.constraints import CreateIndex, IndexKey
from liveshift.operations.actions.triggers import (
    CreateSyncFunction,
    DropFunction,
    DropTrigger,
    SyncInsertTrigger,
    SyncUpdateTrigger,
)
from liveshift.operations.base import CheckedOperation, ColumnConstraintNames, short_name
from liveshift.operations.objects import (
    refuse_taken_constraint_name,
    refuse_taken_not_null_check,
    refuse_taken_relation_name,
)
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
from liveshift.schema import Column, Schema, Table, quote_ident, quote_literal
from liveshift.sqlexpr import check_expression, rewrite_columns
from liveshift.triggers import ChangeLog

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


@dataclass(frozen=True)
class AddColumnChecked:
    """What validate found. The column as start makes it: a serial or identity column is NOT
    NULL with nextval of its sequence as default until complete (an identity then takes the
    sequence's place)."""

    nullable: bool
    default: str | None
    sequence: str | None  # the sequence start creates (serial: PostgreSQL's own name)
    instant_default: bool  # the catalog holds the default: it fills existing rows at once
    fill: str | None  # what the triggers and the backfill write, over physical names
    check_condition: str  # the check over physical column names
    triggers: BackfillTriggers  # whether the table's own triggers fire for the backfill


class AddColumnOperation(CheckedOperation[AddColumn, AddColumnChecked]):
    """Expand: the column is added under a temporary name (nullable, instant), NOT NULL and CHECKs
    as NOT VALID constraints, a trigger fills it for rows old clients write, a batched backfill fills
    existing rows, a unique index is built concurrently. Contract: constraints are validated, NOT
    NULL set through the validated check, the column gets its final name."""

    name = "add_column"

    def _table(self, schema: Schema) -> Table:
        return schema.table(self.spec.table)

    def validate(self, schema: Schema, probe: Probe) -> AddColumnChecked:
        spec, column = self.spec, self.spec.column
        table = self._table(schema)
        if column.name in table.columns:
            raise ValidationError(
                f"column {column.name!r} already exists in table {table.schema}.{table.name}",
                object=f"{table.schema}.{table.name}.{column.name}",
                hint="Choose another name, or use alter_column to change the existing column.",
            )
        if column.primary_key:
            raise ValidationError(
                f"add_column cannot add a primary key column ({column.name!r}) to an existing table",
                hint="Add the column (nullable: false, with `up:` or a default) in one migration, "
                "then an add_constraint `type: primary_key, columns: [...]` in the next.",
            )
        if key_name(column.unique) is not None:
            refuse_taken_constraint_name(
                schema, table, probe, self._unique_name(), "the unique constraint"
            )
        resolved = probe.column_type(column.type)
        type_name = resolved.name
        nullable, default, sequence = column.nullable, column.default, None
        instant_default, fill, check_condition = False, None, ""
        triggers = BackfillTriggers()
        if not nullable:
            refuse_taken_not_null_check(schema, table, self._not_null_name())
        if resolved.serial or column.identity is not None:
            sequence, default = self._validate_sequence(
                schema, table, probe, type_name, serial=resolved.serial
            )
            nullable = False
        if default is not None and sequence is None:
            check_expression(default, "default")
            instant_default = probe.default_is_instant(type_name, default)
        # `up` and `check` name columns as the new version sees them at this point of the
        # migration; the steps run on the base table, under the columns' physical names.
        physical = {c.name: c.physical for c in table.columns.values()}
        if spec.up is not None:
            check_expression(spec.up, "up")
            fill = rewrite_columns(spec.up, physical, what="up")
            probe.expression_fits(
                table,
                fill,
                type_name,
                f"the `up` expression `{spec.up}`",
                column=f"{table.name}.{column.name}",
            )
        # Existing rows (and rows old clients write) get `up`; without it, a default the server
        # cannot store in the catalog (e.g. volatile) is evaluated per row, as ALTER TABLE would.
        if fill is None and default is not None and not instant_default:
            # Once per row, as ALTER TABLE evaluates it: the triggers and the catch-up keep a
            # value the row has (an old client's UPDATE must not draw a new nextval or uuid).
            fill = f"coalesce({quote_ident(self._temp())}, {default})"
        if fill is not None:
            triggers = backfill_triggers(
                table,
                self._temp(),
                spec.backfill_triggers,
                probe,
                what=f"the backfill of {table.name}.{column.name}",
            )
        if not nullable and fill is None and default is None and probe.has_rows(table):
            raise ValidationError(
                f"column {column.name!r} is NOT NULL with no default and no `up`, and table "
                f"{table.schema}.{table.name} has rows: they would have no value",
                object=f"{table.schema}.{table.name}.{column.name}",
                hint="Give `up:` (an SQL expression computing the value from the row) or a "
                "`default:`, or make the column nullable.",
            )
        if column.check is not None:
            check_condition = rewrite_columns(
                column.check.constraint, {**physical, column.name: self._temp()}, what="check"
            )
            probe.condition_fits(
                table,
                check_condition,
                {self._temp(): type_name},
                f"the check `{column.check.constraint}`",
                {self._temp(): column.name},
            )
        if column.references is not None:
            target = schema.table(column.references.table)
            target.column(column.references.target_column)
        table.columns[column.name] = Column(
            name=column.name,
            type=type_name,
            nullable=nullable,
            default=default,
            physical=self.names.temp_column(column.name),
        )
        return AddColumnChecked(
            nullable=nullable,
            default=default,
            sequence=sequence,
            instant_default=instant_default,
            fill=fill,
            check_condition=check_condition,
            triggers=triggers,
        )

    def _validate_sequence(
        self, schema: Schema, table: Table, probe: Probe, type_name: str, *, serial: bool
    ) -> tuple[str, str]:
        """A serial or identity column: its values come from a sequence start creates, as the
        default for new rows and through the backfill for existing ones (ADD COLUMN with them
        would rewrite the table under ACCESS EXCLUSIVE). Returns the sequence start creates and
        the column's default until complete (the column is NOT NULL until then)."""
        column = self.spec.column
        where = f"{table.schema}.{table.name}.{column.name}"
        # (The file format already refuses `identity:` with `default:`.)
        if serial and (column.default is not None or column.identity is not None):
            raise ValidationError(
                f"column {table.name}.{column.name} is {column.type}: its values come from its "
                "sequence, it takes no `default:` or `identity:`",
                object=where,
                hint=f"Drop `default:`/`identity:`, or make the type `{type_name}`.",
            )
        if self.spec.up is not None:
            raise ValidationError(
                f"column {table.name}.{column.name} numbers existing rows from its sequence: it "
                "takes no `up:`",
                object=where,
                hint="Drop `up:`; existing rows are numbered in batches from the sequence.",
            )
        if column.identity is not None:
            probe.identity_fits(type_name, f"identity column {table.name}.{column.name}")
            # The identity's own sequence is made at complete; until then a sequence of ours.
            # Drawn through a SECURITY DEFINER function: an identity needs no privilege on its
            # sequence to insert, and the application's role has none on ours.
            stand_in = self.names.object("seq", self.spec.table, column.name)
            return stand_in, f"{self._next_function(table)}()"
        sequence = short_name(self.spec.table, column.name, "seq")
        refuse_taken_relation_name(schema, probe, sequence, f"the sequence of {where}")
        qualified = quote_literal(f"{quote_ident(table.schema)}.{quote_ident(sequence)}")
        return sequence, f"nextval({qualified}::regclass)"

    # Names of what start creates.
    def _temp(self) -> str:
        return self.names.temp_column(self.spec.column.name)

    def _constraint(self, kind: str) -> str:
        return self.names.object(kind, self.spec.table, self.spec.column.name)

    def _constraint_names(self) -> ColumnConstraintNames:
        return ColumnConstraintNames(self.spec.table, self.spec.column.name)

    def _not_null_name(self) -> str:
        return self._constraint_names().not_null_check()

    def _check_name(self) -> str:
        check = self.spec.column.check
        return self._constraint_names().check(check.name if check else None)

    def _fk_name(self) -> str:
        ref = self.spec.column.references
        return self._constraint_names().foreign_key(ref.name if ref else None)

    def _unique_name(self) -> str:
        return self._constraint_names().unique(key_name(self.spec.column.unique))

    def _unique_index(self) -> str:
        return self._constraint("uq")

    def _next_name(self) -> str:
        """The function an identity column's default draws from the stand-in sequence with."""
        return self.names.object("next", self.spec.table, self.spec.column.name)

    def _next_function(self, table: Table) -> str:
        return f"{quote_ident(table.schema)}.{quote_ident(self._next_name())}"

    def _triggers(self) -> tuple[str, str]:
        """The sync triggers: on INSERT, on UPDATE."""
        return (
            self.names.object("trgi", self.spec.table, self.spec.column.name),
            self.names.object("trg", self.spec.table, self.spec.column.name),
        )

    def _function(self) -> str:
        return self.names.function(self.spec.table, self.spec.column.name)

    def _log(self) -> ChangeLog:
        """The change log that stands in for the UPDATE trigger while the backfill runs."""
        return self.names.change_log(self.spec.table, self.spec.column.name)

    def _logged_key(self, checked: AddColumnChecked, table: Table) -> tuple[str, ...] | None:
        """The key the change log records (the backfill's); None: no log, because there is no
        backfill, or the table has no key to find a logged row by (the UPDATE trigger then goes
        in with the column)."""
        return table.backfill_key() if checked.fill is not None else None

    def start(self, checked: AddColumnChecked, before: Schema, after: Schema) -> list[Step]:
        spec, column = self.spec, self.spec.column
        table = self._table(before)
        new_type = after.table(spec.table).columns[column.name].type
        temp = self._temp()
        qualified = table.qualified
        steps: list[Step] = []

        # A default the catalog can hold fills existing rows at once, unless `up` is to fill
        # them; otherwise the default is set for new rows only (metadata, no rewrite).
        default_fills_rows = checked.default is not None and checked.instant_default and not spec.up
        clauses: list[Clause] = [
            AddColumnClause(
                column=temp, type=new_type, default=checked.default if default_fills_rows else None
            )
        ]
        if checked.default is not None and not default_fills_rows:
            clauses.append(SetDefaultClause(column=temp, default=checked.default))
        # With a change log, the checks go in with the UPDATE trigger after the backfill: until
        # then an old client's update of a row not yet filled would meet them with no value.
        key = self._logged_key(checked, table)
        if key is None:
            clauses += self._checks(checked)
        actions: list[Action] = []
        if checked.sequence is not None:
            # A serial's sequence is owned by the column, as PostgreSQL makes it. An identity's
            # stand-in is not: pg_get_serial_sequence must find only the identity's at complete.
            actions.append(
                CreateSequence(schema=table.schema, name=checked.sequence, type=new_type)
            )
            if column.identity is not None:
                actions.append(
                    CreateNextValueFunction(
                        schema=table.schema,
                        name=self._next_name(),
                        sequence=checked.sequence,
                        type=new_type,
                    )
                )
        actions.append(AlterTable(table=qualified, clauses=tuple(clauses)))
        if checked.sequence is not None and column.identity is None:
            actions.append(
                OwnSequence(
                    schema=table.schema, sequence=checked.sequence, table=qualified, column=temp
                )
            )
        if column.comment is not None:
            actions.append(CommentOnColumn(table=qualified, column=temp, comment=column.comment))
        description = f"add column {column.name} to {table.name} (as {self._temp()} until complete)"
        if checked.fill is not None:
            # The triggers go in with the column, in one transaction: a row an old client writes
            # in between would otherwise get no value.
            description += ", with the triggers that fill it for old-version writes"
            actions += [
                CreateSyncFunction(
                    function=self._function(),
                    version_schema=self.names.version_schema,
                    target=self._temp(),
                    expression=checked.fill,
                    fill_nulls_from_new_version=True,
                ),
                SyncInsertTrigger(
                    table=qualified, name=self._triggers()[0], function=self._function()
                ),
            ]
            if key is None:
                actions.append(self._update_trigger(table))
            else:
                description += " (updates logged until the backfill is done)"
                actions.append(self._log().create(table, target=self._temp(), key=key))
        steps.append(
            Step(
                description,
                actions=tuple(actions),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=(qualified,),
                operation=self.name,
                notes=("metadata only: no rewrite, no scan",),
            )
        )
        if checked.fill is not None:
            steps.append(self._backfill(checked, table, catch_up_follows=key is not None))
        return steps

    def _update_trigger(self, table: Table) -> SyncUpdateTrigger:
        return SyncUpdateTrigger(
            table=table.qualified,
            name=self._triggers()[1],
            function=self._function(),
            target=self._temp(),
        )

    def start_after_backfills(
        self, checked: AddColumnChecked, before: Schema, after: Schema
    ) -> list[Step]:
        """With a change log: the UPDATE trigger in its place, the catch-up, the log dropped. Then
        the foreign key, whose check every backfilled (or caught-up) row would pay before it (the
        VALIDATE at complete checks them once), and the unique index, which must see caught-up
        values."""
        column = self.spec.column
        table = self._table(before)
        qualified = table.qualified
        steps: list[Step] = []
        if self._logged_key(checked, table) is not None:
            steps += catch_up_steps(
                table,
                self._backfill(checked, table, catch_up_follows=True),
                checks=self._checks(checked),
                update_trigger=self._update_trigger(table),
                log=self._log(),
                column=column.name,
                operation=self.name,
            )
        if column.references is not None:
            steps.append(
                column_references_step(
                    before, table, self._fk_name(), self._temp(), column.references, self.name
                )
            )
        if column.unique:
            steps.append(
                concurrent_index_step(
                    table,
                    self._unique_index(),
                    CreateIndex(
                        table=qualified,
                        name=self._unique_index(),
                        keys=(IndexKey(column=self._temp()),),
                        unique=True,
                    ),
                    description=f"build the unique index for {column.name} concurrently",
                    operation=self.name,
                )
            )
        return steps

    def _checks(self, checked: AddColumnChecked) -> list[Clause]:
        """The NOT VALID checks: NOT NULL, and the user's check."""
        checks: list[Clause] = []
        if not checked.nullable:
            checks.append(NotNullCheckClause(name=self._not_null_name(), column=self._temp()))
        if self.spec.column.check is not None:
            checks.append(CheckClause(name=self._check_name(), condition=checked.check_condition))
        return checks

    def _backfill(self, checked: AddColumnChecked, table: Table, *, catch_up_follows: bool) -> Step:
        assert checked.fill is not None
        return backfill_step(
            table,
            self._temp(),
            checked.fill,
            description=f"backfill {self.spec.column.name} for existing rows of {table.name}",
            operation=self.name,
            catch_up_follows=catch_up_follows,
            triggers=checked.triggers,
        )

    def complete(self, checked: AddColumnChecked, before: Schema, after: Schema) -> list[Step]:
        column = self.spec.column
        table = self._table(before)
        qualified = table.qualified
        validate: list[tuple[str, tuple[str, ...]]] = []
        if not checked.nullable:
            validate.append((self._not_null_name(), (qualified,)))
        if column.check is not None:
            validate.append((self._check_name(), (qualified,)))
        if column.references is not None:
            target = before.table(column.references.table)
            validate.append((self._fk_name(), (qualified, target.qualified)))
        after_not_null: list[Action] = []
        if column.unique:
            after_not_null.append(
                AddUniqueUsingIndex(
                    table=qualified, name=self._unique_name(), index=self._unique_index()
                )
            )
        contract = ColumnContract(
            column=self._temp(),
            final_name=column.name,
            operation=self.name,
            description=f"make {column.name} final on {table.name}",
            validate=validate,
            not_null_check=None if checked.nullable else self._not_null_name(),
            triggers=self._triggers() if checked.fill is not None else (),
            function=self._function() if checked.fill is not None else None,
            after_not_null=after_not_null,
            after_rename=self._make_identity(checked, table),
        )
        steps = contract_column_steps(table, contract)
        if not checked.nullable and checked.default is None:
            return warn_old_inserts_fail(steps, table.name, column.name, "is NOT NULL")
        return steps

    def _make_identity(self, checked: AddColumnChecked, table: Table) -> list[Action]:
        """At complete, on the NOT NULL column under its final name: the identity takes the place
        of the stand-in sequence's default, going on from the stand-in's last value."""
        column = self.spec.column
        if column.identity is None:
            return []
        assert checked.sequence is not None
        qualified, name, schema = table.qualified, column.name, table.schema
        return [
            DropDefault(table=qualified, column=name),
            AddIdentity(table=qualified, column=name, generation=column.identity.replace("_", " ")),
            ResumeIdentity(table=qualified, column=name, schema=schema, sequence=checked.sequence),
            DropSequence(schema=schema, name=checked.sequence, if_exists=False),
            DropFunction(function=self._next_function(table), if_exists=False),
        ]

    def rollback(self, checked: AddColumnChecked, before: Schema, after: Schema) -> list[Step]:
        table = self._table(before)
        qualified = table.qualified
        steps: list[Step] = []
        if self.spec.column.unique:
            steps.append(
                drop_index_concurrently_step(
                    table,
                    self._unique_index(),
                    description=f"drop the unique index for {self.spec.column.name} concurrently",
                    operation=self.name,
                )
            )
        actions: list[Action] = []
        if checked.fill is not None:
            actions += [DropTrigger(table=qualified, name=trigger) for trigger in self._triggers()]
            actions.append(self._log().drop_trigger(table))
        actions.append(DropColumn(table=qualified, column=self._temp()))
        if checked.sequence is not None:
            actions.append(DropSequence(schema=table.schema, name=checked.sequence))
        if self.spec.column.identity is not None:
            actions.append(DropFunction(function=self._next_function(table)))
        if checked.fill is not None:
            actions += [DropFunction(function=self._function()), self._log().drop()]
        tables = [qualified]
        if self.spec.column.references is not None:
            tables.append(before.table(self.spec.column.references.table).qualified)
        steps.append(
            Step(
                f"remove column {self._temp()} and what start made for it",
                actions=tuple(actions),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=tuple(tables),
                operation=self.name,
                notes=("metadata only: the dropped column's space is reclaimed by later writes",),
            )
        )
        return steps
