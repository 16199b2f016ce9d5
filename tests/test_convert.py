"""`liveshift convert`: SQL statements to operations, TODO markers, raw_sql fallback, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from liveshift.cli import main
from liveshift.convert import convert_sql
from liveshift.migration import Migration


def convert(sql: str, tmp_path: Path) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """The YAML text and, loaded back through Migration.load, each (operation, spec dict)."""
    text = convert_sql(sql, "in.sql")
    path = tmp_path / "m.yaml"
    path.write_text(text)
    migration = Migration.load(path)
    ops = [(name, spec) for entry in migration.to_json() for name, spec in entry.items()]
    return text, ops


def test_add_column_with_every_clause(tmp_path: Path) -> None:
    _, ops = convert(
        "ALTER TABLE app.users ADD COLUMN score int NOT NULL DEFAULT 0 UNIQUE "
        "CHECK (score >= 0) REFERENCES scores(id) ON DELETE CASCADE;",
        tmp_path,
    )
    assert ops == [
        (
            "add_column",
            {
                "table": "users",
                "schema": "app",
                "column": {
                    "name": "score",
                    "type": "integer",
                    "nullable": False,
                    "default": "0",
                    "unique": True,
                    "check": {"constraint": "score >= 0"},
                    "references": {"table": "scores", "column": "id", "on_delete": "cascade"},
                },
            },
        )
    ]


def test_not_null_without_default_is_marked_todo(tmp_path: Path) -> None:
    text, ops = convert("ALTER TABLE users ADD COLUMN x text NOT NULL;", tmp_path)
    assert ops[0][0] == "add_column"
    lines = text.splitlines()
    todo = next(i for i, line in enumerate(lines) if "# TODO: write up" in line)
    assert "- add_column:" in lines[todo + 1]
    text, _ = convert("ALTER TABLE users ADD COLUMN x text NOT NULL DEFAULT '';", tmp_path)
    assert "TODO" not in text


def test_drop_and_rename_column_and_rename_table(tmp_path: Path) -> None:
    text, ops = convert(
        "ALTER TABLE users DROP COLUMN legacy; ALTER TABLE users RENAME COLUMN a TO b;"
        "ALTER TABLE users RENAME TO people;",
        tmp_path,
    )
    assert ops == [
        ("drop_column", {"table": "users", "column": "legacy"}),
        ("rename_column", {"table": "users", "from": "a", "to": "b"}),
        ("rename_table", {"from": "users", "to": "people"}),
    ]
    assert "# TODO: write down if legacy is NOT NULL" in text


def test_drop_of_a_nullable_column_defined_in_the_file_needs_no_todo(tmp_path: Path) -> None:
    text, ops = convert("ALTER TABLE t ADD COLUMN c int; ALTER TABLE t DROP COLUMN c;", tmp_path)
    assert [name for name, _ in ops] == ["add_column", "drop_column"]
    assert "TODO" not in text


def test_alter_column_subcommands(tmp_path: Path) -> None:
    text, ops = convert(
        "ALTER TABLE t ALTER COLUMN n TYPE bigint, ALTER COLUMN j TYPE jsonb USING j::jsonb,"
        " ALTER COLUMN a SET NOT NULL, ALTER COLUMN b DROP NOT NULL,"
        " ALTER COLUMN c SET DEFAULT 'x', ALTER COLUMN d DROP DEFAULT;",
        tmp_path,
    )
    assert [spec for _, spec in ops] == [
        {"table": "t", "column": "n", "type": "bigint"},
        {"table": "t", "column": "j", "type": "jsonb", "up": "CAST(j AS jsonb)"},
        {"table": "t", "column": "a", "nullable": False},
        {"table": "t", "column": "b", "nullable": True},
        {"table": "t", "column": "c", "default": "'x'"},
        {"table": "t", "column": "d", "drop_default": True},
    ]
    assert {name for name, _ in ops} == {"alter_column"}
    assert "# TODO: write down: convert j" in text
    assert "# TODO: write up: the value for rows where a is NULL" in text
    assert "convert n" not in text  # bigint: an obvious cast


def test_type_change_that_is_not_obviously_castable_is_marked(tmp_path: Path) -> None:
    text, _ = convert("ALTER TABLE t ALTER COLUMN n TYPE integer;", tmp_path)
    assert "# TODO: write up/down: n may not cast to integer" in text


def test_constraints(tmp_path: Path) -> None:
    _, ops = convert(
        "ALTER TABLE t ADD CONSTRAINT c1 CHECK (a > 0) NOT VALID, ADD CONSTRAINT u1 UNIQUE (a, b),"
        " ADD CONSTRAINT f1 FOREIGN KEY (org_id) REFERENCES orgs (id) ON UPDATE SET NULL,"
        " DROP CONSTRAINT old;",
        tmp_path,
    )
    assert ops == [
        ("add_constraint", {"table": "t", "name": "c1", "type": "check", "check": "a > 0"}),
        ("add_constraint", {"table": "t", "name": "u1", "type": "unique", "columns": ["a", "b"]}),
        (
            "add_constraint",
            {
                "table": "t",
                "name": "f1",
                "type": "foreign_key",
                "columns": ["org_id"],
                "references": {"table": "orgs", "column": "id", "on_update": "set null"},
            },
        ),
        ("drop_constraint", {"table": "t", "name": "old"}),
    ]


def test_composite_foreign_key(tmp_path: Path) -> None:
    _, ops = convert(
        "ALTER TABLE order_items ADD CONSTRAINT items_order_fkey FOREIGN KEY (tenant_id, order_id)"
        " REFERENCES orders (tenant_id, id) ON DELETE CASCADE;"
        " ALTER TABLE lines ADD FOREIGN KEY (a, b) REFERENCES pairs (x, y);"
        " ALTER TABLE bad ADD FOREIGN KEY (a, b) REFERENCES pairs;"
        " ALTER TABLE bad ADD FOREIGN KEY (a, b) REFERENCES pairs (x, y) MATCH FULL;",
        tmp_path,
    )
    assert ops == [
        (
            "add_constraint",
            {
                "table": "order_items",
                "name": "items_order_fkey",
                "type": "foreign_key",
                "columns": ["tenant_id", "order_id"],
                "references": {
                    "table": "orders",
                    "columns": ["tenant_id", "id"],
                    "on_delete": "cascade",
                },
            },
        ),
        (
            "add_constraint",
            {
                "table": "lines",
                "name": "lines_a_b_fkey",
                "type": "foreign_key",
                "columns": ["a", "b"],
                "references": {"table": "pairs", "columns": ["x", "y"]},
            },
        ),
        # Without the referenced column list (the primary key) or with MATCH FULL: raw_sql.
        ("raw_sql", {"up": "ALTER TABLE bad ADD FOREIGN KEY (a, b) REFERENCES pairs"}),
        (
            "raw_sql",
            {"up": "ALTER TABLE bad ADD FOREIGN KEY (a, b) REFERENCES pairs (x, y) MATCH FULL"},
        ),
    ]


def test_create_and_drop_index(tmp_path: Path) -> None:
    _, ops = convert(
        "CREATE UNIQUE INDEX CONCURRENTLY users_email ON users USING gist (lower(email), org_id)"
        " INCLUDE (name) WHERE deleted_at IS NULL; CREATE INDEX ON users (a);"
        " DROP INDEX CONCURRENTLY s.i1, i2;",
        tmp_path,
    )
    assert ops == [
        (
            "create_index",
            {
                "name": "users_email",
                "table": "users",
                "columns": ["lower(email)", "org_id"],
                "unique": True,
                "method": "gist",
                "where": "deleted_at IS NULL",
                "include": ["name"],
            },
        ),
        ("create_index", {"name": "users_a_idx", "table": "users", "columns": ["a"]}),
        ("drop_index", {"name": "i1", "schema": "s"}),
        ("drop_index", {"name": "i2"}),
    ]


def test_create_index_key_options_and_storage_parameters(tmp_path: Path) -> None:
    _, ops = convert(
        "CREATE INDEX i ON users (email text_pattern_ops DESC NULLS LAST, lower(name) "
        'COLLATE "C", id) WITH (fillfactor = 70, deduplicate_items = off, x = 1.5);'
        "CREATE INDEX j ON users (a int4_ops(siglen = 4));",
        tmp_path,
    )
    assert ops == [
        (
            "create_index",
            {
                "name": "i",
                "table": "users",
                "columns": [
                    {
                        "column": "email",
                        "opclass": "text_pattern_ops",
                        "order": "desc",
                        "nulls": "last",
                    },
                    {"expression": "lower(name)", "collate": "C"},
                    "id",
                ],
                "with": {"fillfactor": 70, "deduplicate_items": False, "x": 1.5},
            },
        ),
        # operator class parameters: raw_sql
        ("raw_sql", {"up": "CREATE INDEX j ON users (a int4_ops(siglen = 4))"}),
    ]


def test_create_and_drop_table(tmp_path: Path) -> None:
    _, ops = convert(
        "CREATE TABLE t (id bigint, body text NOT NULL DEFAULT '', org int, PRIMARY KEY (id),"
        " UNIQUE (body), CHECK (length(body) < 100), FOREIGN KEY (org) REFERENCES orgs(id));"
        " DROP TABLE old_t CASCADE; DROP TABLE x;",
        tmp_path,
    )
    assert ops[0] == (
        "create_table",
        {
            "table": "t",
            "columns": [
                {"name": "id", "type": "bigint", "primary_key": True},
                {"name": "body", "type": "text", "nullable": False, "default": "''"},
                {"name": "org", "type": "integer"},
            ],
        },
    )
    assert [(name, spec.get("type")) for name, spec in ops[1:4]] == [
        ("add_constraint", "unique"),
        ("add_constraint", "check"),
        ("add_constraint", "foreign_key"),
    ]
    assert ops[4:] == [
        ("drop_table", {"table": "old_t", "cascade": True}),
        ("drop_table", {"table": "x"}),
    ]


def test_everything_else_is_raw_sql_with_the_original_text(tmp_path: Path) -> None:
    sql = (
        "BEGIN;\nUPDATE users SET a = 1\n  WHERE a IS NULL;\n"
        "CREATE TABLE p (a int) PARTITION BY RANGE (a);\n"
        "CREATE INDEX i ON t (a) TABLESPACE fast;\nCOMMIT;\n"
    )
    text, ops = convert(sql, tmp_path)
    assert ops == [
        ("raw_sql", {"up": "UPDATE users SET a = 1\n  WHERE a IS NULL"}),
        ("raw_sql", {"up": "CREATE TABLE p (a int) PARTITION BY RANGE (a)"}),
        ("raw_sql", {"up": "CREATE INDEX i ON t (a) TABLESPACE fast"}),
    ]
    assert "# dropped `BEGIN`" in text


def test_unmappable_subcommand_alone_becomes_raw_sql(tmp_path: Path) -> None:
    _, ops = convert("ALTER TABLE t ADD COLUMN a int, ENABLE ROW LEVEL SECURITY;", tmp_path)
    assert ops[0][0] == "add_column"
    assert ops[1] == ("raw_sql", {"up": "ALTER TABLE t ENABLE ROW LEVEL SECURITY"})


def test_cli_syntax_error_exits_2_with_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("SELECT 1;\nALTER TABEL x ADD COLUMN y int;\n")
    assert main(["convert", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2:7: SQL syntax error" in err
    assert "TABEL" in err


def test_cli_writes_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = tmp_path / "0001_add.sql"
    sql.write_text("ALTER TABLE users ADD COLUMN last_login timestamptz;")
    out = tmp_path / "0001_add.yaml"
    assert main(["convert", str(sql), "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    migration = Migration.load(out)
    assert [name for name, _ in migration.operations] == ["add_column"]
    assert main(["convert", str(sql)]) == 0
    assert capsys.readouterr().out == out.read_text()


def test_converted_file_plans_on_a_matching_table(pg_url: str, tmp_path: Path) -> None:
    from liveshift.migrator import Migrator

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, email text, n int)")
    _, _ = convert(
        "ALTER TABLE users ADD COLUMN last_login timestamptz DEFAULT now();"
        "ALTER TABLE users RENAME COLUMN email TO mail;"
        "CREATE INDEX users_n ON users (n);",
        tmp_path,
    )
    plan = Migrator(pg_url).plan(Migration.load(tmp_path / "m.yaml"))
    assert plan.start
    assert "mail" in plan.after.tables["users"].columns


def test_keys_constraints_and_replica_identity(tmp_path: Path) -> None:
    text, ops = convert(
        "CREATE TABLE a (t int, id int, e text CONSTRAINT a_e_uq UNIQUE,"
        " CONSTRAINT a_pk PRIMARY KEY (t, id));"
        "ALTER TABLE b ADD CONSTRAINT b_pk PRIMARY KEY (id) INCLUDE (x);"
        "ALTER TABLE b ADD CONSTRAINT b_u UNIQUE (y) INCLUDE (x);"
        "ALTER TABLE b ADD CONSTRAINT b_x EXCLUDE USING gist (during WITH &&, (lower(r)) WITH =)"
        " WHERE (NOT c);"
        "ALTER TABLE b RENAME CONSTRAINT b_u TO b_y_key;"
        "ALTER TABLE b REPLICA IDENTITY USING INDEX b_y_key;"
        "ALTER TABLE b REPLICA IDENTITY FULL;",
        tmp_path,
    )
    assert ops == [
        (
            "create_table",
            {
                "table": "a",
                "columns": [
                    {"name": "t", "type": "integer", "primary_key": {"name": "a_pk"}},
                    {"name": "id", "type": "integer", "primary_key": True},
                    {"name": "e", "type": "text", "unique": {"name": "a_e_uq"}},
                ],
            },
        ),
        (
            "add_constraint",
            {
                "table": "b",
                "name": "b_pk",
                "type": "primary_key",
                "columns": ["id"],
                "include": ["x"],
            },
        ),
        (
            "add_constraint",
            {"table": "b", "name": "b_u", "type": "unique", "columns": ["y"], "include": ["x"]},
        ),
        (
            "add_constraint",
            {
                "table": "b",
                "name": "b_x",
                "type": "exclude",
                "elements": [
                    {"column": "during", "operator": "&&"},
                    {"expression": "lower(r)", "operator": "="},
                ],
                "where": "NOT c",
            },
        ),
        ("rename_constraint", {"table": "b", "from": "b_u", "to": "b_y_key"}),
        ("set_replica_identity", {"table": "b", "identity": {"index": "b_y_key"}}),
        ("set_replica_identity", {"table": "b", "identity": "full"}),
    ]
    assert "build_under_lock: true" in text
