"""drop_index: the index serves both versions until complete, which drops it concurrently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import DropIndex
from liveshift.operations.base import CheckedOperation
from liveshift.operations.objects import find_index
from liveshift.operations.steps import drop_index_concurrently_step
from liveshift.plan import Step
from liveshift.schema import Schema

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


@dataclass(frozen=True)
class DropIndexChecked:
    """What validate found: the table the index is on."""

    table_name: str


class DropIndexOperation(CheckedOperation[DropIndex, DropIndexChecked]):
    """Expand: nothing (old clients may still rely on the index, for speed or uniqueness).
    Contract: DROP INDEX CONCURRENTLY (SHARE UPDATE EXCLUSIVE: reads and writes go on).
    Rollback: nothing."""

    name = "drop_index"

    def validate(self, schema: Schema, probe: Probe) -> DropIndexChecked:
        table, index = find_index(schema, self.spec.name)
        backing = table.constraints.get(index.name)
        if backing is not None and backing.kind in ("p", "u", "x"):
            kind = {"p": "primary key", "u": "unique constraint", "x": "exclusion constraint"}
            raise ValidationError(
                f"index {index.name!r} belongs to the {kind[backing.kind]} {backing.name!r} of "
                f"table {table.name}",
                object=f"{schema.name}.{index.name}",
                hint="Use drop_constraint to drop the constraint (and its index).",
            )
        del table.indexes[index.name]
        return DropIndexChecked(table.name)

    def start(self, checked: DropIndexChecked, before: Schema, after: Schema) -> list[Step]:
        return []

    def complete(self, checked: DropIndexChecked, before: Schema, after: Schema) -> list[Step]:
        table = before.table(checked.table_name)
        return [
            drop_index_concurrently_step(
                table,
                self.spec.name,
                description=f"drop index {self.spec.name} concurrently",
                operation=self.name,
                notes=("reads and writes continue; waits for transactions using the table",),
            )
        ]

    def rollback(self, checked: DropIndexChecked, before: Schema, after: Schema) -> list[Step]:
        return []
