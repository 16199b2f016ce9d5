"""drop_constraint: the constraint holds for both versions until complete, which drops it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError, did_you_mean
from liveshift.migration.models import DropConstraint
from liveshift.operations.actions import constraints as actions
from liveshift.operations.base import CheckedOperation
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema, Table, quote_literal

if TYPE_CHECKING:
    from liveshift.probe import Probe

KINDS = {
    "p": "primary key",
    "u": "unique constraint",
    "c": "check constraint",
    "f": "foreign key",
    "x": "exclusion constraint",
}

# Foreign keys of any table that rely on the index of a unique or primary key constraint.
_REFERENCING = """
select f.conname || ' on ' || f.conrelid::regclass::text
from pg_constraint c join pg_constraint f on f.contype = 'f' and f.conindid = c.conindid
where c.conrelid = {table}::regclass and c.conname = {name} and c.contype in ('p', 'u')
order by 1
"""


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
        exists = probe.ask(
            [f"select to_regclass({quote_literal(table.qualified)}) is not null"], "the table"
        )
        if not exists or not exists[0][0]:
            return []  # a table this migration creates: nothing outside it refers to it yet
        rows = probe.ask(
            [
                _REFERENCING.format(
                    table=quote_literal(table.qualified), name=quote_literal(self.spec.name)
                )
            ],
            f"the foreign keys relying on {self.spec.name}",
        )
        return [str(r[0]) for r in rows]

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
