"""Linting in several processes gives byte for byte what linting in one does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from liveshift.linter.parallel import _dumps, _loads, can_fork, map_in_processes

pytestmark = pytest.mark.skipif(not can_fork(), reason="no fork here: lint runs serially")

FILES = {
    "a/0001_create.sql": "create table t (id int primary key, note varchar(20));\n",
    "a/0002_index.sql": "set lock_timeout = '1s';\ncreate index i on t (note);\n",
    "a/0003_ignored.sql": "drop table t; -- liveshift: ignore drop-table\n"
    "-- liveshift: ignore truncate\nselect 1;\n",
    "a/0004_syntax.sql": "alter table t add column a int;\nalter tabel t;\n",
    "a/0005_migration.yaml": "operations:\n  - raw_sql:\n      up: |\n        drop table legacy;\n",
    "a/0006_notes.yaml": "title: not a migration, skipped in a directory\n",
    "a/0007_latin1.sql": None,  # not UTF-8: an input error
    "b/0001_vacuum.sql": "vacuum full t;\n",
    "b/0002_multibyte.sql": "select 'é';\nalter table t alter column note type text;\nzap;\n",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        if text is None:
            path.write_bytes("select 'caf\xe9';\n".encode("latin-1"))
        else:
            path.write_text(text, encoding="utf-8")
    # Many small files after the special ones, so that every process gets several chunks.
    for number in range(40):
        (tmp_path / "b" / f"1{number:03d}.sql").write_text(
            f"alter table t{number} add column c{number} int default random();\n"
        )
    return tmp_path


def lint(*args: str, cwd: Path) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "liveshift.linter", *args],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("output", ["text", "json", "sarif", "github"])
def test_parallel_output_is_identical_to_serial(corpus: Path, output: str) -> None:
    serial = lint("--no-cache", "--jobs", "1", "--format", output, "a", "b", cwd=corpus)
    assert serial[0] == 2  # the latin-1 file; findings are still reported
    assert "0007_latin1.sql is not UTF-8" in serial[2]
    for jobs in ("2", "3", "7"):
        assert (
            lint("--no-cache", "--jobs", jobs, "--format", output, "a", "b", cwd=corpus) == serial
        )
    if output == "text":
        for expected in ("syntax-error", "drop-table", "unused-ignore", "raw-sql-without-down",
                         "vacuum-full", "add-column-volatile-default"):  # fmt: skip
            assert expected in serial[1]
        assert "0003_ignored.sql:1:1 drop-table" not in serial[1]


def test_parallel_run_fills_the_cache_as_a_serial_one(corpus: Path, lint_cache_dir: Path) -> None:
    serial = lint("--jobs", "1", "--format", "json", "a", "b", cwd=corpus)
    (serial_cache,) = lint_cache_dir.glob("lint-*.json")
    filled_serially = serial_cache.read_text()
    serial_cache.unlink()
    assert lint("--jobs", "3", "--format", "json", "a", "b", cwd=corpus) == serial
    assert serial_cache.read_text() == filled_serially
    # Answered from the cache the parallel run wrote.
    assert lint("--jobs", "3", "--format", "json", "a", "b", cwd=corpus) == serial


def test_work_is_shared_between_processes() -> None:
    def pid_after_a_while(_item: int) -> int:
        time.sleep(0.002)  # slow enough that one process cannot take every chunk alone
        return os.getpid()

    pids = map_in_processes(pid_after_a_while, list(range(200)), 3)
    assert len(pids) == 200 and len(set(pids)) > 1


def test_results_marshal_can_not_write_travel_pickled() -> None:
    from liveshift.errors import LiveshiftError

    def outcome(item: int) -> object:
        time.sleep(0.001)  # so that children take some of the chunks
        if item % 10 == 3:
            return LiveshiftError(f"input {item}", file=f"{item}.sql")  # pickled
        return (item, [("rule", "error", "message", "help", f"{item}.sql", 1, 2, None)])

    expected = [outcome(item) for item in range(120)]
    assert map_in_processes(outcome, list(range(120)), 3) == expected
    rows = [(0, [outcome(1), outcome(2)])]
    assert _dumps(rows)[:1] == b"m" and _loads(_dumps(rows)) == rows  # marshal
    errors = [(0, [outcome(3)])]
    assert _dumps(errors)[:1] == b"p" and _loads(_dumps(errors)) == errors  # pickle


def test_failed_child_is_replaced_by_this_process() -> None:
    parent = os.getpid()

    def square(item: int) -> int:
        if os.getpid() != parent:
            os._exit(3)  # a child dies mid-way: its chunks are done again here
        return item * item

    assert map_in_processes(square, list(range(100)), 4) == [i * i for i in range(100)]


def test_an_exception_surfaces_as_in_a_serial_run() -> None:
    def fail_on_seven(item: int) -> int:
        if item == 7:
            raise ValueError("seven")
        return item

    with pytest.raises(ValueError, match="seven"):
        map_in_processes(fail_on_seven, list(range(100)), 3)


def test_jobs_must_be_positive(corpus: Path) -> None:
    code, _out, err = lint("--jobs", "0", "a", cwd=corpus)
    assert code == 2 and "--jobs" in err
