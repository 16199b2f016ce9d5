"""Every example in docs/rules/ behaves as documented, and every rule has its page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from liveshift.linter import lint_sql
from liveshift.linter.fix import fix_sql
from liveshift.linter.inputs import read_migration
from liveshift.linter.registry import all_rules
from liveshift.linter.rule import Rule

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


FIXED = re.compile(r"^```sql fixed\n(.*?)^```$", re.M | re.S)
LINT_DOC = DOCS.parent / "lint.md"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.id)
def test_fixable_rules_show_their_fix_of_the_bad_example(rule: Rule) -> None:
    text = (DOCS / f"{rule.id}.md").read_text(encoding="utf-8")
    shown = FIXED.findall(text)
    assert ("## Automatic fix" in text) == (rule.fix is not None) == bool(shown), rule.id
    if rule.fix is not None:
        bad = next(
            body for page, _l, verdict, body, _o in EXAMPLES if (page, verdict) == (rule.id, "bad")
        )
        assert fix_sql(bad).after == shown[0]


def test_lint_doc_lists_the_fixable_rules() -> None:
    section = LINT_DOC.read_text(encoding="utf-8").split("## Automatic fixes", 1)[1]
    section = section.split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| \[([a-z0-9-]+)\]", section, re.M))
    assert listed == {rule.id for rule in all_rules() if rule.fix is not None}
