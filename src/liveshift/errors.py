"""The one error tree of liveshift: every failure a user can meet is a LiveshiftError."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterable

# Exit codes of the command line (PRODUCT.md).
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
EXIT_DATABASE = 3

_FIELDS = ("message", "hint", "file", "line", "column", "object", "sqlstate", "details")


class LiveshiftError(Exception):
    """Base of every liveshift error: what went wrong, where, and what to do about it.

    Written out rather than a dataclass (same fields, order, equality and repr): every command,
    `liveshift lint` included, imports this module first, and `dataclasses` costs about 7 ms of
    start-up there.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        object: str | None = None,
        sqlstate: str | None = None,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.file = file
        self.line = line
        self.column = column
        self.object = object
        self.sqlstate = sqlstate
        self.details: list[str] = [] if details is None else details

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _FIELDS)

    __hash__ = None  # type: ignore[assignment]  # as a dataclass with eq: mutable, unhashable

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"{self.__class__.__qualname__}({fields})"

    def __str__(self) -> str:
        return self.paragraph()

    def location(self) -> str | None:
        if self.file is None:
            return None
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def paragraph(self) -> str:
        """The single paragraph the CLI prints: where, what, details, what to do."""
        head = self.message
        where = self.location()
        if where:
            head = f"{where}: {head}"
        parts = [head]
        parts.extend(f"  {d}" for d in self.details)
        if self.hint:
            parts.append(self.hint)
        return "\n".join(parts)


class MigrationFileError(LiveshiftError):
    """The migration file cannot be read, parsed or does not match the format."""


class ValidationError(LiveshiftError):
    """The migration does not fit the target database (unknown table, bad type, ...)."""


class StateError(LiveshiftError):
    """The migration state forbids this command (nothing active, another one active, ...)."""


class ConfigError(LiveshiftError):
    """A bad command-line option or URL."""


class DatabaseError(LiveshiftError):
    """The database refused a statement or the connection was lost."""

    exit_code = EXIT_DATABASE


class ConnectionLost(DatabaseError):
    """The connection to the database broke in the middle of work."""


class LockTimeoutExceeded(DatabaseError):
    """A step could not get its lock before the retry deadline."""


class MigrationBusy(DatabaseError):
    """Another liveshift runner holds the migration lock for this schema."""


class VerificationFailed(LiveshiftError):
    """The post-backfill verification found rows that do not match."""

    exit_code = EXIT_FINDINGS


class Interrupted(LiveshiftError):
    """The user stopped the run (Ctrl-C / SIGTERM) at a safe point."""

    exit_code = EXIT_DATABASE


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt name, or None when nothing is close."""
    import difflib

    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = suggest(name, candidates)
    return f"Did you mean {close!r}?" if close else None
