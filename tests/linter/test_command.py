"""The lint command as a whole process: exit codes, inputs, configuration, lazy imports."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from liveshift.linter.config import LintConfigError, load_config
from liveshift.linter.inputs import LintInputError, expand_paths, normal_path, read_migration


def lint(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "liveshift.linter", *args],
        capture_output=True, text=True, cwd=cwd, env=env, input=stdin, check=False,
    )  # fmt: skip


def python(script: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet in a fresh interpreter (to see what a process imports)."""
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory with its own pyproject.toml, so the repository's settings do not leak in."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return tmp_path


def test_exit_codes(project: Path) -> None:
    (project / "ok.sql").write_text("set lock_timeout = '1s';\nalter table t add column a int;\n")
    (project / "bad.sql").write_text("drop table t;\n")
    assert lint("ok.sql", cwd=project).returncode == 0
    assert lint("bad.sql", cwd=project).returncode == 1
    missing = lint("ok.sql", "nope.sql", cwd=project)
    assert missing.returncode == 2 and "nope.sql" in missing.stderr
    (project / "latin1.sql").write_bytes("select 'caf\xe9';".encode("latin-1"))
    assert lint("latin1.sql", cwd=project).returncode == 2


def test_warnings_alone_exit_zero(project: Path) -> None:
    (project / "w.sql").write_text("create table t (id bigint, at timestamp);\n")
    done = lint("w.sql", cwd=project)
    assert done.returncode == 0 and "prefer-timestamptz" in done.stdout


def test_syntax_error_is_a_finding_not_a_crash(project: Path) -> None:
    (project / "s.sql").write_text("select 1;\nalter tabel t;\n")
    done = lint("s.sql", cwd=project)
    assert done.returncode == 1 and "s.sql:2:7 syntax-error" in done.stdout
    assert "Traceback" not in done.stderr


def test_stdin_and_directories(project: Path) -> None:
    done = lint("-", cwd=project, stdin="truncate t;")
    assert done.returncode == 1 and "<stdin>:1:1 truncate" in done.stdout
    (project / "migrations" / "deep").mkdir(parents=True)
    (project / "migrations" / "deep" / "0001.sql").write_text("vacuum full t;")
    (project / "migrations" / "readme.txt").write_text("drop table t;")
    (project / "migrations" / "other.yaml").write_text("a: 1\n")
    done = lint("--format", "json", "migrations", cwd=project)
    document = json.loads(done.stdout)
    assert {f["rule"] for f in document["findings"]} == {"vacuum-full", "missing-lock-timeout"}
    assert document["summary"]["files"] == 1


def test_explicit_non_migration_yaml_is_bad_input(project: Path) -> None:
    (project / "other.yaml").write_text("a: 1\n")
    done = lint("other.yaml", cwd=project)
    assert done.returncode == 2 and "operations" in done.stderr


def test_pyproject_configuration(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        "[tool.liveshift.lint]\nexclude = ['missing-lock-timeout']\npg-version = 10\n"
        "paths = ['db']\nexclude-paths = ['*legacy*']\n"
    )
    (project / "db").mkdir()
    (project / "db" / "0001.sql").write_text("alter table t add column a int default 0;")
    (project / "db" / "legacy_0000.sql").write_text("drop table t;")
    done = lint(cwd=project)  # no paths: they come from the configuration
    assert done.returncode == 1
    assert "add-column-default-pre-pg11" in done.stdout
    assert "missing-lock-timeout" not in done.stdout and "drop-table" not in done.stdout
    overridden = lint("--pg-version", "16", cwd=project)
    assert overridden.returncode == 0, overridden.stdout


def test_bad_configuration_is_exit_2_with_suggestion(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.liveshift.lint]\npg_verison = 12\n")
    (project / "a.sql").write_text("select 1;")
    done = lint("a.sql", cwd=project)
    assert done.returncode == 2 and "pg-version" in done.stderr
    with pytest.raises(LintConfigError):
        load_config(str(project / "pyproject.toml"))


def test_exclude_option_and_unknown_rule(project: Path) -> None:
    (project / "a.sql").write_text("drop table t;")
    assert (
        lint("--exclude", "drop-table,missing-lock-timeout", "a.sql", cwd=project).returncode == 0
    )
    unknown = lint("--exclude", "drop-tabel", "a.sql", cwd=project)
    assert unknown.returncode == 2 and "drop-table" in unknown.stderr


