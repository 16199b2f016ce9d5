"""alter_column's `default:` / `drop_default:`: the new version's default, catalog only."""

from __future__ import annotations

from liveshift.errors import ValidationError
from liveshift.migration.models import AlterColumn
from liveshift.schema import Column
from liveshift.sqlexpr import check_expression


def refuse_default(spec: AlterColumn, column: Column, where: str) -> None:
    """Generated and identity columns take their values elsewhere."""
    if column.generated and (
        spec.type is not None or spec.default is not None or spec.drop_default
    ):
        raise ValidationError(
            f"column {spec.table}.{spec.column} is generated: liveshift cannot change its "
            "type or default",
            object=where,
            hint="Use raw_sql for this change.",
        )
    if column.identity and (spec.default is not None or spec.drop_default):
        raise ValidationError(
            f"column {spec.table}.{spec.column} is an identity column: its values come from "
            "its sequence, liveshift cannot give it a default",
            object=where,
            hint="Use raw_sql (ALTER COLUMN ... DROP IDENTITY) for this change.",
        )


def new_default(spec: AlterColumn, column: Column) -> str | None:
    """The column's default in the new version."""
    if spec.default is not None:
        check_expression(spec.default, "default")
        return spec.default
    if spec.drop_default:
        return None
    return column.default
