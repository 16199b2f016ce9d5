"""liveshift lint: flags SQL migration statements that would stall, rewrite, break or lose data."""

from __future__ import annotations

from liveshift.linter.engine import Linter, LintOptions, lint_sql, rule_ids
from liveshift.linter.finding import Finding, Severity

__all__ = ["Finding", "LintOptions", "Linter", "Severity", "lint_sql", "rule_ids"]
