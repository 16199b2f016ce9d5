"""The JSON output is written without the json package: it must give json.dumps's bytes."""

from __future__ import annotations

import json

from liveshift.linter.finding import Finding, Severity
from liveshift.linter.report import dumps_indented, render_json

FINDINGS = [
    Finding("drop-table", Severity.ERROR, 'Dropping "t" loses it.', "Don't.", "a.sql", 3, 7, 0),
    Finding("prefer-text", Severity.WARNING, "é \\ \n\t \u2028 ☃", "help", None, 1, 1, None),
    Finding("syntax-error", Severity.ERROR, "", "", "dir/b c.sql", 10, 200, 12),
]


def _document(findings: list[Finding], files: int, statements: int) -> dict[str, object]:
    errors = sum(1 for f in findings if f.is_error)
    return {
        "version": 1,
        "findings": [f.to_dict() for f in findings],
        "summary": {
            "files": files,
            "statements": statements,
            "errors": errors,
            "warnings": len(findings) - errors,
        },
    }


def test_render_json_is_json_dumps() -> None:
    for findings in (FINDINGS, FINDINGS[:1], []):
        expected = json.dumps(_document(findings, 4, 9), indent=2) + "\n"
        assert render_json(findings, 4, 9) == expected


def test_dumps_indented_is_json_dumps() -> None:
    values = [
        {}, [], {"a": []}, {"a": {}}, [None, True, False, 0, -3, 10**20, "x"],
        {"nested": [{"k": [1, [2, {"z": None}]]}], "s": "\u00e9\"\\"}, "plain", 1.5,
    ]  # fmt: skip
    for value in values:
        assert dumps_indented(value) == json.dumps(value, indent=2)


def test_severity_is_a_str_constant() -> None:
    import pickle

    assert Severity("error") is Severity.ERROR and Severity("warning") is Severity.WARNING
    assert Severity.ERROR == "error" and str(Severity.WARNING) == "warning"
    assert Severity.ERROR.value == "error" and type(Severity.ERROR.value) is str
    assert Severity.WARNING.name == "WARNING"
    assert repr(Severity.ERROR) == "<Severity.ERROR: 'error'>"
    assert f"{Severity.ERROR:7}|" == "error  |"
    assert pickle.loads(pickle.dumps(Severity.WARNING)) is Severity.WARNING
    try:
        Severity("fatal")
    except ValueError as exc:
        assert "fatal" in str(exc)
    else:
        raise AssertionError("Severity('fatal') did not raise")
