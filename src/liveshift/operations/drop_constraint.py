"""drop_constraint: the constraint holds for both versions until complete, which drops it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError, did_you_mean
from liveshift.migration.models import DropConstraint
from liveshift.operations.base import Operation
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema, Table, quote_ident, quote_literal

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


class DropConstraintOperation(Operation[DropConstraint]):
    """Expand: nothing. Old clients still expect the constraint, and the new version's view cannot
    hide a constraint of the base table: both versions keep it until complete. Contract: ALTER
    TABLE ... DROP CONSTRAINT, a catalog change (a unique or primary key constraint drops its
    index with it). Rollback: nothing."""

    name = "drop_constraint"

    kind: str
    referenced_table: str | None

    def validate(self, schema: Schema, probe: Probe) -> None:
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
        self.kind = constraint.kind
        self.referenced_table = constraint.referenced_table
        del table.constraints[spec.name]
        if constraint.kind in ("p", "u", "x"):
            table.indexes.pop(spec.name, None)

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

    def start(self, before: Schema, after: Schema) -> list[Step]:
        return []

    def complete(self, before: Schema, after: Schema) -> list[Step]:
        table = before.table(self.spec.table)
        tables: tuple[str, ...] = (table.qualified,)
        if self.kind == "f" and self.referenced_table:
            tables += (self.referenced_table,)
        return [
            Step(
                f"drop {KINDS.get(self.kind, 'constraint')} {self.spec.name} from {table.name}",
                sql=f"alter table if exists only {table.qualified} "
                f"drop constraint if exists {quote_ident(self.spec.name)}",
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=tables,
                operation=self.name,
                notes=("metadata only: no scan",),
            )
        ]

    def rollback(self, before: Schema, after: Schema) -> list[Step]:
        return []
