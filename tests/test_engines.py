"""The engine seam: the registry by URL scheme, capability flags that code reads, and the
planner's refusal (before connecting) of operations an engine's capabilities cannot carry."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from liveshift.engines import ENGINES, engine_for
from liveshift.engines.base import Capabilities
from liveshift.engines.mysql import MYSQL
from liveshift.engines.postgres import POSTGRES
from liveshift.errors import ConfigError, ValidationError
from liveshift.migration import Migration
from liveshift.operations import requirements
from liveshift.planner import check_capabilities

SRC = Path(__file__).resolve().parents[1] / "src" / "liveshift"
FLAGS = [f.name for f in dataclasses.fields(Capabilities) if f.name != "name"]
MYSQL_URL = "mysql://root@127.0.0.1:3306/test"


def migration(*operations: dict[str, Any]) -> Migration:
    return Migration.from_dict({"name": "m", "operations": list(operations)})


def lacking(flag: str) -> Capabilities:
    """PostgreSQL's capabilities with one flag taken away."""
    value: Any = frozenset({"btree"}) if flag == "index_methods" else False
    return dataclasses.replace(POSTGRES.capabilities, name="fake", **{flag: value})


# -- registry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("postgresql://u@h/db", "postgresql"),
        ("postgres://u@h/db", "postgresql"),
        ("host=h dbname=db", "postgresql"),  # libpq key=value
        ("mysql://u@h/db", "mysql"),
        ("mariadb://u@h/db", "mysql"),
    ],
)
def test_engine_for_scheme(url: str, engine: str) -> None:
    assert engine_for(url).name == engine


def test_unknown_scheme_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        engine_for("oracle://u@h/db")
    assert "'oracle'" in caught.value.message
    assert "mysql://" in (caught.value.hint or "")


def test_every_engine_is_registered_under_each_of_its_schemes() -> None:
    for engine in (POSTGRES, MYSQL):
        assert all(ENGINES[s] is engine for s in engine.schemes)


# -- every flag is read ------------------------------------------------------------------------


@pytest.mark.parametrize("flag", FLAGS)
def test_every_flag_is_read_outside_the_engine_declarations(flag: str) -> None:
    """A flag nothing reads must not exist (issue 16): each field name appears in some module
    other than engines/ (where flags are declared and set)."""
    readers = [
        p
        for p in SRC.rglob("*.py")
        if "engines" not in p.relative_to(SRC).parts and flag in p.read_text()
    ]
    assert readers, f"no module outside engines/ reads Capabilities.{flag}"


def test_every_flag_has_a_hint_and_a_doc_entry() -> None:
    docs = (SRC.parents[1] / "docs" / "engines.md").read_text()
    for flag in FLAGS:
        assert flag in requirements.HINTS
        assert f"`{flag}`" in docs


# -- refusals, pure (no server) ----------------------------------------------------------------

CASES: list[tuple[str, dict[str, Any]]] = [
    ("concurrent_index", {"create_index": {"name": "i", "table": "t", "columns": ["a"]}}),
    (
        "concurrent_index",
        {"add_column": {"table": "t", "column": {"name": "c", "type": "int", "unique": True}}},
    ),
    ("concurrent_index", {"alter_column": {"table": "t", "column": "c", "unique": True}}),
    (
        "not_valid_constraints",
        {"add_constraint": {"table": "t", "name": "k", "type": "check", "check": "a > 0"}},
    ),
    (
        "not_valid_constraints",
        {
            "add_column": {
                "table": "t",
                "column": {"name": "c", "type": "int", "check": {"constraint": "c > 0"}},
            }
        },
    ),
    ("not_valid_constraints", {"alter_column": {"table": "t", "column": "c", "nullable": False}}),
    (
        "not_valid_constraints",
        {
            "alter_column": {
                "table": "t",
                "column": "c",
                "references": {"table": "u", "column": "id"},
            }
        },
    ),
    (
        "exclusion_constraints",
        {
            "add_constraint": {
                "table": "t",
                "name": "x",
                "type": "exclude",
                "elements": [{"column": "during", "operator": "&&"}],
            }
        },
    ),
    (
        "partial_indexes",
        {"create_index": {"name": "i", "table": "t", "columns": ["a"], "where": "a > 0"}},
    ),
    (
        "covering_indexes",
        {"create_index": {"name": "i", "table": "t", "columns": ["a"], "include": ["b"]}},
    ),
    (
        "index_methods",
        {"create_index": {"name": "i", "table": "t", "columns": ["a"], "method": "gin"}},
    ),
    (
        "identity_columns",
        {
            "create_table": {
                "table": "t",
                "columns": [{"name": "id", "type": "bigint", "identity": "always"}],
            }
        },
    ),
    ("replica_identity", {"set_replica_identity": {"table": "t", "identity": "full"}}),
    ("transactional_ddl", {"raw_sql": {"up": "select 1"}}),
]