def test_assume_in_transaction(project: Path) -> None:
    (project / "a.sql").write_text("create index concurrently i on t (a);")
    assert lint("a.sql", cwd=project).returncode == 0
    done = lint("--assume-in-transaction", "a.sql", cwd=project)
    assert "concurrently-in-transaction" in done.stdout


def test_list_rules(project: Path) -> None:
    done = lint("--list-rules", cwd=project)
    assert done.returncode == 0 and "set-not-null" in done.stdout


def test_lint_does_not_import_psycopg_pydantic_or_rich(project: Path) -> None:
    (project / "a.sql").write_text("drop table t;\n")
    (project / "m.yaml").write_text("operations:\n  - raw_sql:\n      up: select 1\n")
    script = (
        "import sys\nfrom liveshift.linter.__main__ import main\n"
        "code = main(['a.sql', 'm.yaml'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'psycopg', 'pydantic', 'rich'})\n"
        "print('HEAVY', heavy, code)\n"
    )
    done = python(script, project)
    assert "HEAVY [] 1" in done.stdout, done.stdout + done.stderr


def test_cold_lint_imports_neither_argparse_nor_re_nor_json(project: Path) -> None:
    (project / "a.sql").write_text("drop table t; -- liveshift: ignore drop-table\n")
    script = (
        "import sys\nfrom liveshift.cli import main\n"
        "code = main(['lint', '--format', 'json', '--no-cache', 'a.sql'])\n"
        "loaded = sorted({'argparse', 're', 'json', 'gettext', 'fnmatch'} & set(sys.modules))\n"
        "print('LOADED', loaded, code)\n"
    )
    done = python(script, project)
    assert "LOADED [] 1" in done.stdout, done.stdout + done.stderr
    assert '"rule": "missing-lock-timeout"' in done.stdout  # and it did lint


def test_liveshift_lint_imports_only_what_linting_sql_needs(project: Path) -> None:
    (project / "a.sql").write_text("drop table t;\n")
    script = (
        "import sys\nfrom liveshift.cli import main\n"
        "code = main(['lint', 'a.sql'])\n"
        "unwanted = {'psycopg', 'pydantic', 'rich', 'yaml', 'tomllib', 'liveshift.convert',\n"
        "            'liveshift.migration', 'liveshift.migrator', 'liveshift.linter.trace',\n"
        "            'typing', 'dataclasses', 'inspect', 'pathlib', 'difflib', 'shutil'}\n"
        "loaded = sorted(m for m in sys.modules if m in unwanted or m.split('.')[0] in unwanted)\n"
        "deferred = sorted(n for n in ('pglast', 'pglast.ast', 'pglast.enums')\n"
        "                  if type(sys.modules[n]).__name__ == '_Deferred')\n"
        "print('LOADED', loaded, 'DEFERRED', deferred, code)\n"
    )
    done = python(script, project)
    expected = "LOADED [] DEFERRED ['pglast', 'pglast.ast', 'pglast.enums'] 1"
    assert expected in done.stdout, done.stdout + done.stderr


def test_deferred_pglast_modules_work_when_used_later() -> None:
    script = (
        "from liveshift.linter.source import Source\n"
        "assert Source('select 1;').parse()[0][0].kind == 'SelectStmt'\n"
        "import pglast, pglast.ast\n"
        "from pglast.enums import ObjectType\n"
        "from pglast.stream import RawStream\n"
        "tree = pglast.parse_sql('drop table t')\n"
        "assert isinstance(tree[0].stmt, pglast.ast.DropStmt)\n"
        "assert tree[0].stmt.removeType is ObjectType.OBJECT_TABLE\n"
        "print(RawStream()(tree))\n"
    )
    done = python(script)
    assert done.returncode == 0 and "DROP TABLE t" in done.stdout, done.stderr


def test_crlf_files_report_the_same_places_as_lf(project: Path) -> None:
    sql = "set lock_timeout = '1s';\n-- note\ncreate index i on t (a);\ndrop table t;\n"
    (project / "lf.sql").write_bytes(sql.encode())
    (project / "crlf.sql").write_bytes(sql.replace("\n", "\r\n").encode())
    lf = json.loads(lint("--format", "json", "lf.sql", cwd=project).stdout)["findings"]
    crlf = json.loads(lint("--format", "json", "crlf.sql", cwd=project).stdout)["findings"]
    assert [(f["rule"], f["line"], f["column"]) for f in lf] == [
        ("create-index-non-concurrently", 3, 1),
        ("drop-table", 4, 1),
    ]
    assert [(f["rule"], f["line"], f["column"]) for f in crlf] == [
        (f["rule"], f["line"], f["column"]) for f in lf
    ]


