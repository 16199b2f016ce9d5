"""The backfill: fills a column in short keyset batches, each committing its own checkpoint.

With `--workers N` the key range is cut into slices when the backfill begins (four per worker);
each slice has its own checkpoint row, and N lanes (one connection each) take unfinished slices
until none is left. One worker is one lane on the runner's own connection.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from liveshift.engines.base import Connection, DeadlockDetected, DriverError, LockNotAvailable
from liveshift.engines.postgres.connection import set_local
from liveshift.errors import DatabaseError, Interrupted
from liveshift.plan import Backfill
from liveshift.progress import BackfillProgress, Reporter
from liveshift.schema import quote_ident
from liveshift.settings import Settings
from liveshift.state import STATE_SCHEMA
from liveshift.throttle import LOAD_SAMPLE, LoadPacer, LoadSample, Throttle
from liveshift.triggers import BACKFILL_SETTING, REPLICA_ROLE

# A slice smaller than this is not worth a connection of its own: tables with fewer rows than
# this many per worker get fewer slices (one, below twice this).
MIN_SLICE_ROWS = 10_000
# The `backfills` rows of one column (its slices), given migration id, table and column.
STATE_ROW = "where migration_id = %s and table_name = %s and column_name = %s"
# Slices per worker: enough for lanes that run at different speeds to even out, few enough that
# a slice stays large.
SLICES_PER_WORKER = 4
# Pages sampled to place the slice boundaries of a keyset backfill (TABLESAMPLE SYSTEM).
SPLIT_SAMPLE_PAGES = 2_000


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


class _LaneStopped(Exception):
    """A lane stops after its batch because another lane failed; that failure is what surfaces."""


class Backfiller:
    """Runs one Backfill to the end, resuming from its checkpoints if it ran before.

    `connect` opens another connection to the same database; without it (or with one worker)
    the whole backfill runs on `conn`.
    """

    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        reporter: Reporter,
        *,
        throttle: Throttle | None = None,
        migration_id: int | None = None,
        stop: threading.Event | None = None,
        connect: Callable[[], Connection] | None = None,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.reporter = reporter
        self.throttle = throttle
        self.migration_id = migration_id
        self.stop = stop or threading.Event()
        self.connect = connect
        self.rows_updated = 0
        self._lock = threading.Lock()  # progress, the slice queue, the throttle's connection
        self._failed = threading.Event()  # a lane failed: the others stop after their batch
        self._slices: list[Cursor] = []
        self._started = 0.0
        self._rows_at_start = 0
        self._batch_size = settings.batch_size or settings.batch_start  # the latest batch's

    @property
    def _expression(self) -> str:
        # The statements below carry %s parameters: a literal % in user SQL must be doubled.
        return self.spec.expression.replace("%", "%%")

    @property
    def _where(self) -> str:
        return self.spec.where.replace("%", "%%")

    @property
    def _table(self) -> str:
        return f"{quote_ident(self.spec.schema)}.{quote_ident(self.spec.table)}"

    def _update(self, condition: str) -> str:
        return (
            f"update only {self._table} set {quote_ident(self.spec.column)} = "
            f"({self._expression}) where {condition} and ({self._where})"
        )

    def run(self, spec: Backfill) -> int:
        self.spec = spec
        self.rows_updated = 0
        self._failed.clear()
        # The dense path's start (see Cursor), once worked out (by _split or below), in a tuple.
        self._dense: tuple[int | None] | None = None
        watch_client(self.conn)
        slices = self._slices = self._load_or_begin()
        done = sum(c.rows_done for c in slices)
        if done and any(c.checkpoint is not None for c in slices):
            self.reporter.message(
                f"resuming the backfill of {spec.table}.{spec.column} after "
                f"{done:,} of ~{self._total():,} rows"
            )
        for cursor in slices:
            if cursor.upper_bound is None and not cursor.finished:  # the table was empty
                self._finish(cursor, self.conn)
        pending = [c for c in slices if not c.finished]
        if not pending:
            return 0
        (dense_start,) = self._dense or (self._dense_start(slices),)
        for cursor in pending:
            cursor.dense_start = dense_start
        self._started = time.monotonic()
        self._rows_at_start = done
        workers = min(self.settings.workers, len(pending))
        if workers <= 1 or self.connect is None:
            lane = Lane(self, self.conn)
            try:
                for cursor in pending:
                    lane.run(cursor)
            finally:
                self.rows_updated += lane.rows_updated
        else:
            self._run_lanes(pending, workers)
        self.report(self._batch_size, None, final=True)
        return self.rows_updated

    def _run_lanes(self, pending: list[Cursor], workers: int) -> None:
        """`workers` lanes, each on a connection of its own, take slices until none is left.
        The first failure stops the other lanes after their current batch and is raised; a stop
        (Ctrl-C, SIGTERM) stops them all the same way and is reported once, with the total."""
        queue = list(reversed(pending))
        failures: list[BaseException] = []

        def work(conn: Connection) -> None:
            lane = Lane(self, conn)
            try:
                while True:
                    with self._lock:
                        if not queue:
                            return
                        cursor = queue.pop()
                    lane.run(cursor)
            except BaseException as exc:  # re-raised by the runner's thread below
                if not isinstance(exc, (Interrupted, _LaneStopped)):
                    self._failed.set()
                with self._lock:
                    failures.append(exc)
            finally:
                with self._lock:
                    self.rows_updated += lane.rows_updated

        connections: list[Connection] = []
        try:
            assert self.connect is not None
            for _ in range(workers):
                try:
                    connection = self.connect()
                except DatabaseError as exc:
                    if not connections:
                        raise
                    # Out of connections (max_connections, a pooler's limit): fewer lanes.
                    self.reporter.message(
                        f"--workers {workers}: opened only {len(connections)} connections "
                        f"({exc.message}); running {len(connections)} lanes"
                    )
                    break
                connections.append(connection)
                watch_client(connection)
            threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in connections]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    while thread.is_alive():  # short joins: this thread takes the signals
                        thread.join(0.2)
            except BaseException:
                # A KeyboardInterrupt with no stop handler installed (library use): the lanes
                # end their batches before their connections close.
                self._failed.set()
                for thread in threads:
                    thread.join()
                raise
        finally:
            for connection in connections:
                with contextlib.suppress(DriverError):
                    connection.close()
        for failure in failures:
            if not isinstance(failure, (Interrupted, _LaneStopped)):
                raise failure
        if failures:
            raise self._interrupted()

    @property
    def failed(self) -> bool:
        """Another lane failed: this one should stop after its batch."""
        return self._failed.is_set()

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise self._interrupted()
        if self._failed.is_set():
            raise _LaneStopped

    def _interrupted(self) -> Interrupted:
        done = sum(c.rows_done for c in self._slices)
        return Interrupted(
            f"stopped after {done:,} of ~{max(self._total(), done):,}"
            f" rows of the backfill of {self.spec.table}.{self.spec.column}; every finished "
            "batch is saved",
            hint="Run the same `liveshift start FILE` to resume from here, or "
            "`liveshift rollback` to undo the migration.",
        )

    def _total(self) -> int:
        return sum(max(c.rows_total, c.rows_done) for c in self._slices)

    def report(
        self, batch_size: int, throttle: str | None, *, final: bool = False
    ) -> BackfillProgress:
        """Send the progress of all slices together to the reporter; returns it."""
        with self._lock:
            if batch_size:
                self._batch_size = batch_size
            elapsed = max(time.monotonic() - self._started, 1e-6)
            done = sum(c.rows_done for c in self._slices)
            progress = BackfillProgress(
                table=self.spec.table,
                column=self.spec.column,
                rows_done=done,
                rows_total=max(self._total(), done),
                rows_per_second=(done - self._rows_at_start) / elapsed,
                batch_size=self._batch_size,
                batches=sum(c.batches for c in self._slices),
                throttle=throttle,
                elapsed_s=elapsed,
            )
            self.reporter.backfill(progress, final=final)
        return progress

    def throttled(self, force: bool = False) -> str | None:
        """Why the backfill should wait now (None: it should not); one lane asks at a time."""
        if self.throttle is None:
            return None
        with self._lock:
            return self.throttle.reason(force=force)

    # -- state -------------------------------------------------------------------------------

    def _key(self) -> tuple[list[str], list[str]]:
        """Key columns and their types; the ctid fallback when the table has no usable key."""
        if not self.spec.key:
            return ["ctid"], ["tid"]
        rows = self.conn.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
            "where a.attrelid = %s::regclass and a.attname = any(%s)",
            (self._table, list(self.spec.key)),
        ).fetchall()
        types = {name: type_ for name, type_ in rows}
        return list(self.spec.key), [types[k] for k in self.spec.key]

    def _load_or_begin(self) -> list[Cursor]:
        key_columns, key_types = self._key()
        if self.migration_id is not None:
            rows = self.conn.execute(
                "select checkpoint, upper_bound, rows_done, rows_total, batches, slice, "
                f"finished_at is not null from {STATE_SCHEMA}.backfills {STATE_ROW} "
                "order by slice",
                (self.migration_id, self.spec.table, self.spec.column),
            ).fetchall()
            if rows:
                return [
                    Cursor(key_columns, key_types, r[0], r[1], r[2], r[3] or 0, r[4], r[5], r[6])
                    for r in rows
                ]
        upper = self._upper_bound(key_columns)
        total = self._estimate_rows()
        whole = Cursor(key_columns, key_types, None, upper, 0, total, 0)
        slices = self._split(whole) if upper is not None else [whole]
        if self.migration_id is not None:
            with self.conn.transaction():
                for cursor in slices:
                    self.conn.execute(
                        f"insert into {STATE_SCHEMA}.backfills (migration_id, table_name, "
                        "column_name, slice, key_columns, checkpoint, upper_bound, rows_total) "
                        "values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
                        (
                            self.migration_id,
                            self.spec.table,
                            self.spec.column,
                            cursor.slice,
                            key_columns,
                            cursor.checkpoint,
                            cursor.upper_bound,
                            cursor.rows_total,
                        ),
                    )
        return slices

    def _split(self, whole: Cursor) -> list[Cursor]:
        """Cut the key range into SLICES_PER_WORKER slices per worker (fewer for a small table),
        each ending at a boundary key and the next starting past it. Lanes take the next slice
        when they finish one, so a lane that gets less of the server (row locks, CPU) does
        fewer slices instead of finishing last."""
        count = min(self.settings.workers * SLICES_PER_WORKER, whole.rows_total // MIN_SLICE_ROWS)
        if self.settings.workers <= 1 or count <= 1:
            return [whole]
        assert whole.upper_bound is not None
        dense_start = None if whole.key_columns == ["ctid"] else self._dense_start([whole])
        self._dense = (dense_start,)
        if whole.key_columns == ["ctid"]:
            last_page = int(whole.upper_bound[0])
            bounds = [[str((last_page + 1) * k // count - 1)] for k in range(1, count)]
        elif dense_start is not None:  # key arithmetic: even ranges of a dense integer key
            span = int(whole.upper_bound[0]) - dense_start
            bounds = [[str(dense_start + span * k // count)] for k in range(1, count)]
        else:
            bounds = self._key_boundaries(whole, count)
        ends = [*bounds, whole.upper_bound]
        starts: list[list[str] | None] = [None, *bounds]
        share = whole.rows_total // len(ends)
        return [
            Cursor(whole.key_columns, whole.key_types, start, end, 0, share, 0, slice=number)
            for number, (start, end) in enumerate(zip(starts, ends, strict=True))
        ]

    def _key_boundaries(self, whole: Cursor, count: int) -> list[list[str]]:
        """Keys that cut the table into `count` runs of about as many rows, from a sample of its
        pages (TABLESAMPLE SYSTEM; a table of fewer pages is read whole). Keys usually follow
        the order rows were written in, so how many pages are sampled, not how many rows, sets
        how even the runs are. The server sorts the sample and returns only the boundaries."""
        keys = ", ".join(quote_ident(k) for k in whole.key_columns)
        key_text = "array[" + ", ".join(f"{quote_ident(k)}::text" for k in whole.key_columns) + "]"
        row = self.conn.execute(
            "select pg_relation_size(%s::regclass) / current_setting('block_size')::int",
            (self._table,),
        ).fetchone()
        percent = 100.0 * SPLIT_SAMPLE_PAGES / max(int(row[0]) if row else 1, 1)
        sample = "" if percent >= 100.0 else f" tablesample system ({percent:.6f})"
        # Row n of c closes run j when n * count / c reaches j (integer division).
        rows = self.conn.execute(
            f"select key from (select {key_text} as key, row_number() over w as n, "
            f"count(*) over () as c from only {self._table}{sample} "
            f"window w as (order by {keys})) s "
            "where n < c and n * %(count)s / c > (n - 1) * %(count)s / c order by n",
            {"count": count},
        ).fetchall()
        bounds: list[list[str]] = []
        for (key,) in rows:
            if list(key) != whole.upper_bound and (not bounds or list(key) != bounds[-1]):
                bounds.append(list(key))
        return bounds

    def _estimate_rows(self) -> int:
        row = self.conn.execute(
            "select reltuples::bigint from pg_class where oid = %s::regclass", (self._table,)
        ).fetchone()
        estimate = int(row[0]) if row else -1
        if estimate > 0:
            return estimate
        counted = self.conn.execute(f"select count(*) from only {self._table}").fetchone()
        return int(counted[0]) if counted else 0

    def _upper_bound(self, key_columns: list[str]) -> list[str] | None:
        if key_columns == ["ctid"]:
            row = self.conn.execute(
                "select (pg_relation_size(%s::regclass) / current_setting('block_size')::int)::text",
                (self._table,),
            ).fetchone()
            pages = int(row[0]) if row else 0
            return [str(pages)] if pages > 0 else None
        desc = ", ".join(f"{quote_ident(k)} desc" for k in key_columns)
        texts = ", ".join(f"{quote_ident(k)}::text" for k in key_columns)
        row = self.conn.execute(
            f"select array[{texts}] from only {self._table} order by {desc} limit 1"
        ).fetchone()
        return list(row[0]) if row else None

    def _dense_start(self, slices: list[Cursor]) -> int | None:
        """For a single integer key with few gaps, the first key minus one (batches by key
        arithmetic); None otherwise."""
        first = slices[0]
        if len(first.key_columns) != 1 or first.key_types[0] not in (
            "smallint",
            "integer",
            "bigint",
        ):
            return None
        upper = slices[-1].upper_bound
        assert upper is not None
        key = quote_ident(first.key_columns[0])
        row = self.conn.execute(f"select min({key}) from only {self._table}").fetchone()
        if row is None or row[0] is None:
            return None
        span = int(upper[0]) - int(row[0]) + 1
        total = sum(c.rows_total for c in slices)
        if total < 0.5 * span:  # sparse keys: batches by key range would be empty
            return None
        return int(row[0]) - 1

    def _finish(self, cursor: Cursor, conn: Connection) -> None:
        cursor.finished = True
        if self.migration_id is None:
            return
        conn.execute(
            f"update {STATE_SCHEMA}.backfills set finished_at = now(), updated_at = now(), "
            f"throttle = null, rows_total = greatest(rows_total, rows_done) {STATE_ROW} "
            "and slice = %s",
            (self.migration_id, self.spec.table, self.spec.column, cursor.slice),
        )


def watch_client(conn: Connection) -> None:
    """A liveshift that dies (kill -9, a lost host) must not hold the migration lock for long:
    the server checks for the client while a batch runs and probes it while idle."""
    for setting, value in (
        ("client_connection_check_interval", "1000"),  # PostgreSQL 14+
        ("tcp_keepalives_idle", "10"),
        ("tcp_keepalives_interval", "5"),
        ("tcp_keepalives_count", "3"),
    ):
        # An older server may not know a setting: none is needed for correctness.
        with contextlib.suppress(DriverError):
            conn.execute(f"set {setting} = {value}")


class Lane:
    """One connection's batch loop: runs slices of its Backfiller to their end, one at a time."""

    def __init__(self, owner: Backfiller, conn: Connection) -> None:
        self.owner = owner
        self.conn = conn
        self.settings = owner.settings
        self.spec = owner.spec
        self.rows_updated = 0
        self._rows_per_page: float | None = None  # the ctid path's estimate
        # Kept from one slice to the next: the next slice starts at the size the last one found.
        self.batch_size = self.settings.batch_size or self.settings.batch_start
        self.pacer = LoadPacer(self.settings.load_pause, self.settings.load_half_life_s)

    def run(self, cursor: Cursor) -> None:
        owner = self.owner
        lock_waits = 0
        started, done_at_start = time.monotonic(), cursor.rows_done
        while True:
            owner.check_stop()
            throttle_reason = self._wait_while_throttled(cursor, self.batch_size)
            owner.check_stop()
            t0 = time.monotonic()
            rate = (cursor.rows_done - done_at_start) / max(t0 - started, 1e-6)
            try:
                scanned, last_key = self._batch(cursor, self.batch_size, rate)
            except (LockNotAvailable, DeadlockDetected):
                # An application transaction holds some of these rows: back off, with less.
                # Giving up quickly matters more than finishing this batch: while it waits it
                # holds every row it has already updated, and the application may be queueing
                # for those.
                lock_waits += 1
                self.batch_size = max(self.settings.batch_min, self.batch_size // 2)
                if lock_waits == 1 or lock_waits % 10 == 0:
                    owner.reporter.message(
                        f"a batch waited more than {self.settings.row_lock_timeout_ms} ms for "
                        f"row locks held by the application ({lock_waits} tries); retrying "
                        f"with {self.batch_size:,} rows"
                    )
                owner.stop.wait(min(0.05 * 2**lock_waits, 2.0))
                continue
            lock_waits = 0
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
            self.batch_size = self._next_size(self.batch_size, elapsed)
        owner._finish(cursor, self.conn)

    def _next_size(self, size: int, elapsed: float) -> int:
        if self.settings.batch_size:
            return self.settings.batch_size
        target = self.settings.batch_target_ms / 1000
        wanted = int(size * target / elapsed)
        # Change by at most 2x per batch, so one odd batch does not swing the size.
        wanted = max(size // 2, min(size * 2, wanted))
        return max(self.settings.batch_min, min(self.settings.batch_max, wanted))

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
        self.conn.execute(
            f"update {STATE_SCHEMA}.backfills set throttle = %s, updated_at = now() "
            f"{STATE_ROW} and slice = %s",
            (reason, self.owner.migration_id, self.spec.table, self.spec.column, cursor.slice),
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
            set_local(self.conn, self._local_settings())
            if cursor.key_columns == ["ctid"]:
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
        if owner.migration_id is None:
            return self.conn.execute(LOAD_SAMPLE) if pacing else None
        result = self.conn.execute(
            f"update {STATE_SCHEMA}.backfills set checkpoint = %s, "
            "rows_done = rows_done + %s, batches = batches + 1, batch_size = %s, "
            "rows_per_second = %s, throttle = %s, updated_at = now() "
            + (f"from ({LOAD_SAMPLE}) _ls_load " if pacing else "")
            + STATE_ROW
            + " and slice = %s"
            + (" returning _ls_load.*" if pacing else ""),
            (
                last,
                scanned,
                size,
                rate,
                self.pacer.reason,
                owner.migration_id,
                self.spec.table,
                self.spec.column,
                cursor.slice,
            ),
        )
        return result if pacing else None

    def _local_settings(self) -> list[tuple[str, str]]:
        local = [
            (BACKFILL_SETTING, "on"),
            ("lock_timeout", f"{int(self.settings.row_lock_timeout_ms)}ms"),
        ]
        if self.spec.skip_triggers:
            local.append(REPLICA_ROLE)
        if not self.settings.batch_synchronous_commit:
            # Safe: the batch's rows and its checkpoint commit in one transaction, and WAL is
            # durable in order, so a crash undoes only whole batches from the end, checkpoints
            # included, and the resumed run redoes them (docs/backfill.md).
            local.append(("synchronous_commit", "off"))
        if self.settings.statement_timeout_ms:
            local.append(("statement_timeout", f"{int(self.settings.statement_timeout_ms)}ms"))
        return local

    def _keyset_batch(self, cursor: Cursor, size: int) -> Planned | None:
        """Find the batch's last key (an index-only scan past `size` keys), then UPDATE that key
        range directly, as fast per row as one big UPDATE. (Joining the batch's keys back to the
        table let the planner hash the whole table on every batch.)"""
        if cursor.dense_start is not None:
            return self._dense_batch(cursor, size)
        table = self.owner._table
        keys = [quote_ident(k) for k in cursor.key_columns]
        key_row = "(" + ", ".join(keys) + ")"
        typed = "(" + ", ".join(f"%s::{t}" for t in cursor.key_types) + ")"
        after: list[Any] = []
        lower = ""
        if cursor.checkpoint is not None:
            lower = f"{key_row} > {typed} and "
            after = list(cursor.checkpoint)
        assert cursor.upper_bound is not None
        key_text = "array[" + ", ".join(f"{k}::text" for k in keys) + "]"
        in_range = f"{lower}{key_row} <= {typed}"
        found = self.conn.execute(
            (
                f"select {key_text} from only {table} where {in_range} "
                f"order by {', '.join(keys)} offset %s limit 1"
            ).encode(),
            [*after, *cursor.upper_bound, size - 1],
        ).fetchone()
        if found is not None:
            scanned, last = size, list(found[0])
        else:  # the last, partial batch: it runs to the upper bound
            counted = self.conn.execute(
                f"select count(*) from only {table} where {in_range}".encode(),
                [*after, *cursor.upper_bound],
            ).fetchone()
            scanned, last = (int(counted[0]) if counted else 0), list(cursor.upper_bound)
            if scanned == 0:
                return None
        return Planned(
            self.owner._update(f"{lower}{key_row} <= {typed}"), [*after, *last], last, scanned
        )

    def _dense_batch(self, cursor: Cursor, size: int) -> Planned | None:
        """The next `size` key values (not rows) of a dense integer key, as one UPDATE."""
        assert cursor.upper_bound is not None and cursor.dense_start is not None
        upper = int(cursor.upper_bound[0])
        start = int(cursor.checkpoint[0]) if cursor.checkpoint else cursor.dense_start
        if start >= upper:
            return None
        end = min(start + size, upper)
        key = quote_ident(cursor.key_columns[0])
        return Planned(
            self.owner._update(f"{key} > %s and {key} <= %s"), [start, end], [str(end)], None
        )

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
            row = self.conn.execute(
                "select greatest(reltuples, 0) / greatest(relpages, 1) from pg_class "
                "where oid = %s::regclass",
                (self.owner._table,),
            ).fetchone()
            self._rows_per_page = max(float(row[0]) if row else 1.0, 1.0)
        rows_per_page = self._rows_per_page
        pages = max(1, int(size / rows_per_page))
        end = min(first + pages - 1, last_page)
        return Planned(
            self.owner._update("ctid >= %s::tid and ctid < %s::tid"),
            [f"({first},0)", f"({end + 1},0)"],
            [str(end)],
            None,
            int((end - first + 1) * rows_per_page),
        )
