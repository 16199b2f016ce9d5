"""The engine: positions, syntax errors, ignore comments, exclusions, and the Python API."""

from __future__ import annotations

import random
import re

import pytest

import liveshift
from liveshift.errors import ConfigError
from liveshift.linter import Finding, lint_sql
from liveshift.linter.ignores import _statement_for, find_ignores, parse_directive
from liveshift.linter.pgparse import ParseError, scan
from liveshift.linter.source import Source


def rules(sql: str, exclude: tuple[str, ...] = ("missing-lock-timeout",)) -> list[str]:
    return [f.rule for f in lint_sql(sql, exclude=exclude)]


def test_public_api_returns_findings() -> None:
    findings = liveshift.lint("drop table users;")
    assert findings and all(isinstance(f, Finding) for f in findings)
    assert findings[0].to_dict()["severity"] == "error"


def test_positions_are_line_and_character_column() -> None:
    sql = "select 'héllo';\n  alter table users drop column é;\n"
    (finding,) = lint_sql(sql, exclude=["missing-lock-timeout"])
    assert (finding.rule, finding.line, finding.column) == ("drop-column", 2, 3)


def test_finding_points_at_the_offending_clause() -> None:
    sql = "alter table users\n  add column token uuid default gen_random_uuid();"
    (finding,) = [f for f in lint_sql(sql) if f.rule == "add-column-volatile-default"]
    assert (finding.line, finding.column) == (2, 25)


def test_syntax_error_is_a_finding_with_location_and_earlier_statements_are_linted() -> None:
    sql = "drop table users;\nselect 'é';\nalter tabel x add column y int;\n"
    findings = lint_sql(sql, exclude=["missing-lock-timeout"])
    by_rule = {f.rule: f for f in findings}
    assert set(by_rule) == {"drop-table", "syntax-error"}
    assert (by_rule["syntax-error"].line, by_rule["syntax-error"].column) == (3, 7)
    assert "tabel" in by_rule["syntax-error"].message


def test_unterminated_string_is_a_syntax_error_not_a_crash() -> None:
    assert rules("select 'never closed") == ["syntax-error"]


def test_empty_and_comment_only_input() -> None:
    assert lint_sql("") == []
    assert lint_sql("-- nothing here\n/* nor here */") == []


def test_transaction_context_resets_after_commit() -> None:
    sql = "begin;\ncommit;\ncreate index concurrently i on users (email);"
    assert "concurrently-in-transaction" not in rules(sql)
    sql = "start transaction;\ncreate index concurrently i on users (email);"
    assert "concurrently-in-transaction" in rules(sql)


def test_table_created_earlier_makes_changes_safe_but_not_after_drop() -> None:
    created = "create table t (id bigint, email text);\n"
    assert rules(created + "create index i on t (email);") == []
    recreated = created + "drop table t;\ncreate index i on t (email);"
    assert "create-index-non-concurrently" in rules(recreated)


def test_renamed_new_table_stays_new() -> None:
    sql = "create table t (a int);\nalter table t rename to t2;\ncreate index i on t2 (a);"
    assert rules(sql) == []


def test_column_types_follow_renames() -> None:
    sql = (
        "alter table users add column name varchar(20);\n"
        "alter table users rename column name to full_name;\n"
        "alter table users alter column full_name type varchar(50);"
    )
    assert "column-type-change" not in rules(sql, exclude=())


@pytest.mark.parametrize(
    "sql",
    [
        "-- liveshift: ignore drop-table\ndrop table users;",
        "drop table users; -- liveshift: ignore drop-table",
        "-- liveshift: ignore drop-table, truncate\n\n-- other comment\ndrop table users;",
        "/* liveshift: ignore drop-table */ drop table users;",
        "drop table /* liveshift: ignore drop-table */ users;",
        "-- liveshift: ignore drop-table -- unused since v3\ndrop table users;",
        "-- liveshift: ignore-file drop-table\nselect 1;\ndrop table users;",
    ],
)
def test_ignore_comments_suppress(sql: str) -> None:
    assert "drop-table" not in rules(sql)


def test_ignore_covers_only_its_statement() -> None:
    sql = "-- liveshift: ignore drop-table\ndrop table a;\ndrop table b;"
    findings = [f for f in lint_sql(sql) if f.rule == "drop-table"]
    assert [f.line for f in findings] == [3]


def test_trailing_ignore_belongs_to_the_statement_on_its_line() -> None:
    sql = "drop table a; -- liveshift: ignore drop-table\ndrop table b;"
    assert [f.line for f in lint_sql(sql) if f.rule == "drop-table"] == [2]


def test_unused_and_unknown_ignores_are_warned() -> None:
    sql = "-- liveshift: ignore truncate, drop-tabel\ndrop table users;"
    findings = [f for f in lint_sql(sql) if f.rule == "unused-ignore"]
    messages = sorted(f.message for f in findings)
    assert len(messages) == 2
    assert "'truncate'" in messages[0] or "'truncate'" in messages[1]
    assert any("Did you mean 'drop-table'?" in m for m in messages)
    assert all(f.line == 1 and f.severity.value == "warning" for f in findings)


def test_ignoring_an_excluded_rule_is_not_unused() -> None:
    sql = "-- liveshift: ignore drop-table\nselect 1;"
    assert rules(sql, exclude=("drop-table",)) == []


