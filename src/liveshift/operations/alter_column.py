"""alter_column: change a column's type, nullability, default, unique, check, references or name
while old and new application versions both keep working."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import AlterColumn, key_name
from liveshift.operations.base import ColumnConstraintNames, Operation
from liveshift.operations.carry_over import CARRIED_KINDS, CarryOver
from liveshift.operations.column_dependencies import column_dependents, has_rows_where
from liveshift.operations.objects import refuse_taken_constraint_name, refuse_taken_not_null_check
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
from liveshift.triggers import SKIP_BACKFILL, ChangeLog, on_version

if TYPE_CHECKING:
    from liveshift.probe import Probe


class AlterColumnOperation(Operation[AlterColumn]):
    """A type change that would rewrite the table is made on a new column (`_ls_new_<col>`) kept in
    step with the old one by a two-way trigger (`up` for old-version writes, `down` for new-version
    writes) and filled by a batched backfill; complete swaps the columns. The new column carries
    the old one's indexes, keys, constraints, the foreign keys pointing at it and its serial or
    identity sequence over (carry_over.py). A binary-coercible type change (varchar widening,
    varchar -> text) is applied in place, catalog only. NOT NULL goes through a NOT VALID check
    validated at complete; unique through an index built concurrently; check and foreign key as
    NOT VALID constraints validated at complete; a rename is a view alias until complete."""

    name = "alter_column"

    # Facts found in validate() that planning needs.
    old: Column
    new: Column
    swap: bool = False  # the change goes through a new column
    fill_nulls: bool = False  # ... because NOT NULL needs `up` for NULLs, not for a type change
    direct_type: bool = False  # the type change is applied in place (binary coercible)
    up: str | None = None  # over the old shape's names
    down: str | None = None  # over the new shape's names
    set_not_null: bool = False
    drop_not_null: bool = False
    set_default: bool = False
    drop_default: bool = False
    add_unique: bool = False
    drop_unique: str | None = None  # the unique constraint to drop at complete
    carry: CarryOver | None = None  # what the new column takes over from the old one
    old_comment: str | None = None  # the column's comment before the migration
    new_comment: str | None = None  # ... and after it
    triggers = BackfillTriggers()  # whether the table's own triggers fire for the backfill

    def validate(self, schema: Schema, probe: Probe) -> None:
        spec = self.spec
        table = schema.table(spec.table)
        column = table.column(spec.column)
        where = f"{table.schema}.{table.name}.{spec.column}"
        before = table.columns.copy()
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
        if column.generated and (
            spec.type is not None or spec.default is not None or spec.drop_default
        ):
            raise ValidationError(
                f"column {spec.table}.{spec.column} is generated: liveshift cannot change its "
                "type or default",
                object=where,
                hint="Use raw_sql for this change.",
            )
        if column.identity and (spec.default is not None or spec.drop_default):
            raise ValidationError(
                f"column {spec.table}.{spec.column} is an identity column: its values come from "
                "its sequence, liveshift cannot give it a default",
                object=where,
                hint="Use raw_sql (ALTER COLUMN ... DROP IDENTITY) for this change.",
            )
        if spec.nullable is True and (
            column.identity or column.physical in (table.primary_key() or [])
        ):
            kind = "an identity column" if column.identity else "part of the primary key"
            raise ValidationError(
                f"column {spec.table}.{spec.column} is {kind}: it cannot become nullable",
                object=where,
                hint="Drop `nullable: true`.",
            )
        final = spec.name or spec.column
        if spec.name is not None and spec.name != spec.column:
            if spec.name in table.columns:
                raise ValidationError(
                    f"column {spec.name!r} already exists in table {table.schema}.{table.name}",
                    object=f"{table.schema}.{table.name}.{spec.name}",
                    hint="Choose another `name:`.",
                )
            if spec.name.startswith("_ls_"):
                raise ValidationError(
                    f"column names starting with _ls_ are reserved for liveshift ({spec.name!r})",
                    hint="Choose another name.",
                )
        self.old = Column(**vars(column))
        new_type = column.type
        if spec.type is not None:
            new_type = probe.type_exists(spec.type)
        type_changes = new_type != column.type
        nullable = column.nullable if spec.nullable is None else spec.nullable
        if type_changes:
            self.swap = (
                spec.up is not None
                or spec.down is not None
                or _rewrites(probe, column.type, new_type)
                # Even without a rewrite, ALTER COLUMN TYPE checks these again under its
                # ACCESS EXCLUSIVE lock: the new column carries them over without it.
                or bool(_checked_again(probe, table, column.physical))
            )
            self.direct_type = not self.swap
        elif column.nullable and not nullable and spec.up is not None:
            # Filling NULLs in place could not be rolled back exactly: fill a new column.
            self.swap = self.fill_nulls = True
        elif spec.up is not None or spec.down is not None:
            # Values fixed without a type change (e.g. before a unique or check applies): the new
            # version sees `up` of every row in a new column; old clients write through `down`.
            self.swap = True
        default = column.default
        self.carry = None
        if spec.default is not None:
            check_expression(spec.default, "default")
            default = spec.default
        elif spec.drop_default:
            default = None
        self.new = Column(
            name=final,
            type=new_type,
            nullable=nullable,
            default=default,
            physical=self.names.temp_column(spec.column) if self.swap else column.physical,
            identity=column.identity,
        )
        old_names = {c.name: c.physical for c in before.values()}
        unique_now = self._unique_constraint(table, column.physical)
        if spec.sets_comment or self.swap:
            # The new column carries the comment over; rollback puts the old one back.
            self.old_comment = probe.column_comment(table, column.physical)
        self.new_comment = (spec.comment or None) if spec.sets_comment else self.old_comment
        if self.swap:
            self._validate_swap(
                schema,
                table,
                column,
                probe,
                old_names,
                unique_now if spec.unique is False else None,
            )
        else:
            self.set_not_null = column.nullable and not nullable
            if self.set_not_null:
                self._validate_set_not_null(table, column, probe, old_names)
            if spec.name is not None and spec.name != spec.column:
                self._refuse_views(table, column, probe)
            if self.direct_type:
                self._refuse_type_dependents(table, column, probe)
        # New clients may write NULL: the old column must take it too (with the new one it
        # goes away at complete; without, this is the change itself).
        self.drop_not_null = not column.nullable and nullable
        self.set_default = spec.default is not None
        self.drop_default = spec.drop_default and column.default is not None
        if default is not None and (spec.default is not None or self.swap):
            probe.expression_fits(
                table,
                default,
                new_type,
                f"the default `{default}`",
                column=f"{table.name}.{final}",
            )
        if spec.unique is not None and spec.unique is not False:
            self.add_unique = unique_now is None  # with a new column, it carries the old one
            self._refuse_unique_name(schema, table, probe, unique_now)
        elif spec.unique is False and not self.swap:
            self.drop_unique = unique_now
        # The new shape, as the next operation and the version views see it.
        table.columns = {
            (final if name == spec.column else name): (self.new if name == spec.column else col)
            for name, col in table.columns.items()
        }
        new_names = {c.name: c.physical for c in table.columns.values()}
        if spec.check is not None:
            condition = rewrite_columns(spec.check.constraint, new_names, what="check")
            probe.condition_fits(table, condition, {}, f"the check `{spec.check.constraint}`")
        if spec.references is not None:
            target = schema.table(spec.references.table)
            target.column(spec.references.target_column)
        if self.swap:
            self._validate_down(table, probe, new_names)
        if self.up is not None:
            self.triggers = backfill_triggers(
                table,
                self.new.physical,
                spec.backfill_triggers,
                probe,
                what=f"the backfill of {table.name}.{final}",
            )

    # -- validation helpers -----------------------------------------------------------------

    def _validate_swap(
        self,
        schema: Schema,
        table: Table,
        column: Column,
        probe: Probe,
        old_names: dict[str, str],
        drop_unique: str | None,
    ) -> None:
        spec = self.spec
        where = f"{table.schema}.{table.name}.{spec.column}"
        dependents = [
            d
            for d in column_dependents(probe, table, column.physical)
            if d.kind not in CARRIED_KINDS
        ]
        if dependents:
            raise ValidationError(
                f"cannot change {table.name}.{spec.column} through a new column (a type change "
                "that would rewrite the table, or NULLs to fill) while these objects depend on "
                "it: the new column carries indexes and primary key, unique, check and foreign "
                "key constraints over, not these",
                object=where,
                details=[d.describe() for d in dependents],
                hint="Drop them in an earlier migration and create them again after this one, "
                "or use raw_sql.",
            )
        self.carry = CarryOver.plan(
            probe,
            schema,
            table,
            old=column.physical,
            new=self.new.physical,
            new_type=self.new.type,
            names=self.names,
            operation=self.name,
            drop_unique=drop_unique,
        )
        old_row = {name: table.columns[name].type for name in old_names}
        up = spec.up
        if up is not None and self.fill_nulls:
            check_expression(up, "up")
            up = f"coalesce({quote_ident(spec.column)}, {up})"
        if up is None:
            up = quote_ident(spec.column)
            if not _fits(probe, old_row, up, self.new.type, (table.name, self.new.name)):
                raise ValidationError(
                    f"{column.type} does not convert to {self.new.type} implicitly: say how old "
                    f"values become new ones",
                    object=where,
                    hint=f'Give `up:`, an SQL expression over the old columns, e.g. `up: "'
                    f'{spec.column}::{self.new.type}"`, and `down:` for the way back, e.g. '
                    f'`down: "{self.new.name}::{column.type}"`.',
                )
        else:
            check_expression(up, "up")
            _fits(probe, old_row, up, self.new.type, (table.name, self.new.name), raise_for="up")
        self.up = up
        if not self.fill_nulls:
            self._refuse_misfits(table, probe, rewrite_columns(up, old_names, what="up"))
        if (
            not self.new.nullable
            and column.nullable
            and has_rows_where(
                probe,
                table,
                "(" + rewrite_columns(up, old_names, what="up") + ") is null",
            )
        ):
            raise ValidationError(
                f"{table.name}.{spec.column} becomes NOT NULL but `up` gives NULL for some rows",
                object=where,
                hint=f'Make `up` give a value for them, e.g. `up: "coalesce({spec.column}, 0)"`.',
            )

    def _refuse_misfits(self, table: Table, probe: Probe, up: str) -> None:
        """A narrowing change (varchar(20) -> varchar(10), numeric(10,2) -> numeric(8,2), text ->
        varchar(5)) is refused while existing rows hold values the new type does not take:
        the backfill would stop at the first one, half done."""
        spec = self.spec
        misfits = probe.misfits(
            table, up, self.new.type, f"the new value of every row of {table.name}.{spec.column}"
        )
        if misfits:
            rows = "1 row" if misfits == 1 else f"{misfits} rows"
            example = ""
            if "char" in self.new.type:
                example = f' (e.g. `up: "left({spec.column}, n)"`)'
            elif "numeric" in self.new.type:
                example = f' (e.g. `up: "round({spec.column}, n)"`)'
            raise ValidationError(
                f"{rows} of {table.name} hold a value of {spec.column} that does not fit "
                f"{self.new.type}" + (" (as `up` computes it)" if spec.up is not None else ""),
                object=f"{table.schema}.{table.name}.{spec.column}",
                hint="Change or delete those rows first, or give `up:` that makes every value "
                f"fit{example}.",
            )

    def _validate_down(self, table: Table, probe: Probe, new_names: dict[str, str]) -> None:
        spec = self.spec
        where = f"{table.schema}.{table.name}.{spec.column}"
        row = {name: table.columns[name].type for name in new_names}
        down = spec.down
        if down is None:
            down = quote_ident(self.new.name)
            if not _fits(probe, row, down, self.old.type, (table.name, self.old.name)):
                raise ValidationError(
                    f"{self.new.type} does not convert back to {self.old.type} implicitly: say "
                    "how values new clients write become values old clients read",
                    object=where,
                    hint=f'Give `down:`, an SQL expression over the new columns, e.g. `down: "'
                    f'{self.new.name}::{self.old.type}"`.',
                )
        else:
            check_expression(down, "down")
            _fits(probe, row, down, self.old.type, (table.name, self.old.name), raise_for="down")
        self.down = down

    def _validate_set_not_null(
        self, table: Table, column: Column, probe: Probe, old_names: dict[str, str]
    ) -> None:
        spec = self.spec
        if has_rows_where(probe, table, f"{quote_ident(column.physical)} is null"):
            raise ValidationError(
                f"{table.name}.{spec.column} becomes NOT NULL but some rows hold NULL",
                object=f"{table.schema}.{table.name}.{spec.column}",
                hint="Give `up:`, an SQL expression computing the value for those rows (and for "
                f'NULLs old clients write meanwhile), e.g. `up: "0"` or `up: "coalesce('
                f'{spec.column}, created_at::text)"`.',
            )

    def _refuse_views(self, table: Table, column: Column, probe: Probe) -> None:
        views = [
            d
            for d in column_dependents(probe, table, column.physical)
            if d.kind in ("view", "materialized view")
        ]
        if views:
            raise ValidationError(
                f"cannot rename {table.name}.{self.spec.column}: views use it",
                object=f"{table.schema}.{table.name}.{self.spec.column}",
                details=[d.describe() for d in views],
                hint="Those views would keep showing the column under its old name. Recreate "
                "them after the rename (raw_sql), or drop them first.",
            )

    def _refuse_type_dependents(self, table: Table, column: Column, probe: Probe) -> None:
        """PostgreSQL refuses ALTER COLUMN TYPE of a column that views, rules, triggers, policies
        or generated columns use: say so now rather than fail part-way through start (liveshift's
        own version views are made again around the change)."""
        blocking = ("view", "materialized view", "trigger", "policy", "generated column")
        found = [d for d in column_dependents(probe, table, column.physical) if d.kind in blocking]
        if found:
            raise ValidationError(
                f"cannot change the type of {table.name}.{self.spec.column}: PostgreSQL does not "
                "change the type of a column these objects use",
                object=f"{table.schema}.{table.name}.{self.spec.column}",
                details=[d.describe() for d in found],
                hint="Drop them in an earlier migration (raw_sql with `down:`) and create them "
                "again after this one.",
            )

    @staticmethod
    def _unique_constraint(table: Table, physical: str) -> str | None:
        for constraint in table.constraints.values():
            if constraint.kind == "u" and constraint.columns == [physical]:
                return constraint.name
        return None

    # -- names --------------------------------------------------------------------------------

    def _constraint_names(self) -> ColumnConstraintNames:
        return ColumnConstraintNames(self.spec.table, self.new.name)

    def _nn(self) -> str:
        return self._constraint_names().not_null_check()

    def _check_name(self) -> str:
        check = self.spec.check
        return self._constraint_names().check(check.name if check else None)

    def _fk_name(self) -> str:
        ref = self.spec.references
        return self._constraint_names().foreign_key(ref.name if ref else None)

    def _unique_name(self) -> str:
        return self._constraint_names().unique(key_name(self.spec.unique))

    def _refuse_unique_name(
        self, schema: Schema, table: Table, probe: Probe, unique_now: str | None
    ) -> None:
        """`unique: {name}` names the constraint this operation adds: free, or already it."""
        chosen = key_name(self.spec.unique)
        if chosen is None or chosen == unique_now:
            return
        if unique_now is not None:
            raise ValidationError(
                f"{table.name}.{self.spec.column} is already unique, under constraint "
                f"{unique_now!r}, not {chosen!r}",
                object=f"{schema.name}.{table.name}.{unique_now}",
                hint=f"Rename it: a rename_constraint `{{table: {table.name}, from: {unique_now}, "
                f"to: {chosen}}}` (and `unique: true` here, or none).",
            )
        refuse_taken_constraint_name(schema, table, probe, chosen, "the unique constraint")

    def _trigger(self) -> str:
        return self.names.object("trg", self.spec.table, self.spec.column)

    def _function(self) -> str:
        return self.names.function(self.spec.table, self.spec.column)

    def _has_trigger(self) -> bool:
        return self.swap

    def _log(self) -> ChangeLog:
        """The change log that stands in for the trigger's UPDATE half while the backfill runs."""
        return self.names.change_log(self.spec.table, self.spec.column)

    def _logged_key(self, table: Table) -> tuple[str, ...] | None:
        """The key the change log records (the backfill's); None: no log, because there is no
        backfill, or the table has no key to find a logged row by (the trigger then fires on
        UPDATE from the start)."""
        return table.backfill_key() if self.up is not None else None

    # -- phases -------------------------------------------------------------------------------

    def start(self, before: Schema, after: Schema) -> list[Step]:
        spec = self.spec
        table = before.table(spec.table)
        qualified = table.qualified
        target = quote_ident(self.new.physical)
        old_names = {c.name: c.physical for c in table.columns.values()}
        new_names = {c.name: c.physical for c in after.table(spec.table).columns.values()}
        clauses: list[str] = []
        extra_sql: list[str] = []
        notes = ["catalog only: no rewrite, no scan"]
        rewrites = False
        if self.swap:
            clauses.append(f"add column {target} {self.new.type}")
        elif self.direct_type:
            clauses.append(f"alter column {target} type {self.new.type}")
            notes = ["binary-coercible type change: catalog only, no rewrite"]
        if self.set_default or (self.swap and self.new.default is not None):
            clauses.append(f"alter column {target} set default {self.new.default}")
        if self.drop_not_null:
            clauses.append(f"alter column {quote_ident(self.old.physical)} drop not null")
        # With a change log, the checks go in with the UPDATE trigger after the backfill: until
        # then an old client's update of a row not yet filled would meet them with no value.
        key = self._logged_key(table)
        if key is None:
            clauses += self._checks(new_names)
        if self.swap:
            extra_sql.append(self._two_way_function(old_names, new_names))
            extra_sql.append(self._two_way_trigger(table, update=key is None))
            if key is not None:
                extra_sql.append(self._log().create(table, target=self.new.physical, key=key))
        steps: list[Step] = []
        if clauses or extra_sql:
            sql = ";\n".join(
                ([f"alter table only {qualified}\n  " + ",\n  ".join(clauses)] if clauses else [])
                + extra_sql
            )
            what = "add column " + self.new.physical if self.swap else f"alter {spec.column}"
            if extra_sql:
                what += " with the trigger that keeps both versions' values in step"
            if key is not None:
                what += " (updates logged until the backfill is done)"
            steps.append(
                Step(
                    f"{what} on {table.name}",
                    sql=sql,
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=(qualified,),
                    rewrites=rewrites,
                    operation=self.name,
                    notes=tuple(notes),
                    retypes=self.direct_type,
                )
            )
        if self._comment_changes():
            steps.append(
                Step(
                    f"set the comment of {table.name}.{self.new.name}",
                    sql=_comment_sql(qualified, self.new.physical, self.new_comment),
                    lock=LockMode.SHARE_UPDATE_EXCLUSIVE,
                    tables=(qualified,),
                    operation=self.name,
                    notes=("catalog only",),
                )
            )
        if self.up is not None:
            steps.append(self._backfill(table, old_names, catch_up_follows=key is not None))
        return steps

    def _comment_changes(self) -> bool:
        """Whether start sets a comment: the one given, or the old one on a new column."""
        if self.swap:
            return self.new_comment is not None
        return self.spec.sets_comment and self.new_comment != self.old_comment

    def start_after_backfills(self, before: Schema, after: Schema) -> list[Step]:
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
        if self._logged_key(table) is not None:
            steps += catch_up_steps(
                table,
                self._backfill(table, old_names, catch_up_follows=True),
                checks=self._checks(new_names),
                update_trigger=self._two_way_trigger(table, update=True),
                log=self._log(),
                column=self.new.physical,
                operation=self.name,
            )
        if spec.references is not None:
            steps.append(
                column_references_step(
                    before, table, self._fk_name(), self.new.physical, spec.references, self.name
                )
            )
        if self.carry is not None:
            steps += self.carry.start_foreign_key_steps()
            steps += self.carry.start_index_steps()
        if self.add_unique:
            steps.append(
                concurrent_index_step(
                    table,
                    self._unique_name(),
                    f"create unique index concurrently {quote_ident(self._unique_name())} "
                    f"on {qualified} ({quote_ident(self.new.physical)})",
                    description=f"build the unique index for {self.new.name} concurrently",
                    operation=self.name,
                )
            )
        return steps

    def _checks(self, new_names: dict[str, str]) -> list[str]:
        """ADD CONSTRAINT clauses of the NOT VALID checks on the column: NOT NULL, the user's
        check, and the checks the new column carries over."""
        spec = self.spec
        target = quote_ident(self.new.physical)
        checks = []
        if (self.swap and not self.new.nullable) or self.set_not_null:
            checks.append(
                f"add constraint {quote_ident(self._nn())} check ({target} is not null) not valid"
            )
        if spec.check is not None:
            condition = rewrite_columns(spec.check.constraint, new_names, what="check")
            checks.append(
                f"add constraint {quote_ident(self._check_name())} check ({condition}) not valid"
            )
        if self.carry is not None:
            checks += self.carry.start_clauses()
        return checks

    def _backfill(self, table: Table, old_names: dict[str, str], *, catch_up_follows: bool) -> Step:
        assert self.up is not None
        return backfill_step(
            table,
            self.new.physical,
            rewrite_columns(self.up, old_names, what="up"),
            description=f"backfill {self.new.physical} for existing rows of {table.name}",
            operation=self.name,
            catch_up_follows=catch_up_follows,
            triggers=self.triggers,
        )

    def _two_way_function(self, old_names: dict[str, str], new_names: dict[str, str]) -> str:
        assert self.up is not None and self.down is not None
        up = rewrite_columns(self.up, old_names, qualifier="new", what="up")
        down = rewrite_columns(self.down, new_names, qualifier="new", what="down")
        new_ref = f"new.{quote_ident(self.new.physical)}"
        old_ref = f"new.{quote_ident(self.old.physical)}"
        before_ref = f"old.{quote_ident(self.new.physical)}"
        # A row the backfill has not reached yet, updated without touching the column: bring the
        # new column up to date instead of writing NULL back into the old one.
        fill_new = f"tg_op = 'UPDATE' and {new_ref} is null and {before_ref} is null"
        if self.carry is not None and self.carry.identity:
            # A new-version insert that leaves the identity column out: the old column got the
            # identity's next value; the new column (no default) takes it over.
            fill_new = f"({fill_new}) or (tg_op = 'INSERT' and {new_ref} is null)"
        return (
            f"create or replace function {self._function()}() returns trigger\n"
            "language plpgsql as $liveshift$\n"
            "begin\n"
            f"  if {on_version(self.names.version_schema)} then\n"
            f"    if {fill_new} then\n"
            f"      {new_ref} := {up};\n"
            "    else\n"
            f"      {old_ref} := {down};\n"
            "    end if;\n"
            "  else\n"
            f"    {new_ref} := {up};\n"
            "  end if;\n"
            "  return new;\n"
            "end\n"
            "$liveshift$"
        )

    def _two_way_trigger(self, table: Table, *, update: bool) -> str:
        """The trigger on INSERT, and on UPDATE unless a change log stands in for that half while
        the backfill runs (the version schema is published after the backfill: until then every
        writer is an old client, whose updates the log records)."""
        events = "insert or update" if update else "insert"
        return (
            f"drop trigger if exists {quote_ident(self._trigger())} on {table.qualified};\n"
            f"create trigger {quote_ident(self._trigger())} before {events} on "
            f"{table.qualified}\n"
            f"  for each row when ({SKIP_BACKFILL}) execute function {self._function()}()"
        )

    def complete(self, before: Schema, after: Schema) -> list[Step]:
        spec = self.spec
        table = before.table(spec.table)
        qualified = table.qualified
        target = quote_ident(self.new.physical)
        not_null = (self.swap and not self.new.nullable) or self.set_not_null
        validate: list[tuple[str, tuple[str, ...]]] = []
        if not_null:
            validate.append((self._nn(), (qualified,)))
        if spec.check is not None:
            validate.append((self._check_name(), (qualified,)))
        if spec.references is not None:
            validate.append(
                (self._fk_name(), (qualified, before.table(spec.references.table).qualified))
            )
        before_not_null: list[str] = []
        after_not_null: list[str] = []
        prepare: list[Step] = []
        tables: tuple[str, ...] = (qualified,)
        if self.carry is not None:
            validate += self.carry.validate_on_table()
            prepare = self.carry.reference_steps()
            before_not_null += self.carry.swap_before_not_null()
            after_not_null += self.carry.swap_drop_old()
            after_not_null += self.carry.swap_take_names()
            tables = self.carry.complete_tables()
        if self.drop_unique is not None and not self.swap:
            after_not_null.append(
                f"alter table only {qualified} drop constraint {quote_ident(self.drop_unique)}"
            )
        if self.add_unique:
            after_not_null.append(
                f"alter table only {qualified} add constraint {quote_ident(self._unique_name())} "
                f"unique using index {quote_ident(self._unique_name())}"
            )
        if self.drop_default and not self.swap:
            after_not_null.append(
                f"alter table only {qualified} alter column {target} drop default"
            )
        contract = ColumnContract(
            column=self.new.physical,
            final_name=self.new.name,
            operation=self.name,
            description=f"make {table.name}.{self.new.name} final",
            validate=validate,
            not_null_check=self._nn() if not_null else None,
            triggers=(self._trigger(),) if self._has_trigger() else (),
            function=self._function() if self._has_trigger() else None,
            before_not_null=before_not_null,
            after_not_null=after_not_null,
            before_final=prepare,
            tables=tables,
            temporary=self.swap,
        )
        steps = contract_column_steps(table, contract)
        if not_null and self.old.nullable and self.new.default is None:
            return warn_old_inserts_fail(steps, table.name, self.new.name, "becomes NOT NULL")
        return steps

    def rollback(self, before: Schema, after: Schema) -> list[Step]:
        spec = self.spec
        table = before.table(spec.table)
        qualified = table.qualified
        column = quote_ident(self.old.physical)
        steps: list[Step] = []
        if self.carry is not None:
            steps += self.carry.rollback_steps()
        if self.add_unique:
            steps.append(
                drop_index_concurrently_step(
                    table,
                    self._unique_name(),
                    description=f"drop the unique index for {self.new.name} concurrently",
                    operation=self.name,
                )
            )
        statements: list[str] = []
        if self._has_trigger():
            statements.append(
                f"drop trigger if exists {quote_ident(self._trigger())} on {qualified}"
            )
        if self._logged_key(table) is not None:
            statements.append(self._log().drop_trigger(table))
        if self.swap:
            statements.append(
                f"alter table only {qualified} drop column if exists "
                f"{quote_ident(self.new.physical)}"
            )
        else:
            for constraint, wanted in (
                (self._nn(), self.set_not_null),
                (self._check_name(), spec.check is not None),
                (self._fk_name(), spec.references is not None),
            ):
                if wanted:
                    statements.append(
                        f"alter table only {qualified} drop constraint if exists "
                        f"{quote_ident(constraint)}"
                    )
            if self.set_default:
                if self.old.default is None:
                    statements.append(
                        f"alter table only {qualified} alter column {column} drop default"
                    )
                else:
                    statements.append(
                        f"alter table only {qualified} alter column {column} set default "
                        f"{self.old.default}"
                    )
            if self._comment_changes():
                statements.append(_comment_sql(qualified, self.old.physical, self.old_comment))
        if self._has_trigger():
            statements.append(f"drop function if exists {self._function()}()")
        if self._logged_key(table) is not None:
            statements += self._log().drop()
        tables = [qualified]
        if spec.references is not None:
            tables.append(before.table(spec.references.table).qualified)
        if self.carry is not None:  # its foreign keys go with the new column
            tables += [t for t in self.carry.referenced_tables if t not in tables]
        if statements:
            steps.append(
                Step(
                    f"undo what start changed on {table.name}.{spec.column}",
                    sql=";\n".join(statements),
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=tuple(tables),
                    operation=self.name,
                    notes=("catalog only",),
                )
            )
        if self.direct_type:
            # Going back to the narrower type is not binary coercible: PostgreSQL checks (and
            # rewrites) every row under ACCESS EXCLUSIVE. It fails if new clients wrote values the
            # old type cannot hold.
            steps.append(
                Step(
                    f"restore the type of {table.name}.{spec.column} to {self.old.type}",
                    sql=f"alter table only {qualified} alter column {column} type {self.old.type}",
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=(qualified,),
                    rewrites=True,
                    scans=True,
                    estimated_rows=table.estimated_rows,
                    operation=self.name,
                    retypes=True,
                )
            )
        if self.drop_not_null:
            steps.extend(self._restore_not_null(table))
        return steps

    def _restore_not_null(self, table: Table) -> list[Step]:
        """NOT NULL back without a long ACCESS EXCLUSIVE scan: NOT VALID check, validate, set."""
        qualified = table.qualified
        column = quote_ident(self.old.physical)
        check = quote_ident(self._nn())
        return [
            Step(
                f"add a NOT VALID not-null check on {table.name}.{self.old.name}",
                sql=f"alter table only {qualified} drop constraint if exists {check};\n"
                f"alter table only {qualified} add constraint {check} check ({column} is not null)"
                " not valid",
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=(qualified,),
                operation=self.name,
            ),
            Step(
                f"validate the not-null check on {table.name}.{self.old.name}",
                sql=f"alter table only {qualified} validate constraint {check}",
                lock=LockMode.SHARE_UPDATE_EXCLUSIVE,
                tables=(qualified,),
                scans=True,
                estimated_rows=table.estimated_rows,
                operation=self.name,
                notes=("fails if new clients wrote NULLs: fill them, or complete instead",),
            ),
            Step(
                f"restore NOT NULL on {table.name}.{self.old.name}",
                sql=f"alter table only {qualified} alter column {column} set not null;\n"
                f"alter table only {qualified} drop constraint if exists {check}",
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=(qualified,),
                operation=self.name,
            ),
        ]

    def describe(self) -> str:
        return f"{self.name} {self.spec.table}.{self.spec.column}"


