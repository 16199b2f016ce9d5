"""A migration: a named, ordered list of operations read from a YAML or JSON file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveshift.migration.loader import load_file, validate_data
from liveshift.migration.models import MigrationFile, OperationSpec, unwrap


@dataclass(frozen=True)
class Migration:
    """A validated migration file (format only: the database is checked by the planner)."""

    name: str
    operations: tuple[tuple[str, OperationSpec], ...]
    schema: str | None
    checksum: str
    source: str | None = None
    version_schema: str | None = None  # the file's `version_schema:`, else <schema>_<name>

    @classmethod
    def load(cls, path: str | Path) -> Migration:
        path = Path(path)
        model, text = load_file(path)
        return cls._from_model(model, default_name=path.stem, text=text, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str | None = None) -> Migration:
        model = validate_data(data, "<dict>", None)
        text = json.dumps(data, sort_keys=True)
        return cls._from_model(model, default_name=name or "migration", text=text, source=None)

    @classmethod
    def _from_model(
        cls, model: MigrationFile, *, default_name: str, text: str, source: str | None
    ) -> Migration:
        return cls(
            name=model.name or default_name,
            operations=tuple(unwrap(op) for op in model.operations),
            schema=model.schema_,
            checksum=hashlib.sha256(text.encode()).hexdigest(),
            source=source,
            version_schema=model.version_schema,
        )

    def to_json(self) -> list[dict[str, Any]]:
        """The operations as plain data (kept in the history table)."""
        return [
            {name: spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)}
            for name, spec in self.operations
        ]


__all__ = ["Migration"]