def test_parse_directive() -> None:
    assert parse_directive("-- liveshift: ignore a-b c") == (False, ("a-b", "c"))
    assert parse_directive("-- liveshift: ignore-file x") == (True, ("x",))
    assert parse_directive("-- liveshift: ignore x: because") == (False, ("x",))
    assert parse_directive("-- nothing") is None


def directive_by_regex(comment: str) -> tuple[bool, tuple[str, ...]] | None:
    """The directive grammar as regular expressions (what parse_directive implements)."""
    match = re.search(r"liveshift:\s*(ignore-file|ignore)\b(.*)", comment, re.DOTALL)
    if match is None:
        return None
    body = re.split(r"--|:|\*/", match.group(2).removesuffix("*/"), maxsplit=1)[0]
    ids = []
    for token in re.split(r"[\s,]+", body.strip()):
        if token and re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", token):
            ids.append(token)
        elif token:
            break
    return match.group(1) == "ignore-file", tuple(ids)


def test_parse_directive_follows_the_grammar() -> None:
    pieces = [
        "liveshift:", "liveshift", "ignore", "ignore-file", "-file", " ", "\t", "\n", "\u00a0",
        "\u2003", ",", ", ", "-", "--", ":", "*/", "/*", "drop-table", "a1", "x-", "-y", "A",
        "é", "_", "٣", "file", "ignorex", "because", "0", "z--z",
    ]  # fmt: skip
    rng = random.Random(11)
    found = 0
    for _ in range(30000):
        comment = "".join(rng.choices(pieces, k=rng.randint(0, 9)))
        start = rng.choice(
            ["", "-- liveshift:", "-- liveshift: ignore ", "/* liveshift: ignore-file"]
        )
        comment = start + comment
        expected = directive_by_regex(comment)
        assert parse_directive(comment) == expected, comment
        found += expected is not None and bool(expected[1])
    assert found > 1000


def test_exclude_unknown_rule_is_a_config_error_with_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        lint_sql("select 1;", exclude=["drop-tabel"])
    assert "drop-table" in (info.value.hint or "")


def test_findings_are_sorted_by_position() -> None:
    findings = lint_sql("drop table b;\ntruncate a;\n")
    assert [(f.line, f.column) for f in findings] == sorted((f.line, f.column) for f in findings)


def test_finding_to_dict_has_every_field() -> None:
    finding = lint_sql("truncate t;")[0]
    fields = {name: getattr(finding, name) for name in Finding.__slots__}
    assert finding.to_dict() == {**fields, "severity": "error"}


def test_finding_is_a_value() -> None:
    finding = lint_sql("truncate t;")[0]
    copy = Finding.from_row(finding.to_row())
    assert copy == finding and hash(copy) == hash(finding) and copy is not finding
    assert repr(finding).startswith(
        "Finding(rule='missing-lock-timeout', severity=<Severity.ERROR: 'error'>, "
    )
    assert Finding.from_row((*finding.to_row()[:5], 99, 1, 0)) != finding


IGNORE_TEXTS = [
    "select 1; -- liveshift: ignore drop-table\ndrop table a; drop table b;\n",
    "select 'liveshift: ignore drop-table'; drop table a; -- liveshift: ignore drop-table",
    "select $$ ; -- liveshift: ignore truncate $$;\ntruncate t; /* a ; liveshift: ignore x */",
    "/* liveshift: ignore drop-table ; */ drop table a;;; drop table b -- liveshift: ignore x",
    "drop table a;\n-- liveshift: ignore-file drop-table\n",
    "select 1;\nalter tabel t; -- liveshift: ignore drop-table\nselect 'never closed",
    "-- liveshift: ignore drop-table\ndrop table a;\nselect 1;\nalter tabel t; select 'never closed",
    "select 'é'; -- liveshift: ignore drop-table\ndrop table a; -- liveshift: ignore truncate",
    "-- liveshift: ignore a\nselect 1; /* x */ -- liveshift: ignore b\n; select 2; -- liveshift:",
]


@pytest.mark.parametrize("sql", IGNORE_TEXTS)
def test_ignores_found_in_stretches_are_those_of_a_whole_scan(sql: str) -> None:
    source = Source(sql)
    statements, _problem = source.parse()
    starts = [s.start for s in statements]
    expected = []
    try:
        tokens = scan(sql)
    except ParseError:
        tokens = []  # a scan of the whole text fails on the unterminated literal
    for token in tokens:
        directive = parse_directive(sql[token.start : token.end + 1])
        if token.name in ("SQL_COMMENT", "C_COMMENT") and directive is not None:
            begin = source.char_to_byte(token.start)
            finish = source.char_to_byte(token.end + 1)
            target = (
                None if directive[0] else _statement_for(source, statements, starts, begin, finish)
            )
            expected.append((directive[1], target, begin, directive[0]))
    found = [
        (i.rules, i.statement, i.offset, i.whole_file) for i in find_ignores(source, statements)
    ]
    if "-- liveshift: ignore drop-table\ndrop table a;\nalter tabel" in sql:
        # The scan of the whole text fails on the unterminated literal after the syntax
        # error; the stretch before that statement still gives its ignore.
        assert expected == [] and found == [(("drop-table",), 0, 0, False)]
    else:
        assert found == expected
