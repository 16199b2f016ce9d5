"""rename_column: new clients see the new name at once; the physical rename waits for complete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import RenameColumn
from liveshift.operations.actions.columns import RenameColumn as RenameColumnAction
from liveshift.operations.base import CheckedOperation
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


class RenameColumnOperation(CheckedOperation[RenameColumn, None]):
    """Expand: nothing physical; the version schema's view shows the column under its new name,
    so old clients (old name, base table) and new clients (new name, view) write the same
    physical column. Contract: ALTER TABLE ... RENAME COLUMN, a catalog-only change."""

    name = "rename_column"

    def validate(self, schema: Schema, probe: Probe) -> None:
        spec = self.spec
        table = schema.table(spec.table)
        column = table.column(spec.from_)
        if spec.to == spec.from_:
            raise ValidationError(
                f"rename_column renames {spec.table}.{spec.from_} to the same name",
                object=f"{table.schema}.{table.name}.{spec.from_}",
                hint="Give `to:` a different name, or drop the operation.",
            )
        if spec.to in table.columns:
            raise ValidationError(
                f"column {spec.to!r} already exists in table {table.schema}.{table.name}",
                object=f"{table.schema}.{table.name}.{spec.to}",
                hint="Choose another name, or drop or rename the existing column first.",
            )
        if spec.to.startswith("_ls_"):
            raise ValidationError(
                f"column names starting with _ls_ are reserved for liveshift ({spec.to!r})",
                hint="Choose another name.",
            )
        # Views and rules keep working after a rename (they refer to columns by number), but
        # functions and application SQL written against the old name do not: list the objects
        # a reader should look at, and refuse only for what would silently keep the old name.
        if column.physical == column.name:  # an existing column, not one this migration made
            blocking = [
                d
                for d in probe.column_dependents(table, column.physical)
                if d.kind in ("view", "materialized view")
            ]
            if blocking:
                raise ValidationError(
                    f"column {table.name}.{spec.from_} is used by "
                    + ", ".join(d.describe() for d in blocking),
                    object=f"{table.schema}.{table.name}.{spec.from_}",
                    details=[d.describe() for d in blocking],
                    hint="Those views would keep showing the column under its old name. Recreate "
                    "them in the same migration (raw_sql) after the rename, or drop them first.",
                )
        table.columns = {
            (spec.to if name == spec.from_ else name): col for name, col in table.columns.items()
        }
        column.name = spec.to

    def start(self, checked: None, before: Schema, after: Schema) -> list[Step]:
        return []

    def complete(self, checked: None, before: Schema, after: Schema) -> list[Step]:
        table = before.table(self.spec.table)
        # Complete steps run in operation order, and each operation's complete gives its columns
        # their final names: by this step the column is called `from` (whatever its physical
        # name during the migration).
        return [
            Step(
                f"rename column {table.name}.{self.spec.from_} to {self.spec.to}",
                actions=(
                    RenameColumnAction(
                        table=table.qualified, old=self.spec.from_, new=self.spec.to
                    ),
                ),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=(table.qualified,),
                operation=self.name,
                notes=("catalog only: no rewrite, no scan; held for milliseconds",),
            )
        ]

    def rollback(self, checked: None, before: Schema, after: Schema) -> list[Step]:
        return []  # start changed nothing physical; dropping the version schema undoes the rest

    def describe(self) -> str:
        return f"{self.name} {self.spec.table}.{self.spec.from_} -> {self.spec.to}"