def test_every_flag_has_a_refusal_case() -> None:
    assert {flag for flag, _ in CASES} | {"updatable_views"} == set(FLAGS)


@pytest.mark.parametrize(("flag", "operation"), CASES, ids=[f for f, _ in CASES])
def test_refused_by_the_missing_flag(flag: str, operation: dict[str, Any]) -> None:
    name = next(iter(operation))
    with pytest.raises(ValidationError) as caught:
        check_capabilities(migration(operation), lacking(flag))
    error = caught.value
    assert "fake engine" in error.message
    assert any(d.startswith(f"operation 1 ({name}) needs {flag}: ") for d in error.details)
    assert error.hint is not None and requirements.HINTS[flag] in error.hint
    # The same operation passes where the engine has every flag.
    check_capabilities(migration(operation), POSTGRES.capabilities)


def test_a_version_schema_needs_updatable_views() -> None:
    with pytest.raises(ValidationError) as caught:
        check_capabilities(migration({"drop_table": {"table": "t"}}), lacking("updatable_views"))
    assert caught.value.details[0].startswith("every migration needs updatable_views: ")


def test_each_refusal_is_listed_and_each_hint_given_once() -> None:
    plan = migration(
        {"add_constraint": {"table": "t", "name": "k", "type": "check", "check": "a > 0"}},
        {"rename_table": {"from": "t", "to": "u"}},
        {"alter_column": {"table": "u", "column": "c", "nullable": False}},
    )
    with pytest.raises(ValidationError) as caught:
        check_capabilities(plan, MYSQL.capabilities)
    details = caught.value.details
    assert [d.split(" needs ")[0] for d in details] == [
        "operation 1 (add_constraint)",
        "operation 3 (alter_column)",
    ]
    assert (caught.value.hint or "").count("issue 18") == 1


def test_what_needs_nothing_special_passes_on_mysql() -> None:
    check_capabilities(
        migration(
            {"rename_column": {"table": "t", "from": "a", "to": "b"}},
            {"drop_column": {"table": "t", "column": "b"}},
            {"create_index": {"name": "i", "table": "t", "columns": ["a"]}},
        ),
        MYSQL.capabilities,
    )


def test_postgresql_has_every_need_of_every_case() -> None:
    for _, operation in CASES:
        check_capabilities(migration(operation), POSTGRES.capabilities)


# -- the CLI, through a real process, with a MySQL URL (nothing listens there) -----------------


def plan(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    env = {
        k: v for k, v in os.environ.items() if k not in ("LIVESHIFT_DATABASE_URL", "DATABASE_URL")
    }
    return subprocess.run(
        [sys.executable, "-m", "liveshift.cli", "plan", str(path), "--database-url", MYSQL_URL],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_plan_on_mysql_refuses_by_capability(tmp_path: Path) -> None:
    result = plan(
        tmp_path,
        "name: m\noperations:\n  - add_constraint:\n      table: users\n      name: age_positive\n"
        "      type: check\n      check: age > 0\n",
    )
    assert result.returncode == 2, result.stderr
    assert "operation 1 (add_constraint) needs not_valid_constraints" in result.stderr
    assert "issue 18" in result.stderr


def test_cli_plan_on_mysql_says_the_engine_is_not_built(tmp_path: Path) -> None:
    result = plan(
        tmp_path,
        "name: m\noperations:\n  - create_index:\n      name: users_email_idx\n"
        "      table: users\n      columns: [email]\n",
    )
    assert result.returncode == 2, result.stderr
    assert "MySQL/MariaDB engine is not built yet" in result.stderr
    assert "operation 1" not in result.stderr
