"""Migration files: malformed input is refused with file, line and a suggestion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveshift.errors import MigrationFileError
from liveshift.migration import Migration
from liveshift.migration.jsonschema import SCHEMA_PATH, schema_text

GOOD_YAML = """\
operations:
  - add_column:
      table: users
      column:
        name: last_login
        type: timestamptz
        nullable: false
        default: now()
      up: coalesce(updated_at, created_at)
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_file_loads_with_its_stem_as_name(tmp_path: Path) -> None:
    migration = Migration.load(write(tmp_path, "0003_add_last_login.yaml", GOOD_YAML))
    assert migration.name == "0003_add_last_login"
    [(operation, spec)] = migration.operations
    assert operation == "add_column"
    assert spec.column.nullable is False  # type: ignore[union-attr]


def test_json_and_yaml_are_the_same_migration(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(GOOD_YAML)
    from_json = Migration.load(write(tmp_path, "m.json", json.dumps(data, indent=1)))
    from_yaml = Migration.load(write(tmp_path, "m.yaml", GOOD_YAML))
    assert from_json.operations == from_yaml.operations


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (GOOD_YAML.replace("nullable:", "nulable:"), 7, "Did you mean 'nullable'?"),
        (GOOD_YAML.replace("add_column:", "add_colum:"), 2, "Did you mean 'add_column'?"),
        (GOOD_YAML.replace("type: timestamptz", "type: [1, 2]"), 6, "valid string"),
        (GOOD_YAML.replace("        name: last_login\n", ""), 5, "missing required key 'name'"),
        (GOOD_YAML.replace("      up:", "     up:"), 9, "not valid YAML"),
        ("operations: []\n", 1, "at least 1"),
        ("- just a list\n", 1, "must be a mapping"),
        (GOOD_YAML + "colour: blue\n", 10, "unknown key 'colour'"),
    ],
)
def test_bad_yaml_names_file_line_and_fix(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(MigrationFileError) as raised:
        Migration.load(path)
    error = raised.value
    assert error.file == str(path)
    assert error.line == line
    assert expected in error.paragraph()
    assert error.exit_code == 2


def test_bad_json_syntax_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '{"operations": [\n  {"add_column": {"table" "users"}}]}')
    with pytest.raises(MigrationFileError) as raised:
        Migration.load(path)
    assert (raised.value.line, raised.value.column) == (2, 27)
    assert "not valid JSON" in raised.value.message


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(MigrationFileError, match="no such migration file"):
        Migration.load(tmp_path / "nope.yaml")
    with pytest.raises(MigrationFileError, match="liveshift convert"):
        Migration.load(write(tmp_path, "m.sql", "alter table t add column x int;"))


def test_alter_column_must_change_something() -> None:
    with pytest.raises(MigrationFileError, match="changes nothing"):
        Migration.from_dict({"operations": [{"alter_column": {"table": "t", "column": "c"}}]})


def test_generated_json_schema_is_current() -> None:
    """The JSON Schema in the repo is generated from the models; regenerate it with
    `liveshift json-schema > src/liveshift/migration/migration.schema.json`."""
    assert SCHEMA_PATH.read_text() == schema_text(), "stale JSON Schema: regenerate it"


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_any_data_is_either_a_migration_or_a_clear_error(data: object) -> None:
    """No input crashes the loader: it loads, or raises our error with a message."""
    try:
        Migration.from_dict(data)  # type: ignore[arg-type]
    except MigrationFileError as exc:
        assert exc.message


COMPOSITE_FK_YAML = """\
operations:
  - add_constraint:
      table: order_items
      name: order_items_order_fkey
      type: foreign_key
      columns: [tenant_id, order_id]
      references:
        table: orders
        columns: [tenant_id, id]
        on_delete: cascade
"""


def test_a_foreign_key_references_one_column_or_several(tmp_path: Path) -> None:
    [(_, composite)] = Migration.load(write(tmp_path, "m.yaml", COMPOSITE_FK_YAML)).operations
    assert composite.references.targets == ["tenant_id", "id"]  # type: ignore[union-attr]
    single = COMPOSITE_FK_YAML.replace("[tenant_id, order_id]", "[order_id]").replace(
        "columns: [tenant_id, id]", "column: id"
    )
    [(_, one)] = Migration.load(write(tmp_path, "one.yaml", single)).operations
    assert one.references.targets == ["id"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            COMPOSITE_FK_YAML.replace("columns: [tenant_id, id]", "column: id"),
            3,
            "lists 2 columns in `columns:` but references 1 (id)",
        ),
        (
            COMPOSITE_FK_YAML.replace(
                "columns: [tenant_id, id]", "column: id\n        columns: [tenant_id, id]"
            ),
            8,
            "either `column: id` or `columns: [tenant_id, id]`, not both",
        ),
        (
            COMPOSITE_FK_YAML.replace("        columns: [tenant_id, id]\n", ""),
            8,
            "either `column: id` or `columns: [tenant_id, id]`",
        ),
        (COMPOSITE_FK_YAML.replace("[tenant_id, id]", "[]"), 9, "at least 1"),
        (
            GOOD_YAML.replace(
                "default: now()", "default: now()\n        references: {table: t, columns: [a, b]}"
            ),
            5,
            "a foreign key over several columns is an add_constraint",
        ),
    ],
)
def test_bad_foreign_key_references(tmp_path: Path, text: str, line: int, expected: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(MigrationFileError) as raised:
        Migration.load(path)
    assert (raised.value.file, raised.value.line) == (str(path), line)
    assert expected in raised.value.paragraph()
    assert "Value error" not in raised.value.paragraph()
