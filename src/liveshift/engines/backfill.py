"""What the backfill asks of an engine: the statements of its batches, slices and verification
(BackfillSql), and measurements of the server it must not hurt (Monitor).

The backfill package holds the policy (slices, lanes, batch sizing, pacing, checkpoints) and no
SQL text; an engine folder implements these protocols with its own statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from liveshift.engines.base import Connection, Engine
from liveshift.errors import ConfigError
from liveshift.plan import Backfill


@dataclass
class Planned:
    """One batch's UPDATE and its parameters, the key it ends at, and the rows it covers (rows the
    `where` skips count as done too): `scanned` when known before it runs, else the rows it
    updates but at least `at_least`."""

    sql: str
    params: list[Any]
    last: list[str]
    scanned: int | None
    at_least: int = 0


@dataclass
class LoadSample:
    """One look at the other sessions of the database."""

    active: int
    waiting: int
    waits: str | None

    @classmethod
    def of(cls, row: Any) -> LoadSample:
        return cls(int(row[0] or 0), int(row[1] or 0), row[2])


@dataclass(frozen=True)
class BatchSettings:
    """What one batch's transaction sets for itself (SET LOCAL or the engine's equivalent)."""

    row_lock_timeout_ms: float
    skip_triggers: bool
    synchronous_commit: bool
    statement_timeout_ms: float | None


@dataclass(frozen=True)
class VerifyBatch:
    """One verification batch's answer: rows seen, rows wrong, the first wrong keys, and the
    batch's last key (None: nothing left)."""

    count: int
    bad: int
    sample: list[str]
    last: list[str] | None


@dataclass(frozen=True)
class ReplicaLag:
    """A replica as the primary sees it: name, position replayed (None: unknown), the server's
    own replay lag and the bytes not yet replayed."""

    name: str
    replayed: int | None
    replay_lag_s: float
    lag_bytes: float


@dataclass(frozen=True)
class ReplicaView:
    """A replica's own view: position replayed (None: not a replica), whether replay is paused,
    and the age of its last replayed transaction while received WAL waits."""

    replayed: int | None
    paused: bool
    age_s: float


class BackfillSql(Protocol):
    """The statements of one engine's backfill. Reads run on the connection given; the batch's
    statements are returned (as Planned) or queued on the connection, so the lane decides when
    to wait for an answer."""

    # The key a table without a usable key is walked by (heap pages), with its types.
    page_key: tuple[list[str], list[str]]

    def watch_client(self, conn: Connection) -> None:
        """Ask the server to notice a client that died (a batch must not hold locks for long)."""

    def key_types(self, conn: Connection, spec: Backfill, key: list[str]) -> list[str]: ...

    def estimate_rows(self, conn: Connection, spec: Backfill) -> int: ...

    def upper_bound(self, conn: Connection, spec: Backfill, key: list[str]) -> list[str] | None:
        """The last key (by pages: the page count), None for an empty table."""

    def min_key(self, conn: Connection, spec: Backfill, key: str) -> int | None: ...

    def key_boundaries(
        self, conn: Connection, spec: Backfill, key: list[str], count: int, sample_pages: int
    ) -> list[list[str]]:
        """Keys that cut the table into `count` runs of about as many rows, from a sample of
        `sample_pages` pages."""

    def rows_per_page(self, conn: Connection, spec: Backfill) -> float: ...

    def begin_batch(self, conn: Connection, settings: BatchSettings) -> None:
        """Queue the batch transaction's own settings (inside its transaction)."""

    def keyset_batch(
        self,
        conn: Connection,
        spec: Backfill,
        key: list[str],
        types: list[str],
        after: list[str] | None,
        upper: list[str],
        size: int,
    ) -> Planned | None:
        """The next `size` rows past `after` up to `upper`; None when none is left."""

    def range_batch(self, spec: Backfill, key: str, start: int, end: int) -> Planned:
        """Key values in (start, end] of a dense integer key."""

    def page_batch(self, spec: Backfill, first: int, end: int, rows_per_page: float) -> Planned:
        """Heap pages first..end."""

    def verify_keyset(
        self,
        conn: Connection,
        spec: Backfill,
        key: list[str],
        types: list[str],
        bad: str,
        after: list[str] | None,
        rows: int,
        sample: int,
    ) -> VerifyBatch: ...

    def verify_pages_plan(self, conn: Connection, spec: Backfill) -> tuple[int, float]:
        """(pages, rows per page) of the table, for verification by page ranges."""

    def verify_pages(
        self, conn: Connection, spec: Backfill, bad: str, first: int, end: int, sample: int
    ) -> VerifyBatch: ...

    def bad_condition(self, spec: Backfill, recompute: bool) -> str:
        """The condition a wrong row meets (with `%` escaped for parameters)."""


class Monitor(Protocol):
    """Measurements of the server one connection is on."""

    # A statement whose one row is a LoadSample, for sending along with a checkpoint.
    load_sample_sql: str

    def load(self, conn: Connection) -> LoadSample: ...

    def wal_position(self, conn: Connection) -> int | None:
        """The primary's WAL write position; None when the server is not a primary."""

    def replicas(self, conn: Connection) -> list[ReplicaLag]: ...

    def replica_view(self, conn: Connection) -> ReplicaView: ...


@runtime_checkable
class BackfillEngine(Protocol):
    """An engine that can backfill."""

    def backfill_sql(self) -> BackfillSql: ...

    def monitor(self) -> Monitor: ...


def backfill_engine(engine: Engine | None = None) -> BackfillEngine:
    """The engine's backfill side; PostgreSQL's when none is given (the only engine that
    backfills today)."""
    if engine is None:
        from liveshift.engines.postgres import POSTGRES

        return POSTGRES
    if not isinstance(engine, BackfillEngine):
        raise ConfigError(f"the {engine.name} engine cannot run a backfill yet")
    return engine
