"""alter_column's `up:` and `down:`: how values cross between the old column and the new one
both ways while both versions run, checked by the server against the model's row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import AlterColumn
from liveshift.operations.alter_column.change_type import fits, refuse_misfits
from liveshift.operations.base import Names
from liveshift.operations.carry_over import CARRIED_KINDS, CarryOver
from liveshift.schema import Column, Schema, Table, quote_ident
from liveshift.sqlexpr import check_expression, rewrite_columns

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


def validate_up(
    spec: AlterColumn,
    schema: Schema,
    table: Table,
    column: Column,
    new: Column,
    probe: Probe,
    old_names: dict[str, str],
    drop_unique: str | None,
    *,
    fill_nulls: bool,
    names: Names,
) -> tuple[CarryOver, str]:
    """A change through a new column: what the new column carries over, and `up` (over the
    old shape's names), which must convert every existing value."""
    where = f"{table.schema}.{table.name}.{spec.column}"
    dependents = [
        d for d in probe.column_dependents(table, column.physical) if d.kind not in CARRIED_KINDS
    ]
    if dependents:
        raise ValidationError(
            f"cannot change {table.name}.{spec.column} through a new column (a type change "
            "that would rewrite the table, or NULLs to fill) while these objects depend on "
            "it: the new column carries indexes and primary key, unique, check and foreign "
            "key constraints over, not these",
            object=where,
            details=[d.describe() for d in dependents],
            hint="Drop them in an earlier migration and create them again after this one, "
            "or use raw_sql.",
        )
    carry = CarryOver.plan(
        probe,
        schema,
        table,
        old=column.physical,
        new=new.physical,
        new_type=new.type,
        names=names,
        operation="alter_column",
        drop_unique=drop_unique,
    )
    old_row = {name: table.columns[name].type for name in old_names}
    up = spec.up
    if up is not None and fill_nulls:
        check_expression(up, "up")
        up = f"coalesce({quote_ident(spec.column)}, {up})"
    if up is None:
        up = quote_ident(spec.column)
        if not fits(probe, old_row, up, new.type, (table.name, new.name)):
            raise ValidationError(
                f"{column.type} does not convert to {new.type} implicitly: say how old "
                f"values become new ones",
                object=where,
                hint=f'Give `up:`, an SQL expression over the old columns, e.g. `up: "'
                f'{spec.column}::{new.type}"`, and `down:` for the way back, e.g. '
                f'`down: "{new.name}::{column.type}"`.',
            )
    else:
        check_expression(up, "up")
        fits(probe, old_row, up, new.type, (table.name, new.name), raise_for="up")
    if not fill_nulls:
        refuse_misfits(spec, table, probe, rewrite_columns(up, old_names, what="up"), new)
    if (
        not new.nullable
        and column.nullable
        and probe.has_rows_where(
            table,
            "(" + rewrite_columns(up, old_names, what="up") + ") is null",
        )
    ):
        raise ValidationError(
            f"{table.name}.{spec.column} becomes NOT NULL but `up` gives NULL for some rows",
            object=where,
            hint=f'Make `up` give a value for them, e.g. `up: "coalesce({spec.column}, 0)"`.',
        )
    return carry, up


def validate_down(
    spec: AlterColumn,
    table: Table,
    probe: Probe,
    new_names: dict[str, str],
    old: Column,
    new: Column,
) -> str:
    """`down` (over the new shape's names)."""
    where = f"{table.schema}.{table.name}.{spec.column}"
    row = {name: table.columns[name].type for name in new_names}
    down = spec.down
    if down is None:
        down = quote_ident(new.name)
        if not fits(probe, row, down, old.type, (table.name, old.name)):
            raise ValidationError(
                f"{new.type} does not convert back to {old.type} implicitly: say "
                "how values new clients write become values old clients read",
                object=where,
                hint=f'Give `down:`, an SQL expression over the new columns, e.g. `down: "'
                f'{new.name}::{old.type}"`.',
            )
    else:
        check_expression(down, "down")
        fits(probe, row, down, old.type, (table.name, old.name), raise_for="down")
    return down
