"""rename_table: new clients see the new name at once; the physical rename waits for complete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import RenameTable
from liveshift.operations.actions.tables import RenameTable as RenameTableAction
from liveshift.operations.base import CheckedOperation
from liveshift.operations.objects import refuse_reserved, refuse_taken_relation_name
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


class RenameTableOperation(CheckedOperation[RenameTable, None]):
    """Expand: nothing physical; the version schema's view carries the new name and reads the base
    table under its old name, so old clients (old name) and new clients (new name) share one
    table. Contract: ALTER TABLE ... RENAME, a catalog-only change; it runs after every other
    complete step of the migration (`complete_last`), because those steps name the table by its
    physical (old) name."""

    name = "rename_table"
    complete_last = True

    def validate(self, schema: Schema, probe: Probe) -> None:
        spec = self.spec
        table = schema.table(spec.from_)
        if spec.to == spec.from_:
            raise ValidationError(
                f"rename_table renames {spec.from_} to the same name",
                object=f"{schema.name}.{spec.from_}",
                hint="Give `to:` a different name, or drop the operation.",
            )
        if table.physical != table.name:
            raise ValidationError(
                f"table {spec.from_} is already renamed by this migration (from {table.physical})",
                object=f"{schema.name}.{spec.from_}",
                hint=f"Rename it once, from {table.physical} to {spec.to}.",
            )
        refuse_reserved(spec.to, "table")
        refuse_taken_relation_name(schema, probe, spec.to, "rename_table to")
        del schema.tables[spec.from_]
        table.name = spec.to
        schema.tables[spec.to] = table

    def start(self, checked: None, before: Schema, after: Schema) -> list[Step]:
        return []

    def complete(self, checked: None, before: Schema, after: Schema) -> list[Step]:
        table = before.table(self.spec.from_)
        return [
            Step(
                f"rename table {self.spec.from_} to {self.spec.to}",
                # IF EXISTS: a replayed complete finds the table already renamed.
                actions=(RenameTableAction(table=table.qualified, to=self.spec.to),),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=(table.qualified,),
                operation=self.name,
                notes=("metadata only; views, indexes and foreign keys follow the table",),
            )
        ]

    def rollback(self, checked: None, before: Schema, after: Schema) -> list[Step]:
        return []
