"""`liveshift lint --fix` / `--diff`: apply the rules' automatic fixes to SQL text and files.

Fixes are applied in passes: each pass lints the text, takes the fixes on offer (the lock_timeout
fix alone and last, see Rule.fix_alone), applies those whose edits do not overlap, and lints the
result. A pass is kept only if it removed findings without adding any (per rule, a syntax error
included); otherwise the text stays as it was before that pass. So a fix can only ever leave
the file with fewer findings, and still parsing.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from liveshift.errors import LiveshiftError
from liveshift.linter.edits import Edit, apply_edits, overlaps
from liveshift.linter.engine import FixOffer, Linter
from liveshift.linter.finding import Finding
from liveshift.linter.inputs import (
    LintInputError,
    decode_input,
    expand_names,
    input_kind,
    read_bytes,
)
from liveshift.linter.options import LintOptions
from liveshift.linter.source import Source

MAX_PASSES = 50


@dataclass
class FixResult:
    """One text before and after its fixes, and how many findings of each rule they removed."""

    name: str | None
    before: str
    after: str
    fixed: Counter[str] = field(default_factory=Counter)
    remaining: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.after != self.before


def fix_sql(text: str, options: LintOptions | None = None, name: str | None = None) -> FixResult:
    """Apply every automatic fix that makes `text` safer; see the module docstring."""
    linter = Linter(options)
    newline = "\r\n" if "\r\n" in text else "\n"
    offers: list[FixOffer] = []
    findings = linter.lint(Source(text, name), offers)
    first = findings
    current = text
    for _ in range(MAX_PASSES):
        edits = _choose(offers)
        if not edits:
            break
        if newline != "\n":
            edits = [Edit(e.start, e.end, e.text.replace("\n", newline)) for e in edits]
        candidate = apply_edits(current.encode(), edits).decode()
        next_offers: list[FixOffer] = []
        next_findings = linter.lint(Source(candidate, name), next_offers)
        if not _better(findings, next_findings):
            break
        current, findings, offers = candidate, next_findings, next_offers
    fixed = Counter(f.rule for f in first) - Counter(f.rule for f in findings)
    return FixResult(name, text, current, fixed, findings)


def _choose(offers: Sequence[FixOffer]) -> list[Edit]:
    """The edits of one pass: every regular fix that does not overlap an earlier one, or when
    there is none, the first of the fixes that go alone."""
    regular = [offer for offer in offers if not offer.rule.fix_alone]
    chosen: list[Edit] = []
    for offer in regular or offers[:1]:
        if not any(overlaps(edit, chosen) for edit in offer.edits):
            chosen.extend(offer.edits)
    return chosen


def _better(before: Sequence[Finding], after: Sequence[Finding]) -> bool:
    counts_before = Counter(f.rule for f in before)
    counts_after = Counter(f.rule for f in after)
    if any(counts_after[rule] > counts_before[rule] for rule in counts_after):
        return False
    return len(after) < len(before)


def fix_paths(
    paths: list[str], options: LintOptions, exclude_paths: tuple[str, ...] = ()
) -> tuple[list[FixResult], list[LiveshiftError]]:
    """The fixes of every .sql file under `paths` (migration files and stdin are not fixed)."""
    results: list[FixResult] = []
    errors: list[LiveshiftError] = []
    for path in expand_names(paths, exclude_paths):
        if path is None:
            results.append(fix_sql(sys.stdin.read(), options, "<stdin>"))
            continue
        if path in paths and not os.path.exists(path):  # named: reported as lint reports it
            errors.append(LintInputError(f"No such file or directory: {path}", file=path))
            continue
        if input_kind(path) != "sql":
            continue  # the SQL of a migration file sits in YAML: not rewritten
        try:
            lint_input = decode_input(path, read_bytes(path))
        except LiveshiftError as exc:
            errors.append(exc)
            continue
        if lint_input is not None:
            results.append(fix_sql(lint_input.sources[0].text, options, path))
    return results, errors


def write_fixes(results: Sequence[FixResult]) -> None:
    for result in results:
        if result.changed and result.name not in (None, "<stdin>"):
            Path(result.name).write_bytes(result.after.encode())


def render_diff(results: Sequence[FixResult]) -> str:
    """A unified diff of every changed file, as `git apply` / `patch -p1` take it."""
    chunks: list[str] = []
    for result in results:
        if result.changed:
            chunks.extend(
                difflib.unified_diff(
                    result.before.splitlines(keepends=True),
                    result.after.splitlines(keepends=True),
                    fromfile=f"a/{result.name}",
                    tofile=f"b/{result.name}",
                )
            )
    return "".join(chunks)


def summary(results: Sequence[FixResult], *, applied: bool = True) -> str:
    """`Fixed N findings in M files (rule: count, ...).` (`Would fix` when not applied)."""
    total: Counter[str] = Counter()
    files = 0
    for result in results:
        if result.changed:
            files += 1
            total.update(result.fixed)
    count = sum(total.values())
    if not count:
        return "No automatic fixes to apply."
    rules = ", ".join(f"{rule}: {n}" for rule, n in sorted(total.items()))
    return (
        f"{'Fixed' if applied else 'Would fix'} {count} finding{'s' if count != 1 else ''} in {files} "
        f"file{'s' if files != 1 else ''} ({rules})."
    )
