"""The settings of one lint run, in a module light enough for the command's start-up path."""

from __future__ import annotations

from liveshift.linter.record import Record

DEFAULT_PG_VERSION = 17


class LintOptions(Record):
    """Settings for one run: target server version, transaction assumption, disabled rules."""

    __slots__ = ("pg_version", "assume_in_transaction", "exclude")  # noqa: RUF023 - field order

    def __init__(
        self,
        pg_version: int = DEFAULT_PG_VERSION,
        assume_in_transaction: bool = False,
        exclude: frozenset[str] = frozenset(),
    ) -> None:
        self.pg_version = pg_version
        self.assume_in_transaction = assume_in_transaction
        self.exclude = exclude
