"""alter_column's `nullable:`: NOT NULL through a NOT VALID check validated at complete; DROP NOT
NULL at start, restored by rollback without a long lock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import AlterColumn
from liveshift.operations.actions.columns import SetNotNull
from liveshift.operations.actions.constraints import (
    AddNotNullCheck,
    DropConstraint,
    ValidateConstraint,
)
from liveshift.plan import LockMode, Step
from liveshift.schema import Column, Table, quote_ident

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


def refuse_nullable(spec: AlterColumn, table: Table, column: Column) -> None:
    """An identity or primary key column stays NOT NULL."""
    if spec.nullable is True and (
        column.identity or column.physical in (table.primary_key() or [])
    ):
        kind = "an identity column" if column.identity else "part of the primary key"
        raise ValidationError(
            f"column {spec.table}.{spec.column} is {kind}: it cannot become nullable",
            object=f"{table.schema}.{table.name}.{spec.column}",
            hint="Drop `nullable: true`.",
        )


def refuse_nulls(spec: AlterColumn, table: Table, column: Column, probe: Probe) -> None:
    """NOT NULL in place (no `up`): no row may hold NULL now."""
    if probe.has_rows_where(table, f"{quote_ident(column.physical)} is null"):
        raise ValidationError(
            f"{table.name}.{spec.column} becomes NOT NULL but some rows hold NULL",
            object=f"{table.schema}.{table.name}.{spec.column}",
            hint="Give `up:`, an SQL expression computing the value for those rows (and for "
            f'NULLs old clients write meanwhile), e.g. `up: "0"` or `up: "coalesce('
            f'{spec.column}, created_at::text)"`.',
        )


def restore_not_null_steps(
    table: Table, old: Column, check_name: str, operation: str
) -> list[Step]:
    """NOT NULL back without a long ACCESS EXCLUSIVE scan: NOT VALID check, validate, set."""
    qualified = table.qualified
    return [
        Step(
            f"add a NOT VALID not-null check on {table.name}.{old.name}",
            actions=(
                DropConstraint(table=qualified, name=check_name, if_exists=True),
                AddNotNullCheck(table=qualified, name=check_name, column=old.physical),
            ),
            lock=LockMode.ACCESS_EXCLUSIVE,
            tables=(qualified,),
            operation=operation,
        ),
        Step(
            f"validate the not-null check on {table.name}.{old.name}",
            actions=(ValidateConstraint(table=qualified, name=check_name),),
            lock=LockMode.SHARE_UPDATE_EXCLUSIVE,
            tables=(qualified,),
            scans=True,
            estimated_rows=table.estimated_rows,
            operation=operation,
            notes=("fails if new clients wrote NULLs: fill them, or complete instead",),
        ),
        Step(
            f"restore NOT NULL on {table.name}.{old.name}",
            actions=(
                SetNotNull(table=qualified, column=old.physical),
                DropConstraint(table=qualified, name=check_name, if_exists=True),
            ),
            lock=LockMode.ACCESS_EXCLUSIVE,
            tables=(qualified,),
            operation=operation,
        ),
    ]
