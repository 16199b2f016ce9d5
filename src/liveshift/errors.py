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
    """Another liveshift runner holds the migration lock for this schema: not a failure of the
    database, a command to run later (or with --wait)."""

    exit_code = EXIT_BAD_INPUT


class VerificationFailed(LiveshiftError):
    """The post-backfill verification found rows that do not match."""

    exit_code = EXIT_FINDINGS


class Interrupted(LiveshiftError):
    """The user stopped the run (Ctrl-C / SIGTERM) at a safe point."""

    exit_code = EXIT_DATABASE


# What each kind of liveshift's own objects (operations.base.Names: `_ls_<kind>_<table>_<rest>`)
# is, in the user's words; `{}` is the table and column (or constraint, index) it serves.
_INTERNAL_KINDS = {
    "nn": "the NOT NULL check liveshift adds on {}",
    "ck": "liveshift's copy of check constraint {}",
    "fk": "liveshift's copy of foreign key {}",
    "rk": "liveshift's copy of foreign key {}",
    "ix": "liveshift's copy of index {}",
    "trg": "liveshift's sync trigger on {}",
    "trgi": "liveshift's insert trigger on {}",
    "trgl": "liveshift's change-log trigger on {}",
    "fn": "liveshift's trigger function for {}",
    "log": "liveshift's change log of {}",
    "logfn": "liveshift's change-log function for {}",
}


def user_names(text: str, tables: Iterable[str] = ()) -> str:
    """`text` (often a server's message) with liveshift's internal `_ls_...` object names said in
    the user's table and column names: `"_ls_new_email"` -> `the new version of column email`,
    `users._ls_new_email` -> `users.email (new version)`,
    `"_ls_nn_users_email"` -> `the NOT NULL check liveshift adds on users.email`. `tables`: the
    tables involved (schema-qualified or not), to tell a table's name from a column's."""
    import re

    names = sorted(
        {t.rsplit(".", 1)[-1].strip('"') for t in tables}, key=lambda n: len(n), reverse=True
    )

    def say(match: re.Match[str]) -> str:
        kind, _, rest = match.group(1).partition("_")
        if kind == "new":
            return f"the new version of column {rest}"
        for table in names:
            if rest.startswith(table + "_"):
                rest = f"{table}.{rest[len(table) + 1 :]}"
                break
        return _INTERNAL_KINDS.get(kind, "liveshift's helper object for {}").format(rest)

    text = re.sub(r'\b([A-Za-z0-9_$]+)\."?_ls_new_([A-Za-z0-9_$]+)"?', r"\1.\2 (new version)", text)
    return re.sub(r'"?\b_ls_([A-Za-z0-9_$]+)"?', say, text)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt name, or None when nothing is close."""
    import difflib

    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = suggest(name, candidates)
    return f"Did you mean {close!r}?" if close else None
