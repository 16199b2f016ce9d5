"""One lane of the backfill: one connection's batch loop, running slices to their end, one at a
time. It talks to its controller through LaneOwner (progress, throttle, stop, finish) and to the
database through the engine's BackfillSql and the StateStore's checkpoint methods."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from liveshift.backfill.throttle import LoadPacer
from liveshift.engines.backfill import BackfillSql, BatchSettings, LoadSample, Monitor, Planned
from liveshift.engines.base import Connection, DeadlockDetected, LockNotAvailable
from liveshift.engines.state import StateSql
from liveshift.plan import Backfill
from liveshift.progress import BackfillProgress, Reporter
from liveshift.retry import Refusal, with_retries
from liveshift.settings import Settings
from liveshift.state import StateStore


@dataclass
class Cursor:
    """Where one slice of the backfill stands: the last key done (None before the slice's first
    batch: the table's start; a later slice starts past the boundary key before it) and the last
    key of the slice (for the last slice, the last key that existed when the backfill began:
    rows past it were written under the sync trigger)."""

    key_columns: list[str]
    key_types: list[str]
    checkpoint: list[str] | None
    upper_bound: list[str] | None
    rows_done: int
    rows_total: int
    batches: int
    slice: int = 0
    finished: bool = False
    # A single integer key with few gaps is batched by key arithmetic (no probe for the batch's
    # last key): the first key minus one, or None to probe with OFFSET.
    dense_start: int | None = None
    # No usable key: the slice walks heap pages (the engine's page key); the checkpoint and the
    # upper bound are page numbers.
    by_pages: bool = False


class LaneStopped(Exception):
    """A lane stops after its batch because another lane failed; that failure is what surfaces."""


class LaneOwner(Protocol):
    """What a lane needs of the controller that runs it (Backfiller)."""

    settings: Settings
    spec: Backfill
    reporter: Reporter
    stop: threading.Event
    migration_id: int | None
    sql: BackfillSql
    monitor: Monitor
    state_sql: StateSql | None

    @property
    def failed(self) -> bool:
        """Another lane failed: this one should stop after its batch."""

    def check_stop(self) -> None:
        """Raise Interrupted (a stop) or LaneStopped (another lane failed)."""

    def report(
        self, batch_size: int, throttle: str | None, *, final: bool = False
    ) -> BackfillProgress: ...

    def throttled(self, force: bool = False) -> str | None: ...

    def next_batch_size(self, size: int, elapsed: float) -> int: ...

    def finish(self, cursor: Cursor, conn: Connection) -> None: ...


class Lane:
    """One connection's batch loop: runs slices of its Backfiller to their end, one at a time."""

    def __init__(self, owner: LaneOwner, conn: Connection) -> None:
        self.owner = owner
        self.conn = conn
        self.settings = owner.settings
        self.spec = owner.spec
        self.sql = owner.sql
        self.monitor = owner.monitor
        # The lane's checkpoints go over its own connection: each commits with its batch.
        self.state = StateStore(conn, owner.state_sql)
        self.rows_updated = 0
        self._rows_per_page: float | None = None  # the ctid path's estimate
        # Kept from one slice to the next: the next slice starts at the size the last one found.
        self.batch_size = self.settings.batch_size or self.settings.batch_start
        self.pacer = LoadPacer(self.settings.load_pause, self.settings.load_half_life_s)

    def run(self, cursor: Cursor) -> None:
        owner = self.owner
        started, done_at_start = time.monotonic(), cursor.rows_done

        def attempt(_retries: int, _timeout_ms: int) -> tuple[int, Any, float, str | None]:
            owner.check_stop()
            throttle_reason = self._wait_while_throttled(cursor, self.batch_size)
            owner.check_stop()
            t0 = time.monotonic()
            rate = (cursor.rows_done - done_at_start) / max(t0 - started, 1e-6)
            scanned, last_key = self._batch(cursor, self.batch_size, rate)
            return scanned, last_key, t0, throttle_reason

        def refused(refusal: Refusal) -> None:
            # An application transaction holds some of these rows: back off, with less. Giving
            # up quickly matters more than finishing this batch: while it waits it holds every
            # row it has already updated, and the application may be queueing for those.
            self.batch_size = max(self.settings.batch_min, self.batch_size // 2)
            if refusal.attempt == 1 or refusal.attempt % 10 == 0:
                owner.reporter.message(
                    f"a batch waited more than {self.settings.row_lock_timeout_ms} ms for "
                    f"row locks held by the application ({refusal.attempt} tries); retrying "
                    f"with {self.batch_size:,} rows"
                )

        while True:
            (scanned, last_key, t0, throttle_reason), _ = with_retries(
                attempt,
                deadline_s=math.inf,  # row locks of the application's short transactions
                pause_s=lambda n: min(0.05 * 2**n, 2.0),
                retry_on=(LockNotAvailable, DeadlockDetected),
                on_refused=refused,
                sleep=owner.stop.wait,
            )
            elapsed = max(time.monotonic() - t0, 1e-4)
            if last_key is None:
                break
            rest = self.settings.batch_pause + self.pacer.rest
            if rest > 0:
                # The duty cycle: the application's commits do not queue behind ours for WAL
                # flushes and CPU while we rest.
                owner.stop.wait(elapsed * rest)
            cursor.checkpoint = last_key
            cursor.rows_done += scanned
            cursor.batches += 1
            owner.report(self.batch_size, throttle_reason or self.pacer.reason)
            self.batch_size = owner.next_batch_size(self.batch_size, elapsed)
        owner.finish(cursor, self.conn)

    def _wait_while_throttled(self, cursor: Cursor, batch_size: int) -> str | None:
        owner = self.owner
        reason = owner.throttled()
        first = reason
        while reason is not None and not owner.stop.is_set() and not owner.failed:
            owner.report(batch_size, reason)
            self._record_throttle(cursor, reason)
            owner.stop.wait(self.settings.throttle_poll_s)
            reason = owner.throttled(force=True)
        if first is not None:
            self._record_throttle(cursor, None)
        return first

    def _record_throttle(self, cursor: Cursor, reason: str | None) -> None:
        if self.owner.migration_id is None:
            return
        self.state.backfill_throttled(
            self.owner.migration_id, self.spec.table, self.spec.column, cursor.slice, reason
        )

    # -- one batch ---------------------------------------------------------------------------

    def _batch(self, cursor: Cursor, size: int, rate: float) -> tuple[int, list[str] | None]:
        """Run one batch in its own transaction, with its checkpoint. Returns (rows scanned,
        last key); (0, None) when the slice is through.

        The transaction goes to the server as a pipeline: BEGIN, the SET LOCALs, the UPDATE, the
        checkpoint, COMMIT. It waits for one answer on the way: the batch's last key on the keyset
        path (before the UPDATE), the UPDATE's row count on the others (the checkpoint records
        it). So a batch holds its row locks across at most one round trip to this process, which
        on a busy machine may not be running at that moment. (Counting the rows in the UPDATE
        statement itself, as a data-modifying WITH ... RETURNING, avoided that round trip but cost
        about 5% of the rate in a hand-made comparison, one with and one without.)"""
        with self.conn.pipeline() as pipeline, self.conn.transaction():
            self.sql.begin_batch(self.conn, self._batch_settings())
            if cursor.by_pages:
                planned = self._ctid_batch(cursor, size)
            else:
                planned = self._keyset_batch(cursor, size)
            if planned is None:
                return 0, None
            updating = self.conn.execute(planned.sql.encode(), planned.params)
            scanned = planned.scanned
            if scanned is None:
                pipeline.sync()
                scanned = max(updating.rowcount, planned.at_least)
            checkpoint = self._checkpoint(cursor, planned.last, scanned, size, rate)
        # The pipeline is through (an error, such as a lock timeout, was raised on the way out):
        # the batch is committed.
        if checkpoint is not None:
            sample = checkpoint.fetchone()
            if sample is not None:
                self.pacer.observe(LoadSample.of(sample))
        self.rows_updated += max(updating.rowcount, 0)
        return scanned, planned.last

    def _checkpoint(
        self, cursor: Cursor, last: list[str], scanned: int, size: int, rate: float
    ) -> Any:
        """Queue the checkpoint's UPDATE (when there is a migration to record it in) and, with
        load pacing on, a sample of the other sessions taken while the batch still holds its rows,
        in the same statement. Returns the cursor whose row is the sample, or None."""
        pacing = self.pacer.max_rest > 0
        owner = self.owner
        sample_sql = self.monitor.load_sample_sql
        if owner.migration_id is None:
            return self.conn.execute(sample_sql) if pacing else None
        result = self.state.checkpoint_backfill(
            owner.migration_id,
            self.spec.table,
            self.spec.column,
            cursor.slice,
            checkpoint=last,
            rows=scanned,
            batch_size=size,
            rows_per_second=rate,
            throttle=self.pacer.reason,
            sample_sql=sample_sql if pacing else None,
        )
        return result if pacing else None

    def _batch_settings(self) -> BatchSettings:
        return BatchSettings(
            row_lock_timeout_ms=self.settings.row_lock_timeout_ms,
            skip_triggers=self.spec.skip_triggers,
            synchronous_commit=self.settings.batch_synchronous_commit,
            statement_timeout_ms=self.settings.statement_timeout_ms,
        )

    def _keyset_batch(self, cursor: Cursor, size: int) -> Planned | None:
        if cursor.dense_start is not None:
            return self._dense_batch(cursor, size)
        assert cursor.upper_bound is not None
        return self.sql.keyset_batch(
            self.conn,
            self.spec,
            cursor.key_columns,
            cursor.key_types,
            cursor.checkpoint,
            cursor.upper_bound,
            size,
        )

    def _dense_batch(self, cursor: Cursor, size: int) -> Planned | None:
        """The next `size` key values (not rows) of a dense integer key, as one UPDATE."""
        assert cursor.upper_bound is not None and cursor.dense_start is not None
        upper = int(cursor.upper_bound[0])
        start = int(cursor.checkpoint[0]) if cursor.checkpoint else cursor.dense_start
        if start >= upper:
            return None
        end = min(start + size, upper)
        return self.sql.range_batch(self.spec, cursor.key_columns[0], start, end)

    def _ctid_batch(self, cursor: Cursor, size: int) -> Planned | None:
        """No usable key: walk the heap in page ranges (a TID range scan). The checkpoint and
        the upper bound are page numbers: the last page done, and the slice's last page (for the
        last slice, the page count when the backfill began: one page past the end)."""
        assert cursor.upper_bound is not None
        last_page = int(cursor.upper_bound[0])
        first = int(cursor.checkpoint[0]) + 1 if cursor.checkpoint else 0
        if first > last_page:
            return None
        if self._rows_per_page is None:  # asked once: a round trip per batch is what it costs
            self._rows_per_page = self.sql.rows_per_page(self.conn, self.spec)
        rows_per_page = self._rows_per_page
        pages = max(1, int(size / rows_per_page))
        end = min(first + pages - 1, last_page)
        return self.sql.page_batch(self.spec, first, end, rows_per_page)
