"""The settings of one lint run, in a module light enough for the command's start-up path."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_PG_VERSION = 17


@dataclass(frozen=True)
class LintOptions:
    """Settings for one run: target server version, transaction assumption, disabled rules."""

    pg_version: int = DEFAULT_PG_VERSION
    assume_in_transaction: bool = False
    exclude: frozenset[str] = field(default_factory=frozenset)
