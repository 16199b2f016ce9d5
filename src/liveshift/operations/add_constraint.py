"""add_constraint: check / unique / foreign key, added without a long lock, validated at complete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import AddConstraint
from liveshift.operations.base import Operation
from liveshift.operations.objects import (
    physical_expression,
    refuse_reserved,
    refuse_taken_relation_name,
)
from liveshift.operations.steps import (
    concurrent_index_step,
    drop_index_concurrently_step,
    foreign_key_not_valid_step,
)
from liveshift.plan import LockMode, Step
from liveshift.schema import Constraint, Index, Schema, Table, quote_ident
from liveshift.sqlexpr import check_expression

if TYPE_CHECKING:
    from liveshift.probe import Probe


class AddConstraintOperation(Operation[AddConstraint]):
    """Expand: a check or foreign key is added NOT VALID (enforced for every new write, of either
    version, with no scan); a unique constraint's index is built concurrently. Contract: VALIDATE
    CONSTRAINT (SHARE UPDATE EXCLUSIVE: reads and writes go on during the scan), or ADD CONSTRAINT
    ... UNIQUE USING INDEX (catalog only). Rollback drops what start made."""

    name = "add_constraint"

    # Resolved in validate(): physical column names, the check over them, the referenced table.
    columns: list[str]
    condition: str | None
    target: tuple[str, list[str]] | None  # (qualified table, physical columns in key order)

    def validate(self, schema: Schema, probe: Probe) -> None:
        spec = self.spec
        table = schema.table(spec.table)
        refuse_reserved(spec.name, "constraint")
        if spec.name in table.constraints:
            raise ValidationError(
                f"constraint {spec.name!r} already exists on table {table.name}",
                object=f"{schema.name}.{table.name}.{spec.name}",
                hint="Choose another name, or drop_constraint the existing one first.",
            )
        if spec.type == "unique":
            # Its index takes the constraint's name, and index names share the relation namespace.
            refuse_taken_relation_name(schema, probe, spec.name, "add_constraint")
        self.columns = [table.column(c).physical for c in spec.columns]
        if len(set(spec.columns)) != len(spec.columns):
            raise ValidationError(
                f"add_constraint {spec.name}: a column is listed twice",
                object=f"{schema.name}.{table.name}.{spec.name}",
            )
        self.condition = None
        self.target = None
        if spec.type == "check":
            assert spec.check is not None  # the file format requires it
            check_expression(spec.check, "check")
            self.condition = physical_expression(table, spec.check, "check")
            probe.condition_fits(table, self.condition, {}, f"the check `{spec.check}`")
        if spec.type == "foreign_key":
            ref = spec.references
            assert ref is not None  # the file format requires it, as many as `columns:`
            target = schema.table(ref.table)
            referenced = [target.column(c).physical for c in ref.targets]
            if len(set(referenced)) != len(referenced):
                raise ValidationError(
                    f"add_constraint {spec.name}: a referenced column is listed twice",
                    object=f"{schema.name}.{table.name}.{spec.name}",
                )
            refuse_without_unique_key(schema, target, ref.targets, spec.name)
            self.target = (target.qualified, referenced)
        kind = {"check": "c", "unique": "u", "foreign_key": "f"}[spec.type]
        table.constraints[spec.name] = Constraint(
            spec.name,
            kind,
            list(self.columns),
            definition=self.condition or "",
            referenced_table=spec.references.table if spec.references else None,
        )
        if spec.type == "unique":
            table.indexes[spec.name] = Index(spec.name, list(self.columns), unique=True)

    def _table(self, schema: Schema) -> Table:
        return schema.table(self.spec.table)

    def _tables(self, table: Table) -> tuple[str, ...]:
        return (table.qualified, self.target[0]) if self.target else (table.qualified,)

    def start(self, before: Schema, after: Schema) -> list[Step]:
        spec = self.spec
        table = self._table(before)
        name = quote_ident(spec.name)
        columns = ", ".join(quote_ident(c) for c in self.columns)
        if spec.type == "unique":
            return [
                concurrent_index_step(
                    table,
                    spec.name,
                    f"create unique index concurrently {name} on {table.qualified} ({columns})",
                    description=f"build the unique index for constraint {spec.name} concurrently",
                    operation=self.name,
                )
            ]
        if spec.type == "check":
            return [
                Step(
                    f"add check {spec.name} to {table.name} (not valid: new writes only)",
                    sql=f"alter table only {table.qualified} add constraint {name} "
                    f"check ({self.condition}) not valid",
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=(table.qualified,),
                    operation=self.name,
                    notes=("metadata only: no scan",),
                )
            ]
        assert spec.references is not None and self.target is not None
        ref = spec.references
        return [
            foreign_key_not_valid_step(
                table,
                spec.name,
                self.columns,
                self.target[0],
                self.target[1],
                on_delete=ref.on_delete,
                on_update=ref.on_update,
                description=f"add foreign key {spec.name} to {table.name} (not valid: new writes only)",
                operation=self.name,
                notes=("metadata only: no scan",),
            )
        ]

    def complete(self, before: Schema, after: Schema) -> list[Step]:
        spec = self.spec
        table = self._table(before)
        name = quote_ident(spec.name)
        if spec.type == "unique":
            return [
                Step(
                    f"turn the unique index {spec.name} into a constraint",
                    sql=f"alter table only {table.qualified} add constraint {name} "
                    f"unique using index {name}",
                    lock=LockMode.ACCESS_EXCLUSIVE,
                    tables=(table.qualified,),
                    operation=self.name,
                    notes=("metadata only: the index is already built and valid",),
                )
            ]
        return [
            Step(
                f"validate constraint {spec.name} on {table.name}",
                sql=f"alter table only {table.qualified} validate constraint {name}",
                lock=LockMode.SHARE_UPDATE_EXCLUSIVE,
                tables=self._tables(table),
                scans=True,
                estimated_rows=table.estimated_rows,
                operation=self.name,
                notes=("scans the table; reads and writes continue",),
                reversible=True,
            )
        ]

    def rollback(self, before: Schema, after: Schema) -> list[Step]:
        spec = self.spec
        table = self._table(before)
        if spec.type == "unique":
            return [
                drop_index_concurrently_step(
                    table,
                    spec.name,
                    description=f"drop the unique index {spec.name} concurrently",
                    operation=self.name,
                )
            ]
        return [
            Step(
                f"drop constraint {spec.name} from {table.name}",
                sql=f"alter table if exists only {table.qualified} "
                f"drop constraint if exists {quote_ident(spec.name)}",
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=self._tables(table),
                operation=self.name,
            )
        ]


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
