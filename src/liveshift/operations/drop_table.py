"""drop_table: the table leaves the new version at once; it is dropped for good at complete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import DropTable
from liveshift.operations.actions.tables import DropTable as DropTableAction
from liveshift.operations.base import CheckedOperation
from liveshift.operations.objects import model_references_to
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


@dataclass(frozen=True)
class DropTableChecked:
    """What validate found: what uses the table (kept for the plan's notes)."""

    dependents: tuple[str, ...]


class DropTableOperation(CheckedOperation[DropTable, DropTableChecked]):
    """Expand: nothing physical; the table is left out of the new version's schema, so new clients
    no longer see it while old clients keep reading and writing it. Contract: DROP TABLE (with
    CASCADE when the migration asks for it). Rollback: nothing but the version schema."""

    name = "drop_table"

    def validate(self, schema: Schema, probe: Probe) -> DropTableChecked:
        table = schema.table(self.spec.table)
        found = model_references_to(schema, table)
        if (
            probe.relation_kind(table.schema, table.physical) == "table"
        ):  # not made by this migration
            found = probe.table_dependents(table) + found
        dependents = sorted({d.describe() for d in found})
        if dependents and not self.spec.cascade:
            raise ValidationError(
                f"table {table.schema}.{table.name} is used by {len(dependents)} other "
                f"object{'s' if len(dependents) != 1 else ''}",
                object=f"{table.schema}.{table.name}",
                details=dependents,
                hint="Drop or change them first (an earlier migration, or raw_sql), or set "
                "`cascade: true` to drop the views and foreign keys with the table at complete "
                "(functions that query it are not dropped and will fail).",
            )
        del schema.tables[self.spec.table]
        return DropTableChecked(tuple(dependents))

    def start(self, checked: DropTableChecked, before: Schema, after: Schema) -> list[Step]:
        return []

    def complete(self, checked: DropTableChecked, before: Schema, after: Schema) -> list[Step]:
        table = before.table(self.spec.table)
        notes = ["metadata only: the files are unlinked at commit"]
        if self.spec.cascade and checked.dependents:
            notes.append("cascade drops: " + "; ".join(checked.dependents))
        return [
            Step(
                f"drop table {table.name}",
                actions=(DropTableAction(table=table.qualified, cascade=self.spec.cascade),),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=(table.qualified,),
                operation=self.name,
                notes=tuple(notes),
            )
        ]

    def rollback(self, checked: DropTableChecked, before: Schema, after: Schema) -> list[Step]:
        return []
