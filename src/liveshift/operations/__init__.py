"""Migration operations, one module each, registered by the name used in migration files."""

from __future__ import annotations

from typing import Any

from liveshift.errors import ValidationError
from liveshift.operations.add_column import AddColumnOperation
from liveshift.operations.alter_column import AlterColumnOperation
from liveshift.operations.base import Names, Operation
from liveshift.operations.drop_column import DropColumnOperation
from liveshift.operations.rename_column import RenameColumnOperation

OPERATIONS: dict[str, type[Operation[Any]]] = {
    AddColumnOperation.name: AddColumnOperation,
    AlterColumnOperation.name: AlterColumnOperation,
    DropColumnOperation.name: DropColumnOperation,
    RenameColumnOperation.name: RenameColumnOperation,
}


def build(name: str, spec: Any, names: Names) -> Operation[Any]:
    operation = OPERATIONS.get(name)
    if operation is None:
        raise ValidationError(
            f"operation {name!r} is not supported on PostgreSQL yet",
            hint="Supported: " + ", ".join(sorted(OPERATIONS)) + ". Use raw_sql meanwhile.",
        )
    return operation(spec, names)


__all__ = ["OPERATIONS", "Names", "Operation", "build"]
