"""add_constraint: check / unique / foreign key / primary key / exclusion, without a long lock
where PostgreSQL has a way (an exclusion constraint has none: it says so, or is refused)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import AddConstraint, AlterColumn, Check, KeyName
from liveshift.operations.actions import Action
from liveshift.operations.actions.columns import SetNotNull
from liveshift.operations.actions.constraints import (
    AddCheck,
    AddConstraintUsingIndex,
    AddExclusion,
    AddNotNullCheck,
    CreateIndex,
    DropConstraint,
    ExclusionElement,
    IndexKey,
    ValidateConstraint,
)
from liveshift.operations.alter_column import AlterColumnChecked, AlterColumnOperation
from liveshift.operations.base import CheckedOperation, short_name
from liveshift.operations.objects import (
    physical_expression,
    refuse_reserved,
    refuse_taken_not_null_check,
    refuse_taken_relation_name,
)
from liveshift.operations.steps import (
    concurrent_index_step,
    drop_index_concurrently_step,
    foreign_key_not_valid_step,
    validate_constraint_step,
)
from liveshift.plan import LockMode, Step
from liveshift.schema import Constraint, Index, Schema, Table
from liveshift.sqlexpr import check_expression

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


KINDS = {"check": "c", "unique": "u", "foreign_key": "f", "primary_key": "p", "exclude": "x"}
EXCLUDE_LOCK = (
    "PostgreSQL cannot add an exclusion constraint NOT VALID nor USING INDEX: it builds the index "
    "under ACCESS EXCLUSIVE, so reads and writes of {table} wait for the whole build "
    "(~{rows} rows)"
)


@dataclass(frozen=True)
class ConstraintChecked:
    """Resolved in validate: physical column names, the check over them, the referenced table."""

    columns: list[str]
    condition: str | None
    target: tuple[str, list[str]] | None  # (qualified table, physical columns in key order)
    include: list[str]  # physical
    exclusion: AddExclusion | None
    not_null: list[str]  # a primary key's columns that are nullable now


# With `up`/`down`, the change is alter_column's (a new column filled from `up`, carrying the
# constraint), which this operation runs: validate returns what alter_column found.
AddConstraintChecked = ConstraintChecked | AlterColumnChecked


class AddConstraintOperation(CheckedOperation[AddConstraint, AddConstraintChecked]):
    """Expand: a check or foreign key is added NOT VALID (enforced for every new write, of either
    version, with no scan); a unique or primary key constraint's index is built concurrently (a
    primary key's nullable columns get a NOT VALID `IS NOT NULL` check first); an exclusion
    constraint is added as it is, under ACCESS EXCLUSIVE for its index build (PostgreSQL has no
    other way), only on an empty table or with `build_under_lock: true`. Contract: VALIDATE
    CONSTRAINT (SHARE UPDATE EXCLUSIVE: reads and writes go on during the scan), or ADD CONSTRAINT
    ... UNIQUE / PRIMARY KEY USING INDEX (catalog only; SET NOT NULL uses the validated checks).
    Rollback drops what start made."""

    name = "add_constraint"

    def validate(self, schema: Schema, probe: Probe) -> AddConstraintChecked:
        spec = self.spec
        table = schema.table(spec.table)
        refuse_reserved(spec.name, "constraint")
        if spec.name in table.constraints:
            raise ValidationError(
                f"constraint {spec.name!r} already exists on table {table.name}",
                object=f"{schema.name}.{table.name}.{spec.name}",
                hint="Choose another name, or drop_constraint the existing one first.",
            )
        if spec.type in ("unique", "primary_key", "exclude"):
            # Its index takes the constraint's name, and index names share the relation namespace.
            refuse_taken_relation_name(schema, probe, spec.name, "add_constraint")
        if spec.up is not None or spec.down is not None:
            return self._fixer().validate(schema, probe)
        columns = [table.column(c).physical for c in spec.columns]
        if len(set(spec.columns)) != len(spec.columns):
            raise ValidationError(
                f"add_constraint {spec.name}: a column is listed twice",
                object=f"{schema.name}.{table.name}.{spec.name}",
            )
        condition: str | None = None
        target: tuple[str, list[str]] | None = None
        include = [table.column(c).physical for c in spec.include]
        exclusion: AddExclusion | None = None
        not_null: list[str] = []
        if spec.type == "primary_key":
            not_null = self._validate_primary_key(schema, table, probe, columns)
        if spec.type == "exclude":
            exclusion = self._validate_exclusion(table, probe, columns)
        if spec.type == "check":
            assert spec.check is not None  # the file format requires it
            check_expression(spec.check, "check")
            condition = physical_expression(table, spec.check, "check")
            probe.condition_fits(table, condition, {}, f"the check `{spec.check}`")
        if spec.type == "foreign_key":
            ref = spec.references
            assert ref is not None  # the file format requires it, as many as `columns:`
            referenced_table = schema.table(ref.table)
            referenced = [referenced_table.column(c).physical for c in ref.targets]
            if len(set(referenced)) != len(referenced):
                raise ValidationError(
                    f"add_constraint {spec.name}: a referenced column is listed twice",
                    object=f"{schema.name}.{table.name}.{spec.name}",
                )
            refuse_without_unique_key(schema, referenced_table, ref.targets, spec.name)
            target = (referenced_table.qualified, referenced)
        kind = KINDS[spec.type]
        table.constraints[spec.name] = Constraint(
            spec.name,
            kind,
            list(columns),
            definition=condition or "",
            referenced_table=spec.references.table if spec.references else None,
        )
        if spec.type in ("unique", "primary_key"):
            primary = spec.type == "primary_key"
            table.indexes[spec.name] = Index(spec.name, list(columns), unique=True, primary=primary)
        if spec.type == "primary_key":
            for column in table.columns.values():
                if column.physical in columns:
                    column.nullable = False
        if spec.type == "exclude":
            table.indexes[spec.name] = Index(spec.name, list(columns))
        return ConstraintChecked(columns, condition, target, include, exclusion, not_null)

    def _validate_primary_key(
        self, schema: Schema, table: Table, probe: Probe, columns: list[str]
    ) -> list[str]:
        """The key's columns that are nullable now (each gets a NOT VALID not-null check)."""
        spec = self.spec
        where = f"{schema.name}.{table.name}.{spec.name}"
        existing = next((c.name for c in table.constraints.values() if c.kind == "p"), None)
        if existing is not None:
            raise ValidationError(
                f"table {table.name} already has a primary key, {existing}",
                object=where,
                hint="A table has one primary key: add this one as `type: unique`, or replace "
                f"the key in two migrations (drop_constraint {existing}, then this one).",
            )
        by_physical = table.columns_by_physical()
        not_null = [c for c in columns if by_physical[c].nullable]
        for c in not_null:
            refuse_taken_not_null_check(schema, table, self._not_null_check(c))
        if not not_null or not _in_catalog(probe, table):
            return not_null
        if probe.holds_nulls(table, not_null, f"the columns of primary key {spec.name}"):
            named = ", ".join(by_physical[c].name for c in not_null)
            raise ValidationError(
                f"primary key {spec.name}: some rows of {table.name} hold NULL in {named}, and "
                "a primary key's columns are NOT NULL",
                object=where,
                hint="Fill them first (an alter_column with `nullable: false` and `up:` in an "
                "earlier migration, or a raw_sql UPDATE), then add the key.",
            )
        return not_null

    def _validate_exclusion(self, table: Table, probe: Probe, columns: list[str]) -> AddExclusion:
        """The exclusion constraint's action; its plain columns are added to `columns`."""
        spec = self.spec
        elements = []
        for element in spec.elements:
            if element.column is not None:
                physical = table.column(element.column).physical
                columns.append(physical)
                elements.append(
                    ExclusionElement(
                        column=physical, opclass=element.opclass, operator=element.operator
                    )
                )
            else:
                assert element.expression is not None  # the file format requires one of them
                check_expression(element.expression, "exclusion element")
                elements.append(
                    ExclusionElement(
                        expression=physical_expression(table, element.expression, "element"),
                        opclass=element.opclass,
                        operator=element.operator,
                    )
                )
        where = None
        if spec.where is not None:
            check_expression(spec.where, "where")
            where = physical_expression(table, spec.where, "where")
        exclusion = AddExclusion(
            table=table.qualified,
            name=spec.name,
            using=spec.using,
            elements=tuple(elements),
            where=where,
        )
        # The server judges operators, operator classes and the method on an empty copy of the
        # model's columns, in a transaction rolled back.
        probe.exclusion_fits(table, exclusion, f"exclusion constraint {spec.name}")
        if not spec.build_under_lock and _in_catalog(probe, table) and probe.has_rows(table):
            raise ValidationError(
                f"exclusion constraint {spec.name}: "
                + EXCLUDE_LOCK.format(table=table.name, rows=table.estimated_rows),
                object=f"{table.schema}.{table.name}.{spec.name}",
                hint="Add `build_under_lock: true` to accept that stall (e.g. in a maintenance "
                "window, or for a small table), or add the constraint when the table is created.",
            )
        return exclusion

    def _fixer(self) -> AlterColumnOperation:
        """The alter_column that makes this constraint when it has `up`/`down`."""
        return AlterColumnOperation(self._fixing_column(), self.names)

    def _fixing_column(self) -> AlterColumn:
        """This constraint as alter_column's: the one column, fixed by `up`, carrying it."""
        spec = self.spec
        (column,) = spec.columns  # the file format requires one with `up`/`down`
        ref = spec.references
        return AlterColumn(
            table=spec.table,
            column=column,
            up=spec.up,
            down=spec.down,
            check=Check(constraint=spec.check, name=spec.name) if spec.check else None,
            unique=KeyName(name=spec.name) if spec.type == "unique" else None,
            references=ref.model_copy(update={"name": spec.name}) if ref else None,
            backfill_triggers=spec.backfill_triggers,
        )

    def start_after_backfills(
        self, checked: AddConstraintChecked, before: Schema, after: Schema
    ) -> list[Step]:
        if isinstance(checked, AlterColumnChecked):
            return self._ours(self._fixer().start_after_backfills(checked, before, after))
        return []

    def _ours(self, steps: list[Step]) -> list[Step]:
        # The plan and the journal name the operation the file wrote.
        return [dataclasses.replace(s, operation=self.name) for s in steps]

    def _not_null_check(self, column: str) -> str:
        # What a client writing a NULL meanwhile reads: its table and column.
        return short_name(self.spec.table, column, "not_null_check")

    def _table(self, schema: Schema) -> Table:
        return schema.table(self.spec.table)

    def _tables(self, checked: ConstraintChecked, table: Table) -> tuple[str, ...]:
        return (table.qualified, checked.target[0]) if checked.target else (table.qualified,)

    def start(self, checked: AddConstraintChecked, before: Schema, after: Schema) -> list[Step]:
        if isinstance(checked, AlterColumnChecked):
            return self._ours(self._fixer().start(checked, before, after))
        spec = self.spec
        table = self._table(before)
        if spec.type in ("unique", "primary_key"):
            checks = [
                Step(
                    f"add check {self._not_null_check(c)} (not valid): {c} is not null for new "
                    "writes",
                    actions=(
                        AddNotNullCheck(
                            table=table.qualified, name=self._not_null_check(c), column=c
                        ),
                    ),
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=(table.qualified,),
                    operation=self.name,
                    notes=("metadata only: no scan",),
                )
                for c in checked.not_null
            ]
            return [
                *checks,
                concurrent_index_step(
                    table,
                    spec.name,
                    CreateIndex(
                        table=table.qualified,
                        name=spec.name,
                        keys=tuple(IndexKey(column=c) for c in checked.columns),
                        unique=True,
                        include=tuple(checked.include),
                    ),
                    description=f"build the unique index for constraint {spec.name} concurrently",
                    operation=self.name,
                ),
            ]
        if spec.type == "exclude":
            assert checked.exclusion is not None
            return [
                Step(
                    f"add exclusion constraint {spec.name} to {table.name}",
                    actions=(checked.exclusion,),
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=(table.qualified,),
                    scans=True,
                    estimated_rows=table.estimated_rows,
                    operation=self.name,
                    notes=(EXCLUDE_LOCK.format(table=table.name, rows=table.estimated_rows),),
                )
            ]
        if spec.type == "check":
            return [
                Step(
                    f"add check {spec.name} to {table.name} (not valid: new writes only)",
                    actions=(
                        AddCheck(
                            table=table.qualified, name=spec.name, condition=checked.condition or ""
                        ),
                    ),
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=(table.qualified,),
                    operation=self.name,
                    notes=("metadata only: no scan",),
                )
            ]
        assert spec.references is not None and checked.target is not None
        ref = spec.references
        return [
            foreign_key_not_valid_step(
                table,
                spec.name,
                checked.columns,
                checked.target[0],
                checked.target[1],
                on_delete=ref.on_delete,
                on_update=ref.on_update,
                description=f"add foreign key {spec.name} to {table.name} (not valid: new writes only)",
                operation=self.name,
                notes=("metadata only: no scan",),
            )
        ]

    def complete(self, checked: AddConstraintChecked, before: Schema, after: Schema) -> list[Step]:
        if isinstance(checked, AlterColumnChecked):
            return self._ours(self._fixer().complete(checked, before, after))
        spec = self.spec
        table = self._table(before)
        if spec.type == "exclude":
            return []
        if spec.type in ("unique", "primary_key"):
            kind = "unique" if spec.type == "unique" else "primary key"
            final: list[Action] = [
                SetNotNull(table=table.qualified, column=c) for c in checked.not_null
            ]
            final += [
                DropConstraint(table=table.qualified, name=self._not_null_check(c))
                for c in checked.not_null
            ]
            final.append(
                AddConstraintUsingIndex(
                    table=table.qualified,
                    name=spec.name,
                    index=spec.name,
                    primary=spec.type == "primary_key",
                )
            )
            validations = [
                validate_constraint_step(
                    table.qualified,
                    self._not_null_check(c),
                    operation=self.name,
                    estimated_rows=table.estimated_rows,
                )
                for c in checked.not_null
            ]
            return [
                *validations,
                Step(
                    f"turn the unique index {spec.name} into a {kind} constraint",
                    actions=tuple(final),
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=(table.qualified,),
                    operation=self.name,
                    notes=(
                        "metadata only: the index is already built and valid"
                        + (
                            "; the validated checks spare SET NOT NULL its scan"
                            if checked.not_null
                            else ""
                        ),
                    ),
                ),
            ]
        return [
            Step(
                f"validate constraint {spec.name} on {table.name}",
                actions=(ValidateConstraint(table=table.qualified, name=spec.name),),
                lock=LockMode.SHARE_UPDATE_EXCLUSIVE,
                tables=self._tables(checked, table),
                scans=True,
                estimated_rows=table.estimated_rows,
                operation=self.name,
                notes=("scans the table; reads and writes continue",),
                reversible=True,
            )
        ]

    def rollback(self, checked: AddConstraintChecked, before: Schema, after: Schema) -> list[Step]:
        if isinstance(checked, AlterColumnChecked):
            return self._ours(self._fixer().rollback(checked, before, after))
        spec = self.spec
        table = self._table(before)
        if spec.type in ("unique", "primary_key"):
            return [
                drop_index_concurrently_step(
                    table,
                    spec.name,
                    description=f"drop the unique index {spec.name} concurrently",
                    operation=self.name,
                ),
                *(
                    Step(
                        f"drop check {self._not_null_check(c)}",
                        actions=(
                            DropConstraint(
                                table=table.qualified,
                                name=self._not_null_check(c),
                                if_exists=True,
                                table_if_exists=True,
                            ),
                        ),
                        lock=LockMode.ACCESS_EXCLUSIVE,
                        tables=(table.qualified,),
                        operation=self.name,
                    )
                    for c in checked.not_null
                ),
            ]
        return [
            Step(
                f"drop constraint {spec.name} from {table.name}",
                actions=(
                    DropConstraint(
                        table=table.qualified, name=spec.name, if_exists=True, table_if_exists=True
                    ),
                ),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=self._tables(checked, table),
                operation=self.name,
            )
        ]


