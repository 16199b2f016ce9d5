"""Rule unused-ignore: an ignore comment that suppressed nothing (reported by the engine)."""

from __future__ import annotations

from liveshift.linter.finding import Severity
from liveshift.linter.rule import Rule

RULE = Rule(
    id="unused-ignore",
    severity=Severity.WARNING,
    summary="A `liveshift: ignore` comment names a rule that reported nothing on its statement.",
    help="Remove the stale ignore comment (or fix the rule id), so it cannot hide a future problem.",
    flagged=(
        "-- liveshift: ignore drop-table\nselect 1;",
        "-- liveshift: ignore no-such-rule\nselect 1;",
        "-- liveshift: ignore\nselect 1;",
    ),
    accepted=(
        "-- liveshift: ignore drop-table\ndrop table users;",
        "-- a comment\nselect 1;",
    ),
)
