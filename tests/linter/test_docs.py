"""Every example in docs/rules/ behaves as documented, and every rule has its page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from liveshift.linter import lint_sql
from liveshift.linter.inputs import read_migration
from liveshift.linter.registry import all_rules

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules"
# ```sql bad``` / ```sql good pg-version=10``` / ```yaml bad```
FENCE = re.compile(r"^```(sql|yaml) (bad|good)((?: [a-z-]+=\S+)*)\n(.*?)^```$", re.M | re.S)


def examples() -> list[tuple[str, str, str, str, dict[str, str]]]:
    out = []
    for page in sorted(DOCS.glob("*.md")):
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            language, verdict, raw_options, body = match.groups()
            options = dict(item.split("=", 1) for item in raw_options.split())
            out.append((page.stem, language, verdict, body, options))
    return out


EXAMPLES = examples()


def test_every_rule_has_a_page_with_bad_and_good_examples() -> None:
    pages = {p.stem for p in DOCS.glob("*.md")}
    ids = {rule.id for rule in all_rules()}
    assert pages == ids
    for rule_id in ids:
        verdicts = {verdict for page, _lang, verdict, _body, _opts in EXAMPLES if page == rule_id}
        assert verdicts == {"bad", "good"}, rule_id


@pytest.mark.parametrize(
    ("rule_id", "language", "verdict", "body", "options"),
    EXAMPLES,
    ids=[f"{e[0]}-{e[2]}-{i}" for i, e in enumerate(EXAMPLES)],
)
def test_documented_example(
    rule_id: str, language: str, verdict: str, body: str, options: dict[str, str]
) -> None:
    if language == "yaml":
        lint_input = read_migration("example.yaml", body)
        assert lint_input is not None
        findings = list(lint_input.findings)
        for source in lint_input.sources:
            findings.extend(lint_sql(source.text))
    else:
        findings = lint_sql(body, pg_version=int(options.get("pg-version", "17")))
    found = {f.rule for f in findings}
    if verdict == "bad":
        assert rule_id in found, findings
    else:
        # A good example is clean for its rule and has no error at all: it is what to copy.
        assert rule_id not in found, findings
        assert not [f for f in findings if f.is_error], findings