def _in_catalog(probe: Probe, table: Table) -> bool:
    """Whether the table exists yet (not one an earlier operation of the migration creates)."""
    return probe.table_in_catalog(table)


def refuse_without_unique_key(schema: Schema, target: Table, names: list[str], name: str) -> None:
    """PostgreSQL lets a foreign key reference only columns that a primary key, a unique
    constraint or a unique non-partial index covers exactly (in any order): refuse before start
    rather than fail there. The model has what earlier operations of the migration made too."""
    physical = [target.column(n).physical for n in names]
    wanted = set(physical)
    keys = [(c.name, c.columns) for c in target.constraints.values() if c.kind in ("p", "u")] + [
        (i.name, i.columns) for i in target.indexes.values() if i.unique and not i.partial
    ]
    if any(set(key) == wanted and len(key) == len(physical) for _, key in keys):
        return
    listed = ", ".join(names)
    known = "; ".join(sorted({f"{key_name} ({', '.join(key)})" for key_name, key in keys}))
    raise ValidationError(
        f"add_constraint {name}: no primary key, unique constraint or unique index of table "
        f"{target.name} covers exactly ({listed}), and PostgreSQL lets a foreign key reference "
        "only such a key",
        object=f"{schema.name}.{target.name}",
        hint=f"Add a unique constraint on {target.name} ({listed}) first: an add_constraint "
        f"`type: unique, columns: [{listed}]` before this operation, in this migration or an "
        "earlier one. "
        + (f"Its keys now: {known}." if known else f"{target.name} has no key now."),
    )
