"""alter_column's `unique:`: an index built concurrently, attached as the constraint at complete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import AlterColumn, key_name
from liveshift.operations.objects import refuse_taken_constraint_name
from liveshift.schema import Schema, Table

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


def unique_constraint(table: Table, physical: str) -> str | None:
    """The unique constraint on exactly this column, if any."""
    for constraint in table.constraints.values():
        if constraint.kind == "u" and constraint.columns == [physical]:
            return constraint.name
    return None


def refuse_unique_name(
    spec: AlterColumn, schema: Schema, table: Table, probe: Probe, unique_now: str | None
) -> None:
    """`unique: {name}` names the constraint this operation adds: free, or already it."""
    chosen = key_name(spec.unique)
    if chosen is None or chosen == unique_now:
        return
    if unique_now is not None:
        raise ValidationError(
            f"{table.name}.{spec.column} is already unique, under constraint "
            f"{unique_now!r}, not {chosen!r}",
            object=f"{schema.name}.{table.name}.{unique_now}",
            hint=f"Rename it: a rename_constraint `{{table: {table.name}, from: {unique_now}, "
            f"to: {chosen}}}` (and `unique: true` here, or none).",
        )
    refuse_taken_constraint_name(schema, table, probe, chosen, "the unique constraint")
