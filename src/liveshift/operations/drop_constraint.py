"""drop_constraint: the constraint holds for both versions until complete, which drops it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError, did_you_mean
from liveshift.migration.models import DropConstraint
from liveshift.operations.actions import constraints as actions
from liveshift.operations.base import CheckedOperation
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema, Table

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe

KINDS = {
    "p": "primary key",
    "u": "unique constraint",
    "c": "check constraint",
    "f": "foreign key",
    "x": "exclusion constraint",
}


@dataclass(frozen=True)
class DropConstraintChecked:
    """What validate found of the constraint: its kind, and the table a foreign key references."""

    kind: str
    referenced_table: str | None


class DropConstraintOperation(CheckedOperation[DropConstraint, DropConstraintChecked]):
    """Expand: nothing. Old clients still expect the constraint, and the new version's view cannot
    hide a constraint of the base table: both versions keep it until complete. Contract: ALTER
    TABLE ... DROP CONSTRAINT, a catalog change (a unique or primary key constraint drops its
    index with it). Rollback: nothing."""

    name = "drop_constraint"

    def validate(self, schema: Schema, probe: Probe) -> DropConstraintChecked:
        spec = self.spec
        table = schema.table(spec.table)
        constraint = table.constraints.get(spec.name)
        if constraint is None:
            raise ValidationError(
                f"table {table.schema}.{table.name} has no constraint {spec.name!r}",
                object=f"{table.schema}.{table.name}.{spec.name}",
                hint=did_you_mean(spec.name, table.constraints)
                or f"Its constraints: {', '.join(table.constraints) or '(none)'}.",
            )
        if constraint.kind in ("p", "u") and constraint.name in table.indexes:
            dependents = self._referencing(probe, table)
            if dependents:
                raise ValidationError(
                    f"foreign keys rely on the {KINDS[constraint.kind]} {spec.name!r} of "
                    f"table {table.name}",
                    object=f"{table.schema}.{table.name}.{spec.name}",
                    details=dependents,
                    hint="Drop those foreign keys first (drop_constraint on their tables).",
                )
        del table.constraints[spec.name]
        if constraint.kind in ("p", "u", "x"):
            table.indexes.pop(spec.name, None)
        return DropConstraintChecked(constraint.kind, constraint.referenced_table)

    def _referencing(self, probe: Probe, table: Table) -> list[str]:
        if not probe.table_in_catalog(table):
            return []  # a table this migration creates: nothing outside it refers to it yet
        relying = probe.foreign_keys_relying_on(table, self.spec.name)
        return [key.describe() for key in relying]

    def start(self, checked: DropConstraintChecked, before: Schema, after: Schema) -> list[Step]:
        return []

    def complete(self, checked: DropConstraintChecked, before: Schema, after: Schema) -> list[Step]:
        table = before.table(self.spec.table)
        tables: tuple[str, ...] = (table.qualified,)
        if checked.kind == "f" and checked.referenced_table:
            tables += (checked.referenced_table,)
        return [
            Step(
                f"drop {KINDS.get(checked.kind, 'constraint')} {self.spec.name} from {table.name}",
                actions=(
                    actions.DropConstraint(
                        table=table.qualified,
                        name=self.spec.name,
                        if_exists=True,
                        table_if_exists=True,
                    ),
                ),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=tables,
                operation=self.name,
                notes=("metadata only: no scan",),
            )
        ]

    def rollback(self, checked: DropConstraintChecked, before: Schema, after: Schema) -> list[Step]:
        return []
