"""Every rule's own cases (`flagged`/`accepted` in its module) and the shape all rules share."""

from __future__ import annotations

from typing import Any

import pytest

from liveshift.linter import Severity, lint_sql
from liveshift.linter.registry import all_rules, rule_ids_without_import

# Rules reported while reading migration files rather than from SQL: their cases are the YAML
# migrations of tests/fixtures/lint (test_golden.py, test_command.py) and the docs page's example.
FILE_LEVEL_RULES = {"raw-sql-without-down"}


def _cases(verdict: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(rule id, SQL, lint_sql options) for every rule's `flagged` or `accepted` cases."""
    out = []
    for rule in all_rules():
        for case in getattr(rule, verdict):
            sql, options = (case, {}) if isinstance(case, str) else case
            out.append((rule.id, sql, options))
    return out


def _ids(cases: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    numbers: dict[str, int] = {}
    out = []
    for rule_id, _sql, _options in cases:
        numbers[rule_id] = numbers.get(rule_id, 0) + 1
        out.append(f"{rule_id}-{numbers[rule_id]}")
    return out


FLAGGED = _cases("flagged")
ACCEPTED = _cases("accepted")


def test_every_rule_has_flagged_and_accepted_cases() -> None:
    for rule in all_rules():
        if rule.id in FILE_LEVEL_RULES:
            assert not rule.flagged and not rule.accepted, rule.id
        else:
            assert rule.flagged and rule.accepted, rule.id


@pytest.mark.parametrize(("rule_id", "sql", "options"), FLAGGED, ids=_ids(FLAGGED))
def test_flagged(rule_id: str, sql: str, options: dict[str, Any]) -> None:
    findings = lint_sql(sql, **options)
    assert rule_id in {f.rule for f in findings}, findings


@pytest.mark.parametrize(("rule_id", "sql", "options"), ACCEPTED, ids=_ids(ACCEPTED))
def test_accepted(rule_id: str, sql: str, options: dict[str, Any]) -> None:
    findings = lint_sql(sql, **options)
    assert rule_id not in {f.rule for f in findings}, findings


def test_rules_have_stable_shape() -> None:
    # registry.rule_ids_without_import reads the ids from the module names.
    assert rule_ids_without_import() == [rule.id for rule in all_rules()]
    for rule in all_rules():
        assert rule.id == rule.id.lower() and " " not in rule.id
        assert rule.summary.endswith(".") and rule.help.endswith(".")
        assert isinstance(rule.severity, Severity)


def test_style_rules_are_warnings_and_danger_rules_errors() -> None:
    severities = {rule.id: rule.severity for rule in all_rules()}
    for rule_id in ("prefer-bigint", "prefer-text", "prefer-timestamptz", "prefer-identity"):
        assert severities[rule_id] is Severity.WARNING
    for rule_id in ("drop-table", "set-not-null", "create-index-non-concurrently"):
        assert severities[rule_id] is Severity.ERROR
