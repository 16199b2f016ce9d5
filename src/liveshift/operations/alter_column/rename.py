"""alter_column's rename (`name:`): a view alias until complete renames the column."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import AlterColumn
from liveshift.schema import Column, Table

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


def refuse_name(spec: AlterColumn, table: Table) -> None:
    """The new name must be free in the table and not one liveshift reserves."""
    if spec.name is None or spec.name == spec.column:
        return
    if spec.name in table.columns:
        raise ValidationError(
            f"column {spec.name!r} already exists in table {table.schema}.{table.name}",
            object=f"{table.schema}.{table.name}.{spec.name}",
            hint="Choose another `name:`.",
        )
    if spec.name.startswith("_ls_"):
        raise ValidationError(
            f"column names starting with _ls_ are reserved for liveshift ({spec.name!r})",
            hint="Choose another name.",
        )


def refuse_views(spec: AlterColumn, table: Table, column: Column, probe: Probe) -> None:
    views = [
        d
        for d in probe.column_dependents(table, column.physical)
        if d.kind in ("view", "materialized view")
    ]
    if views:
        raise ValidationError(
            f"cannot rename {table.name}.{spec.column}: views use it",
            object=f"{table.schema}.{table.name}.{spec.column}",
            details=[d.describe() for d in views],
            hint="Those views would keep showing the column under its old name. Recreate "
            "them after the rename (raw_sql), or drop them first.",
        )
