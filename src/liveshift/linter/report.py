"""Output formats for findings: text, json, sarif (GitHub code scanning) and github annotations."""

from __future__ import annotations

from liveshift.linter.finding import Finding, Severity

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from liveshift.linter.rule import Rule

FORMATS = ("text", "json", "sarif", "github")
DOCS_URL = "https://github.com/liveshift/liveshift/blob/main/docs/rules/{id}.md"
TOOL_VERSION = "0.1.0"

_RED = "\033[31m"
_YELLOW = "\033[33m"
_BOLD = "\033[1m"
_DIM = "\033[2m"
_RESET = "\033[0m"


try:
    from _json import encode_basestring_ascii as _quote
except ImportError:  # pragma: no cover - a Python without the C accelerator
    from json.encoder import encode_basestring_ascii as _quote


def dumps_indented(value: Any) -> str:
    """`json.dumps(value, indent=2)` for dicts (string keys), lists, strings, ints, bools and
    None, without the json package (which imports `re`) and its pure-Python indenting encoder:
    strings go through the same C function json uses. Anything else goes to json.dumps."""
    quote = _quote
    parts: list[str] = []
    add = parts.append

    def encode(item: Any, indent: str) -> None:
        if isinstance(item, str):
            add(quote(item))
        elif item is None:
            add("null")
        elif item is True:
            add("true")
        elif item is False:
            add("false")
        elif type(item) is int:
            add(int.__repr__(item))
        elif type(item) is dict and all(type(key) is str for key in item):
            if not item:
                add("{}")
                return
            inner = indent + "  "
            add("{")
            first = True
            for key, member in item.items():
                add(("\n" if first else ",\n") + inner + quote(key) + ": ")
                first = False
                encode(member, inner)
            add("\n" + indent + "}")
        elif type(item) is list:
            if not item:
                add("[]")
                return
            inner = indent + "  "
            add("[")
            first = True
            for member in item:
                add(("\n" if first else ",\n") + inner)
                first = False
                encode(member, inner)
            add("\n" + indent + "]")
        else:
            import json

            text = json.dumps(item, indent=2)
            add(text.replace("\n", "\n" + indent))

    encode(value, "")
    return "".join(parts)


def summary_line(findings: Sequence[Finding], files: int) -> str:
    errors = sum(1 for f in findings if f.is_error)
    warnings = len(findings) - errors
    noun = "file" if files == 1 else "files"
    if not findings:
        return f"No problems in {files} {noun}."
    return (
        f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning"
        f"{'s' if warnings != 1 else ''} in {files} {noun}."
    )


def render_text(findings: Sequence[Finding], files: int, *, color: bool = False) -> str:
    """`file:line:col rule severity: message`, the help indented underneath, then a summary."""
    lines = []
    for finding in findings:
        severity = finding.severity.value
        rule = finding.rule
        if color:
            shade = _RED if finding.is_error else _YELLOW
            severity = f"{shade}{severity}{_RESET}"
            rule = f"{_BOLD}{rule}{_RESET}"
        lines.append(f"{finding.location()} {rule} {severity}: {finding.message}")
        help_text = f"  help: {finding.help}"
        lines.append(f"{_DIM}{help_text}{_RESET}" if color else help_text)
    lines.append(summary_line(findings, files))
    return "\n".join(lines) + "\n"


def render_json(findings: Sequence[Finding], files: int, statements: int) -> str:
    """The document dumps_indented gives for {"version": 1, "findings": [each to_dict()],
    "summary": {...}}, with each finding written from a template for its field types (str, int,
    None): the generic encoder was 0.9 ms for the 200 findings of the benchmark's 1,000 files,
    all of it after the parallel part of the run (tests/linter/test_report.py holds the result
    to json.dumps)."""
    quote = _quote
    errors = sum(1 for f in findings if f.is_error)
    items = [
        f'    {{\n      "rule": {quote(f.rule)},\n      "severity": {quote(f.severity.value)},\n'
        f'      "message": {quote(f.message)},\n      "help": {quote(f.help)},\n'
        f'      "file": {"null" if f.file is None else quote(f.file)},\n'
        f'      "line": {int(f.line)},\n      "column": {int(f.column)},\n'
        f'      "statement": {"null" if f.statement is None else int(f.statement)}\n    }}'
        for f in findings
    ]
    listed = "[\n" + ",\n".join(items) + "\n  ]" if items else "[]"
    return (
        f'{{\n  "version": 1,\n  "findings": {listed},\n  "summary": {{\n'
        f'    "files": {files},\n    "statements": {statements},\n    "errors": {errors},\n'
        f'    "warnings": {len(findings) - errors}\n  }}\n}}\n'
    )


def render_sarif(findings: Sequence[Finding], rules: Sequence[Rule]) -> str:
    """SARIF 2.1.0, as GitHub code scanning (`github/codeql-action/upload-sarif`) reads it."""
    index = {rule.id: position for position, rule in enumerate(rules)}
    driver: dict[str, Any] = {
        "name": "liveshift-lint",
        "informationUri": "https://github.com/liveshift/liveshift/blob/main/docs/lint.md",
        "version": TOOL_VERSION,
        "rules": [
            {
                "id": rule.id,
                "name": rule.id,
                "shortDescription": {"text": rule.summary},
                "help": {"text": rule.help},
                "helpUri": DOCS_URL.format(id=rule.id),
                "defaultConfiguration": {"level": _sarif_level(rule.severity)},
            }
            for rule in rules
        ],
    }
    results = []
    for finding in findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "level": _sarif_level(finding.severity),
            "message": {"text": f"{finding.message}\nHelp: {finding.help}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(finding.file)},
                        "region": {"startLine": finding.line, "startColumn": finding.column},
                    }
                }
            ],
        }
        if finding.rule in index:
            result["ruleIndex"] = index[finding.rule]
        results.append(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }
    return dumps_indented(document) + "\n"


def render_github(findings: Sequence[Finding]) -> str:
    """GitHub Actions workflow commands: one `::error`/`::warning` annotation per finding."""
    lines = []
    for finding in findings:
        command = "error" if finding.is_error else "warning"
        properties = ",".join(
            [
                f"file={_escape_property(finding.file or '<stdin>')}",
                f"line={finding.line}",
                f"col={finding.column}",
                f"title={_escape_property('liveshift ' + finding.rule)}",
            ]
        )
        message = _escape_data(f"{finding.message}\nhelp: {finding.help}")
        lines.append(f"::{command} {properties}::{message}")
    return "\n".join(lines) + ("\n" if lines else "")


def _sarif_level(severity: Severity) -> str:
    return "error" if severity is Severity.ERROR else "warning"


def _uri(file: str | None) -> str:
    if not file:
        return "stdin"
    return file.replace("\\", "/").removeprefix("./")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
