"""Automatic fixes: what each rewrites, when it declines, and that fixed SQL parses, lints clean
for the fixed rules and runs on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from liveshift.linter import engine as engine_module
from liveshift.linter import lint_sql
from liveshift.linter.edits import Edit, apply_edits, overlaps, quote_ident
from liveshift.linter.fix import fix_sql
from liveshift.linter.options import LintOptions
from liveshift.linter.registry import all_rules
from liveshift.linter.rule import Rule
from liveshift.linter.source import Source


def fixed(sql: str, **options: object) -> str:
    return fix_sql(sql, LintOptions(**options)).after  # type: ignore[arg-type]


def rules(sql: str, **options: object) -> set[str]:
    return {f.rule for f in lint_sql(sql, **options)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "create index users_email on users (email);",
            "create index concurrently users_email on users (email);",
        ),
        (
            "CREATE UNIQUE INDEX IF NOT EXISTS u ON users (lower(email));",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS u ON users (lower(email));",
        ),
        ("DROP INDEX IF EXISTS users_email;", "DROP INDEX CONCURRENTLY IF EXISTS users_email;"),
        ("REINDEX (VERBOSE) TABLE users;", "REINDEX (VERBOSE) TABLE CONCURRENTLY users;"),
        ("REINDEX INDEX users_email;", "REINDEX INDEX CONCURRENTLY users_email;"),
        (
            "SET lock_timeout = '1s';\n"
            'ALTER TABLE app."Orders" ADD CONSTRAINT "Total" CHECK (total > 0) NO INHERIT;\n',
            "SET lock_timeout = '1s';\n"
            'ALTER TABLE app."Orders" ADD CONSTRAINT "Total" CHECK (total > 0) NO INHERIT NOT '
            'VALID;\nALTER TABLE app."Orders" VALIDATE CONSTRAINT "Total";\n',
        ),
        (
            "set lock_timeout = '1s';\n"
            "alter table only orders add constraint fk foreign key (u) references users (id) "
            "on delete cascade, add column note text;\n",
            "set lock_timeout = '1s';\n"
            "alter table only orders add constraint fk foreign key (u) references users (id) "
            "on delete cascade not valid, add column note text;\n"
            "alter table only orders validate constraint fk;\n",
        ),
        (
            "alter table orders drop column legacy",
            "set lock_timeout = '2s';\nalter table orders drop column legacy",
        ),
    ],
)
def test_fix_rewrites(sql: str, expected: str) -> None:
    result = fix_sql(sql)
    assert result.after == expected
    assert sum(result.fixed.values()) > 0
    fixed_rules = set(result.fixed)
    assert not fixed_rules & rules(result.after)  # the fixed rules are gone
    assert "syntax-error" not in rules(result.after)


def test_validate_goes_after_the_commit_of_the_transaction_block() -> None:
    sql = (
        "BEGIN;\n"
        "SET LOCAL lock_timeout = '1s';\n"
        "ALTER TABLE orders ADD CONSTRAINT c CHECK (total > 0);\n"
        "UPDATE settings SET v = 1 WHERE k = 'x';\n"
        "COMMIT;\n"
    )
    assert fixed(sql) == (
        "BEGIN;\n"
        "SET LOCAL lock_timeout = '1s';\n"
        "ALTER TABLE orders ADD CONSTRAINT c CHECK (total > 0) NOT VALID;\n"
        "UPDATE settings SET v = 1 WHERE k = 'x';\n"
        "COMMIT;\n"
        "ALTER TABLE orders VALIDATE CONSTRAINT c;\n"
    )
    assert not rules(fixed(sql)) & {"check-constraint-without-not-valid", "missing-lock-timeout"}


@pytest.mark.parametrize(
    ("sql", "options", "rule"),
    [
        # CONCURRENTLY cannot run in a transaction block
        ("BEGIN;\nCREATE INDEX i ON t (a);\nCOMMIT;", {}, "create-index-non-concurrently"),
        (
            "CREATE INDEX i ON t (a);",
            {"assume_in_transaction": True},
            "create-index-non-concurrently",
        ),
        ("CREATE INDEX i ON ONLY t (a);", {}, "create-index-non-concurrently"),
        ("DROP INDEX a, b;", {}, "drop-index-non-concurrently"),
        ("DROP INDEX a CASCADE;", {}, "drop-index-non-concurrently"),
        ("REINDEX INDEX i;", {"pg_version": 11}, "reindex-non-concurrently"),
        ("REINDEX SCHEMA app;", {}, "reindex-non-concurrently"),
        # VALIDATE needs a name, and a later transaction
        ("ALTER TABLE t ADD CHECK (a > 0);", {}, "check-constraint-without-not-valid"),
        (
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);",
            {"assume_in_transaction": True},
            "check-constraint-without-not-valid",
        ),
        (
            "BEGIN;\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);\nROLLBACK;",
            {},
            "check-constraint-without-not-valid",
        ),
        (
            "BEGIN;\nALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id);",
            {},
            "foreign-key-without-not-valid",
        ),
    ],
)
def test_no_fix_where_the_rewrite_is_not_mechanical(
    sql: str, options: dict[str, object], rule: str
) -> None:
    result = fix_sql(sql, LintOptions(**options))  # type: ignore[arg-type]
    assert rule not in result.fixed
    assert rule in {f.rule for f in result.remaining}


def test_lock_timeout_goes_above_the_comments_over_the_statement() -> None:
    sql = (
        "CREATE TABLE t (id bigint);\n"
        "\n"
        "-- the old table goes\n"
        "-- liveshift: ignore drop-table\n"
        "DROP TABLE legacy;  -- trailing\n"
        "  ALTER TABLE users DROP COLUMN nick; -- liveshift: ignore drop-column\n"
    )
    after = fixed(sql)
    assert after == (
        "CREATE TABLE t (id bigint);\n"
        "\n"
        "SET lock_timeout = '2s';\n"
        "-- the old table goes\n"
        "-- liveshift: ignore drop-table\n"
        "DROP TABLE legacy;  -- trailing\n"
        "  ALTER TABLE users DROP COLUMN nick; -- liveshift: ignore drop-column\n"
    )
    assert lint_sql(after) == []


def test_one_lock_timeout_covers_the_file_and_concurrently_comes_first() -> None:
    sql = "create index i on t (a);\nalter table t add column b int;\ntruncate t;\n"
    assert fixed(sql) == (
        "create index concurrently i on t (a);\n"
        "set lock_timeout = '2s';\n"
        "alter table t add column b int;\n"
        "truncate t;\n"
    )


def test_statements_sharing_a_line_and_an_unterminated_last_statement() -> None:
    assert fixed("BEGIN; ALTER TABLE t DROP COLUMN a; COMMIT;") == (
        "BEGIN; SET LOCAL lock_timeout = '2s'; ALTER TABLE t DROP COLUMN a; COMMIT;"
    )
    assert fixed("set lock_timeout = '1s'; alter table t add constraint c check (a > 0)") == (
        "set lock_timeout = '1s'; alter table t add constraint c check (a > 0) not valid;\n"
        "alter table t validate constraint c"
    )


def test_offsets_are_bytes_and_line_endings_are_kept() -> None:
    sql = "-- café ☕\r\nCOMMENT ON TABLE t IS 'naïve';\r\nCREATE INDEX i ON t (a);\r\n"
    assert fixed(sql) == (
        "-- café ☕\r\nCOMMENT ON TABLE t IS 'naïve';\r\nCREATE INDEX CONCURRENTLY i ON t (a);\r\n"
    )
    sql = "COMMENT ON TABLE t IS 'naïve';\r\nALTER TABLE t DROP COLUMN a;\r\n"
    assert fixed(sql) == (
        "COMMENT ON TABLE t IS 'naïve';\r\nSET lock_timeout = '2s';\r\n"
        "ALTER TABLE t DROP COLUMN a;\r\n"
    )


def test_ignored_findings_are_not_fixed() -> None:
    sql = "CREATE INDEX i ON t (a); -- liveshift: ignore create-index-non-concurrently\n"
    result = fix_sql(sql)
    assert "create-index-non-concurrently" not in result.fixed
    assert "CONCURRENTLY" not in result.after


def test_a_fix_that_would_add_findings_is_rolled_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> list[Edit]:
        return [Edit(0, 0, "DROP TABLE victims; ")]

    patched = tuple(
        Rule(rule.id, rule.severity, rule.summary, rule.help, rule.kinds, rule.check, broken)
        if rule.id == "create-index-non-concurrently"
        else rule
        for rule in all_rules()
    )
    monkeypatch.setattr(engine_module, "all_rules", lambda: patched)
    sql = "CREATE INDEX i ON t (a);\n"
    result = fix_sql(sql)
    assert result.after == sql and not result.fixed


def test_edit_helpers() -> None:
    data = b"abcdef"
    edits = [Edit(1, 1, "X"), Edit(1, 1, "Y"), Edit(2, 4, "-"), Edit(6, 6, "!")]
    assert apply_edits(data, edits) == b"aXYb-ef!"
    assert overlaps(Edit(3, 3, "x"), [Edit(2, 4, "-")])
    assert overlaps(Edit(3, 5, "x"), [Edit(2, 4, "-")])
    assert not overlaps(Edit(1, 1, "x"), [Edit(1, 1, "y"), Edit(1, 2, "z")])
    assert [quote_ident(n) for n in ("users", "Users", "user", "a b", 'q"t', "_x1$")] == [
        "users", '"Users"', '"user"', '"a b"', '"q""t"', "_x1$",
    ]  # fmt: skip


def run_statements(url: str, sql: str) -> None:
    """Run each statement on its own, as psql does outside BEGIN (CONCURRENTLY needs that)."""
    source = Source(sql)
    statements, problem = source.parse()
    assert problem is None
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(source.snippet(statement).encode())


def test_fixed_migration_runs_and_leaves_valid_objects(pg_url: str) -> None:
    run_statements(
        pg_url,
        "create table users (id bigint primary key, email text);"
        "create table orders (id bigint primary key, user_id bigint, total int);"
        "create index orders_total on orders (total);"
        "insert into users values (1, 'a@b.c');"
        "insert into orders values (1, 1, 5);",
    )
    migration = (
        "create index users_email on users (email);\n"
        "drop index orders_total;\n"
        "reindex table users;\n"
        "alter table orders add constraint orders_user_fk foreign key (user_id) "
        "references users (id), add constraint orders_total_positive check (total > 0);\n"
    )
    result = fix_sql(migration)
    assert set(result.fixed) == {
        "create-index-non-concurrently", "drop-index-non-concurrently",
        "reindex-non-concurrently", "foreign-key-without-not-valid",
        "check-constraint-without-not-valid", "missing-lock-timeout",
    }  # fmt: skip
    run_statements(pg_url, result.after)
    with psycopg.connect(pg_url) as conn:
        constraints = conn.execute(
            "select conname, convalidated from pg_constraint "
            "where conrelid = 'orders'::regclass and contype in ('c', 'f') order by conname"
        ).fetchall()
        indexes = conn.execute(
            "select indexrelid::regclass::text, indisvalid from pg_index "
            "where indrelid in ('users'::regclass, 'orders'::regclass) order by 1"
        ).fetchall()
    assert constraints == [("orders_total_positive", True), ("orders_user_fk", True)]
    assert indexes == [("orders_pkey", True), ("users_email", True), ("users_pkey", True)]


# -- the command -----------------------------------------------------------------------------


def lint(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "liveshift.linter", "--config", "lint.toml", *args],
        capture_output=True, text=True, cwd=cwd, input=stdin, check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "lint.toml").write_text("")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001.sql").write_text("create index i on t (a);\ndrop table old;\n")
    (tmp_path / "m" / "0002.sql").write_text("set lock_timeout = '1s';\nselect 1;\n")
    (tmp_path / "m" / "0003.yaml").write_text(
        "operations:\n  - raw_sql:\n      up: create index j on t (b)\n      down: select 1\n"
    )
    return tmp_path


def test_diff_shows_and_writes_nothing(project: Path) -> None:
    before = (project / "m" / "0001.sql").read_text()
    done = lint("--diff", "m", cwd=project)
    assert done.returncode == 1
    assert done.stdout.startswith("--- a/m/0001.sql\n+++ b/m/0001.sql\n")
    assert "+create index concurrently i on t (a);" in done.stdout
    assert "0003.yaml" not in done.stdout  # migration files are not rewritten
    assert "Would fix 3 findings in 1 file" in done.stderr
    assert (project / "m" / "0001.sql").read_text() == before
    clean = lint("--diff", "m/0002.sql", cwd=project)
    assert clean.returncode == 0 and clean.stdout == ""


def test_diff_of_stdin(project: Path) -> None:
    done = lint("--diff", "-", cwd=project, stdin="drop index i;")
    assert done.returncode == 1 and "+drop index concurrently i;" in done.stdout


def test_fix_writes_then_reports_what_is_left(project: Path) -> None:
    done = lint("--fix", "m", cwd=project)
    assert (project / "m" / "0001.sql").read_text() == (
        "create index concurrently i on t (a);\nset lock_timeout = '2s';\ndrop table old;\n"
    )
    assert "Fixed 3 findings in 1 file" in done.stderr
    assert done.returncode == 1
    assert "m/0001.sql:3:1 drop-table" in done.stdout
    assert "create-index-non-concurrently" in done.stdout  # in the YAML: reported, not fixed
    assert "m/0002.sql" not in done.stdout
    again = lint("--fix", "m", cwd=project)
    assert "No automatic fixes to apply." in again.stderr


def test_fix_of_a_missing_file_prints_only_the_error(project: Path) -> None:
    before = (project / "m" / "0001.sql").read_text()
    for missing in ("nope.sql", "nope.yaml"):
        done = lint("--fix", "m/0001.sql", missing, cwd=project)
        assert done.returncode == 2
        assert done.stdout == ""
        assert done.stderr == lint(missing, cwd=project).stderr  # the error lint gives
        assert done.stderr.count("\n") == 1 and missing in done.stderr
        assert (project / "m" / "0001.sql").read_text() == before  # all or nothing


def test_fix_refuses_stdin(project: Path) -> None:
    done = lint("--fix", "-", cwd=project, stdin="drop index i;")
    assert done.returncode == 2 and "--diff" in done.stderr


def test_fix_and_diff_exclude_each_other(project: Path) -> None:
    assert lint("--fix", "--diff", "m", cwd=project).returncode == 2