def test_directory_order_is_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a/b.sql", "a-c.sql", "A.sql", "z/y/x.yaml", "n.txt", ".sql", "d.sql."):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("select 1;")
    (tmp_path / "link").symlink_to(tmp_path / "a", target_is_directory=True)
    wanted = {".sql", ".yaml", ".yml", ".json"}
    expected = [p for p in sorted(tmp_path.rglob("*")) if p.suffix in wanted and p.is_file()]
    assert list(expand_paths([str(tmp_path)])) == expected
    assert [p.name for p in expected] == ["A.sql", "b.sql", "a-c.sql", "x.yaml"]
    # Names as str(Path) gives them, whatever the spelling of the directory argument.
    monkeypatch.chdir(tmp_path)
    for spelling in (".", "./", "a/", "./a//"):
        found = [str(p) for p in expand_paths([spelling])]
        walked = sorted(Path(spelling).rglob("*"))
        assert found == [str(p) for p in walked if p.suffix in wanted and p.is_file()], spelling


def test_directory_order_is_path_order_for_tricky_names(tmp_path: Path) -> None:
    # Names that sort differently as whole strings and as parts: `-`, `.`, ` ` and `+` sort
    # before `/`, and one name can be a prefix of another.
    rng = random.Random(7)
    pieces = ["a", "a-", "a.b", "a b", "a+", "ab", "A", "0", "é", "a/", "z/a", "a-/b"]
    for _ in range(80):
        name = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 3))).strip("/")
        path = tmp_path / (name + ".sql")
        if any(part in ("", ".", "..") for part in name.split("/")) or path.parent.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_dir():
            path.write_text("select 1;")
    expected = [p for p in sorted(tmp_path.rglob("*")) if p.suffix == ".sql" and p.is_file()]
    assert len(expected) > 30
    assert list(expand_paths([str(tmp_path)])) == expected


def test_suffix_checks_agree_with_splitext() -> None:
    from liveshift.linter.inputs import (
        MIGRATION_SUFFIXES,
        SQL_SUFFIXES,
        _has_lint_suffix,
        input_kind,
    )

    rng = random.Random(3)
    pieces = [".", "..", "a", "sql", ".sql", ".yaml", ".yml", ".json", "x.", "/", ".SQL", "é"]
    names = {"".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))) for _ in range(3000)}

    def kind(name: str) -> str:
        return "migration" if os.path.splitext(name)[1] in MIGRATION_SUFFIXES else "sql"

    for name in names:
        suffix = os.path.splitext(name)[1]
        assert input_kind(name) == kind(name), name
        assert input_kind(Path(name)) == kind(str(Path(name))), name
        if "/" not in name:
            wanted = suffix in SQL_SUFFIXES | MIGRATION_SUFFIXES
            assert _has_lint_suffix(name) == wanted, name


@pytest.mark.parametrize(
    "raw",
    [
        "",
        ".",
        "./",
        "a",
        "a/",
        "./a//b/./c/",
        "/",
        "//",
        "///",
        "//a/./b",
        "/../x/..",
        "a/../b",
        ". /x",
    ],
)
def test_paths_are_named_as_pathlib_names_them(raw: str) -> None:
    assert normal_path(raw) == str(Path(raw))


def test_migration_file_lines_map_into_the_yaml(tmp_path: Path) -> None:
    text = (
        "operations:\n"
        "  - add_column: {table: t, column: {name: a, type: text}}\n"
        "  - raw_sql:\n"
        "      up: |\n"
        "        set lock_timeout = '1s';\n"
        "        drop table old;\n"
        "      down: 'select 1'\n"
    )
    result = read_migration("m.yaml", text)
    assert result is not None and len(result.sources) == 2
    from liveshift.linter import Linter

    findings = Linter().lint(result.sources[0])
    assert [(f.rule, f.line, f.column) for f in findings] == [("drop-table", 6, 9)]


def test_json_migration_and_broken_yaml() -> None:
    document = json.dumps({"operations": [{"raw_sql": {"up": "truncate t", "down": "select 1"}}]})
    result = read_migration("m.json", document)
    assert result is not None and result.sources[0].text == "truncate t"
    with pytest.raises(LintInputError) as info:
        read_migration("bad.yaml", "operations: [\n")
    assert info.value.line is not None


def test_raw_sql_without_down_is_warned() -> None:
    result = read_migration("m.yaml", "operations:\n  - raw_sql:\n      up: select 1\n")
    assert result is not None
    assert [(f.rule, f.line) for f in result.findings] == [("raw-sql-without-down", 2)]
