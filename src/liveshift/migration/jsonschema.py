"""The JSON Schema of migration files, generated from the pydantic models (for editors)."""

from __future__ import annotations

import json
from pathlib import Path

from liveshift.migration.models import MigrationFile

SCHEMA_PATH = Path(__file__).resolve().parent / "migration.schema.json"


def schema_text() -> str:
    schema = MigrationFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "liveshift migration"
    schema["$comment"] = (
        "GENERATED from liveshift.migration.models by `liveshift json-schema`; do not edit by hand"
    )
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_text())