def _comment_sql(qualified: str, column: str, comment: str | None) -> str:
    text = "null" if comment is None else quote_literal(comment)
    return f"comment on column {qualified}.{quote_ident(column)} is {text}"


def _fits(
    probe: Probe,
    row: dict[str, str],
    expression: str,
    type_name: str,
    target: tuple[str, str],
    raise_for: str | None = None,
) -> bool:
    """Whether `expression`, over a row of the given columns (name -> type), type-checks and
    assigns to `type_name`, the type of the `target` (table, column) the server's refusal names.
    The row comes from the model, not the live table: columns an earlier operation of the
    migration adds or replaces do not exist there yet. With `raise_for`, a refusal raises."""
    columns = ", ".join(f"null::{t} as {quote_ident(n)}" for n, t in row.items())
    table, column = target
    value = quote_ident(f"{table}.{column}")
    statements = [
        f"create temp table _ls_probe ({value} {type_name}) on commit drop",
        f"explain insert into _ls_probe ({value}) select {expression} from "
        f"(select {columns}) as {quote_ident(table)}",
    ]
    if raise_for is not None:
        probe.ask(statements, f"the `{raise_for}` expression `{expression}`")
        return True
    try:
        probe.ask(statements, "the conversion")
    except ValidationError:
        return False
    return True


