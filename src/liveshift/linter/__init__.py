"""liveshift lint: flags SQL migration statements that would stall, rewrite, break or lose data."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

    from liveshift.linter.engine import Linter, LintOptions, lint_sql, rule_ids
    from liveshift.linter.finding import Finding, Severity

__all__ = ["Finding", "LintOptions", "Linter", "Severity", "lint_sql", "rule_ids"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that `liveshift.linter.command` (which the main CLI imports to add
    # the `lint` subcommand) does not pull in the parser and the rules for every other command.
    if name in ("Finding", "Severity"):
        from liveshift.linter import finding

        return getattr(finding, name)
    if name in __all__:
        from liveshift.linter import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
