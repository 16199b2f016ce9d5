"""The lint cache: unchanged files are answered from it, with the same output as linting them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from liveshift.linter.cache import LintCache
from liveshift.linter.options import LintOptions
from liveshift.linter.registry import all_rules, rule_ids_without_import

MIGRATION = "operations:\n  - raw_sql:\n      up: |\n        drop table legacy;\n"


def lint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "liveshift.linter", "--format", "json", *args],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, "NO_COLOR": "1"}, check=False,
    )  # fmt: skip


def rules(done: subprocess.CompletedProcess[str]) -> list[tuple[str, str, int]]:
    return [(f["file"], f["rule"], f["line"]) for f in json.loads(done.stdout)["findings"]]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001.sql").write_text("create index i on t (a);\n-- liveshift: ignore x\n")
    (tmp_path / "m" / "0002.sql").write_text("select 1;\nalter tabel t;\n")
    (tmp_path / "m" / "0003.yaml").write_text(MIGRATION)
    return tmp_path


def cache_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("lint-*.json"))


def test_second_run_is_answered_from_the_cache_without_the_parser(
    project: Path, lint_cache_dir: Path
) -> None:
    cold = lint("m", cwd=project)
    assert cold.returncode == 1 and len(cache_files(lint_cache_dir)) == 1
    script = (
        "import sys\nfrom liveshift.cli import main\n"
        "code = main(['lint', '--format', 'json', 'm'])\n"
        "print('PARSER', 'pglast' in sys.modules, 'RULES', 'liveshift.linter.engine' in sys.modules)"
    )
    warm = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=project, check=False
    )
    assert "PARSER False RULES False" in warm.stdout, warm.stderr
    document = warm.stdout[: warm.stdout.rindex("PARSER")]
    assert json.loads(document) == json.loads(cold.stdout)


def test_a_changed_file_is_linted_again(project: Path) -> None:
    first = rules(lint("m", cwd=project))
    assert ("m/0001.sql", "create-index-non-concurrently", 1) in first
    (project / "m" / "0001.sql").write_text("select 1;\ntruncate t;\n")
    second = rules(lint("m", cwd=project))
    assert ("m/0001.sql", "truncate", 2) in second
    assert ("m/0001.sql", "create-index-non-concurrently", 1) not in second


def test_options_have_separate_caches(project: Path, lint_cache_dir: Path) -> None:
    (project / "d.sql").write_text("alter table t add column a int default 0;\n")
    assert "add-column-default-pre-pg11" not in str(rules(lint("d.sql", cwd=project)))
    old = rules(lint("--pg-version", "10", "d.sql", cwd=project))
    assert ("d.sql", "add-column-default-pre-pg11", 1) in old
    assert len(cache_files(lint_cache_dir)) == 2


def test_same_bytes_as_sql_and_as_migration_file_are_different_entries(project: Path) -> None:
    (project / "a.sql").write_text("truncate t;\n")
    (project / "a.yaml").write_text("truncate t;\n")  # not a migration file: bad input
    assert lint("a.sql", cwd=project).returncode == 1
    assert lint("a.yaml", cwd=project).returncode == 2


def test_damaged_cache_is_ignored_and_replaced(project: Path, lint_cache_dir: Path) -> None:
    expected = rules(lint("m", cwd=project))
    (path,) = cache_files(lint_cache_dir)
    path.write_text('{"format": 1, "entries": {')
    assert rules(lint("m", cwd=project)) == expected
    json.loads(path.read_text())  # rewritten whole
    entries = json.loads(path.read_text())["entries"]
    path.write_text(json.dumps({"format": 1, "entries": {k: "junk" for k in entries}}))
    assert rules(lint("m", cwd=project)) == expected


def test_no_cache_neither_reads_nor_writes(project: Path, lint_cache_dir: Path) -> None:
    assert lint("--no-cache", "m", cwd=project).returncode == 1
    assert cache_files(lint_cache_dir) == []


def test_unknown_excluded_rule_is_bad_input_even_from_a_warm_cache(project: Path) -> None:
    lint("m", cwd=project)
    done = lint("--exclude", "drop-tabel", "m", cwd=project)
    assert done.returncode == 2 and "drop-table" in done.stderr


def test_unwritable_cache_directory_is_not_an_error(project: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "liveshift.linter", "m"],
        capture_output=True, text=True, cwd=project, check=False,
        env={**os.environ, "LIVESHIFT_CACHE_DIR": str(blocker / "cache")},
    )  # fmt: skip
    assert done.returncode == 1 and done.stderr == ""


def test_cache_keys_depend_on_options_and_kind() -> None:
    assert LintCache.key("sql", b"x") != LintCache.key("migration", b"x")
    one = LintCache.for_options(LintOptions(pg_version=16)).path
    assert one != LintCache.for_options(LintOptions(pg_version=15)).path
    assert one == LintCache.for_options(LintOptions(pg_version=16)).path


def test_rule_ids_follow_module_names() -> None:
    assert rule_ids_without_import() == [rule.id for rule in all_rules()]


def age(path: Path, seconds: int = 60) -> int:
    """Set a file's mtime to `seconds` ago (old enough for the file index); returns it in ns."""
    stamp = time.time_ns() - seconds * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    return stamp


def test_a_file_with_unchanged_status_is_not_read_again(project: Path) -> None:
    sql = project / "m" / "0001.sql"
    stamp = age(sql)
    first = rules(lint("m", cwd=project))
    # Same size, same inode, same mtime: the index answers without reading the bytes, so the
    # swapped content goes unseen. (Any edit through an editor or git changes the mtime.)
    with sql.open("r+") as handle:
        handle.write("truncate t;        ")
    os.utime(sql, ns=(stamp, stamp))
    assert rules(lint("m", cwd=project)) == first
    age(sql, 30)  # a different mtime: read, hashed and linted again
    assert ("m/0001.sql", "truncate", 1) in rules(lint("m", cwd=project))


def test_recently_modified_files_are_not_indexed(project: Path, lint_cache_dir: Path) -> None:
    age(project / "m" / "0002.sql")
    lint("m", cwd=project)
    (path,) = cache_files(lint_cache_dir)
    indexed = json.loads(path.read_text())["files"]
    assert len(indexed) == 1  # 0002.sql only: 0001.sql and 0003.yaml were written just now
