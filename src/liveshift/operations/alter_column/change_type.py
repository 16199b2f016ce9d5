"""alter_column's type change: in place when PostgreSQL needs neither a rewrite nor a new scan,
else through a new column; and the server's own answers about conversions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import AlterColumn
from liveshift.schema import Column, Table

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


def plan_type_change(
    spec: AlterColumn, table: Table, column: Column, probe: Probe, nullable: bool
) -> tuple[str, bool, bool, bool]:
    """The column's new type, and how the change is made: (new type, through a new column,
    type changed in place, through a new column only to fill NULLs)."""
    new_type = column.type
    if spec.type is not None:
        new_type = probe.type_exists(spec.type)
    swap = fill_nulls = direct_type = False
    if new_type != column.type:
        swap = (
            spec.up is not None
            or spec.down is not None
            or rewrites(probe, column.type, new_type)
            # Even without a rewrite, ALTER COLUMN TYPE checks these again under its
            # ACCESS EXCLUSIVE lock: the new column carries them over without it.
            or bool(checked_again(probe, table, column.physical))
        )
        direct_type = not swap
    elif column.nullable and not nullable and spec.up is not None:
        # Filling NULLs in place could not be rolled back exactly: fill a new column.
        swap = fill_nulls = True
    elif spec.up is not None or spec.down is not None:
        # Values fixed without a type change (e.g. before a unique or check applies): the new
        # version sees `up` of every row in a new column; old clients write through `down`.
        swap = True
    return new_type, swap, direct_type, fill_nulls


def refuse_misfits(spec: AlterColumn, table: Table, probe: Probe, up: str, new: Column) -> None:
    """A narrowing change (varchar(20) -> varchar(10), numeric(10,2) -> numeric(8,2), text ->
    varchar(5)) is refused while existing rows hold values the new type does not take:
    the backfill would stop at the first one, half done."""
    misfits = probe.misfits(
        table, up, new.type, f"the new value of every row of {table.name}.{spec.column}"
    )
    if misfits:
        rows = "1 row" if misfits == 1 else f"{misfits} rows"
        example = ""
        if "char" in new.type:
            example = f' (e.g. `up: "left({spec.column}, n)"`)'
        elif "numeric" in new.type:
            example = f' (e.g. `up: "round({spec.column}, n)"`)'
        raise ValidationError(
            f"{rows} of {table.name} hold a value of {spec.column} that does not fit "
            f"{new.type}" + (" (as `up` computes it)" if spec.up is not None else ""),
            object=f"{table.schema}.{table.name}.{spec.column}",
            hint="Change or delete those rows first, or give `up:` that makes every value "
            f"fit{example}.",
        )


def refuse_type_dependents(spec: AlterColumn, table: Table, column: Column, probe: Probe) -> None:
    """PostgreSQL refuses ALTER COLUMN TYPE of a column that views, rules, triggers, policies
    or generated columns use: say so now rather than fail part-way through start (liveshift's
    own version views are made again around the change)."""
    blocking = ("view", "materialized view", "trigger", "policy", "generated column")
    found = [d for d in probe.column_dependents(table, column.physical) if d.kind in blocking]
    if found:
        raise ValidationError(
            f"cannot change the type of {table.name}.{spec.column}: PostgreSQL does not "
            "change the type of a column these objects use",
            object=f"{table.schema}.{table.name}.{spec.column}",
            details=[d.describe() for d in found],
            hint="Drop them in an earlier migration (raw_sql with `down:`) and create them "
            "again after this one.",
        )


def fits(
    probe: Probe,
    row: dict[str, str],
    expression: str,
    type_name: str,
    target: tuple[str, str],
    raise_for: str | None = None,
) -> bool:
    """Whether `expression`, over a row of the given columns (name -> type), type-checks and
    assigns to `type_name`, the type of the `target` (table, column) the server's refusal names.
    The row comes from the model, not the live table: columns an earlier operation of the
    migration adds or replaces do not exist there yet. With `raise_for`, a refusal raises."""
    if raise_for is not None:
        probe.value_fits(
            row, expression, type_name, target, f"the `{raise_for}` expression `{expression}`"
        )
        return True
    try:
        probe.value_fits(row, expression, type_name, target, "the conversion")
    except ValidationError:
        return False
    return True


def checked_again(probe: Probe, table: Table, physical: str) -> list[str]:
    """What PostgreSQL's ALTER COLUMN TYPE builds or scans again even when the type change is
    binary coercible: the column's CHECK constraints (validated again: a scan) and the indexes
    with an expression or a predicate over it (built again); plain indexes it keeps."""
    return probe.rechecked_by_type_change(table, physical)


def rewrites(probe: Probe, old_type: str, new_type: str) -> bool:
    """PostgreSQL's own answer to "does ALTER COLUMN TYPE rewrite the table?", asked of a one-row
    temporary table: the relfilenode changes when it does."""
    try:
        return probe.type_change_rewrites(old_type, new_type)
    except ValidationError:
        return True  # no implicit conversion at all: certainly not binary coercible