def _checked_again(probe: Probe, table: Table, physical: str) -> list[str]:
    """What PostgreSQL's ALTER COLUMN TYPE builds or scans again even when the type change is
    binary coercible: the column's CHECK constraints (validated again: a scan) and the indexes
    with an expression or a predicate over it (built again); plain indexes it keeps."""
    rows = probe.ask(
        [
            f"""
with col as (
  select attrelid, attnum from pg_attribute
  where attrelid = {quote_literal(table.qualified)}::regclass and attname = {quote_literal(physical)}
)
select c.relname::text from col, pg_index i join pg_class c on c.oid = i.indexrelid
where i.indrelid = col.attrelid and (i.indexprs is not null or i.indpred is not null)
  and exists (select from pg_depend d where d.classid = 'pg_class'::regclass
              and d.objid = i.indexrelid and d.refobjid = col.attrelid
              and d.refobjsubid = col.attnum)
union all
select con.conname::text from col, pg_constraint con
where con.conrelid = col.attrelid and con.contype = 'c' and con.convalidated
  and col.attnum = any (con.conkey)
"""
        ],
        f"what depends on {table.name}.{physical}",
    )
    return [str(r[0]) for r in rows]


def _rewrites(probe: Probe, old_type: str, new_type: str) -> bool:
    """PostgreSQL's own answer to "does ALTER COLUMN TYPE rewrite the table?", asked of a one-row
    temporary table: the relfilenode changes when it does."""
    try:
        rows = probe.ask(
            [
                f"create temp table _ls_probe (value {old_type}) on commit drop",
                "insert into _ls_probe values (null)",
                "create temp table _ls_probe_file on commit drop as "
                "select relfilenode from pg_class where oid = '_ls_probe'::regclass",
                f"alter table _ls_probe alter column value type {new_type}",
                "select c.relfilenode <> f.relfilenode from pg_class c, _ls_probe_file f "
                "where c.oid = '_ls_probe'::regclass",
            ],
            f"the type change {old_type} -> {new_type}",
        )
    except ValidationError:
        return True  # no implicit conversion at all: certainly not binary coercible
    return bool(rows[0][0])
