"""The seam between liveshift and a database engine: what an engine can do (Capabilities), the
connection shared code talks to (Connection), and the driver's errors in engine-neutral classes.

Shared code (migrator, executor, backfill, state) imports from here, never from a driver: an
engine folder (engines/postgres, engines/mysql) maps its driver onto these types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:
    from liveshift.schema import Schema

Params = Sequence[Any] | Mapping[str, Any] | None
# Statement text; bytes where a hot loop sends the same text again and again (no re-encoding).
Query = str | bytes


@dataclass(frozen=True)
class Capabilities:
    """What one engine (at one server version) can do, as flags that shared code reads instead of
    testing an engine's name. Each flag is documented in docs/engines.md with the code that reads
    it; a flag nothing reads is removed. operations/requirements.py says which operation needs
    which flag; the planner (check_capabilities) refuses what the engine lacks."""

    name: str
    # DDL commits or rolls back with its transaction: a step and its journal row are atomic.
    transactional_ddl: bool
    # An index can be built without blocking writes (CREATE INDEX CONCURRENTLY, ALGORITHM=INPLACE).
    concurrent_index: bool
    # CHECK / FOREIGN KEY can be added unvalidated and validated later without blocking writes.
    not_valid_constraints: bool
    # Views over one table accept INSERT / UPDATE / DELETE: a version schema of views serves new
    # clients.
    updatable_views: bool
    # EXCLUDE USING ... constraints (add_constraint type: exclude).
    exclusion_constraints: bool
    # Indexes with a WHERE clause (create_index where:, an exclusion constraint's where:).
    partial_indexes: bool
    # Indexes that store extra columns with INCLUDE (create_index / unique keys include:).
    covering_indexes: bool
    # Index methods create_index may name (btree, hash, gist, gin, spgist, brin).
    index_methods: frozenset[str]
    # GENERATED ... AS IDENTITY columns (column identity:).
    identity_columns: bool
    # What logical replication sends of a changed row is set per table (set_replica_identity).
    replica_identity: bool


class Cursor(Protocol):
    """The result of one statement."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any:
        """None when the statement returns no rows."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Pipeline(Protocol):
    """Statements sent without waiting for each result (a driver without pipelines waits)."""

    def sync(self) -> None:
        """Wait for the results of every statement sent so far."""


class Connection(Protocol):
    """An autocommit connection; `transaction()` opens a transaction (nested: a savepoint). Every
    driver error comes out as a DriverError below."""

    @property
    def broken(self) -> bool:
        """The connection was lost (not closed by us)."""

    @property
    def closed(self) -> bool: ...

    @property
    def backend_id(self) -> int:
        """The server's id of this session (pg_backend_pid(), CONNECTION_ID())."""

    def execute(self, query: Query, params: Params = None) -> Cursor: ...

    def fetch_dicts(self, query: Query, params: Params = None) -> list[dict[str, Any]]:
        """The rows of `query` as dicts keyed by column name."""

    def literal(self, value: Any) -> str:
        """`value` as an SQL literal of this engine (for statements built from read values)."""

    def transaction(self, force_rollback: bool = False) -> AbstractContextManager[None]:
        """A transaction (nested: a savepoint); `force_rollback`: rolled back at the end even
        when nothing failed (for questions that must leave no trace)."""

    def pipeline(self) -> AbstractContextManager[Pipeline]:
        """Statements inside are sent without waiting for each result where the driver can."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class DriverError(Exception):
    """An error the driver or the server raised, whatever the engine. `sqlstate` is the SQL
    standard's code where the engine has one; the subclasses below are what shared code decides
    on (retry, reconnect, report), mapped by each engine from codes, never from message text."""

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        hint: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.hint = hint
        self.detail = detail


class ConnectionBroken(DriverError):
    """The connection was lost or the server ended the session: reconnect and resume."""


class LockNotAvailable(DriverError):
    """A lock was not granted within the statement's bound: retry after a pause."""


class DeadlockDetected(DriverError):
    """The server broke a deadlock by failing this statement: retry."""


class QueryCanceled(DriverError):
    """The statement hit its statement timeout or was canceled."""


class InsufficientPrivilege(DriverError):
    """The role may not do this."""


class UniqueViolation(DriverError):
    """A row with the same key exists."""


class DuplicateObject(DriverError):
    """An object of that name exists."""


class NotAvailableHere(DriverError):
    """The server cannot answer this here (a function not usable on a standby, a feature off)."""


class InvalidUrl(DriverError):
    """The connection URL cannot be read."""


class Engine(Protocol):
    """One database engine: registered by its URL schemes in engines/__init__.py."""

    name: str
    schemes: tuple[str, ...]
    capabilities: Capabilities

    def connect(
        self, url: str, application_name: str = "liveshift", timeout_s: int = 10
    ) -> Connection:
        """An autocommit connection; a clear DatabaseError / ConfigError when it cannot."""

    def redact(self, url: str) -> str:
        """The URL without its password, for messages."""

    def introspect(self, conn: Connection, schema: str) -> Schema:
        """Every table of `schema` read into the schema model."""
