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

from liveshift.backfill.lane import Cursor, Lane, LaneStopped
from liveshift.backfill.throttle import Throttle
from liveshift.engines.backfill import BackfillSql, Monitor, backfill_engine
from liveshift.engines.base import Connection, DriverError
from liveshift.engines.state import StateSql
from liveshift.errors import DatabaseError, Interrupted
from liveshift.plan import Backfill
from liveshift.progress import BackfillProgress, Reporter
from liveshift.settings import Settings
from liveshift.state import StateStore

# A slice smaller than this is not worth a connection of its own: tables with fewer rows than
# this many per worker get fewer slices (one, below twice this).
MIN_SLICE_ROWS = 10_000
# Slices per worker: enough for lanes that run at different speeds to even out, few enough that
# a slice stays large.
SLICES_PER_WORKER = 4
# Pages sampled to place the slice boundaries of a keyset backfill (TABLESAMPLE SYSTEM).
SPLIT_SAMPLE_PAGES = 2_000


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
        sql: BackfillSql | None = None,
        monitor: Monitor | None = None,
        state_sql: StateSql | None = None,
    ) -> None:
        self.conn = conn
        self.state_sql = state_sql  # the engine's state statements (None: PostgreSQL's)
        # The engine's statements; PostgreSQL's unless given (the only engine that backfills).
        self.sql = sql or backfill_engine().backfill_sql()
        self.monitor = monitor or backfill_engine().monitor()
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

    def run(self, spec: Backfill) -> int:
        self.spec = spec
        self.rows_updated = 0
        self._failed.clear()
        # The dense path's start (see Cursor), once worked out (by _split or below), in a tuple.
        self._dense: tuple[int | None] | None = None
        self.sql.watch_client(self.conn)
        slices = self._slices = self._load_or_begin()
        done = sum(c.rows_done for c in slices)
        if done and any(c.checkpoint is not None for c in slices):
            self.reporter.message(
                f"resuming the backfill of {spec.table}.{spec.column} after "
                f"{done:,} of ~{self._total():,} rows"
            )
        for cursor in slices:
            if cursor.upper_bound is None and not cursor.finished:  # the table was empty
                self.finish(cursor, self.conn)
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
                if not isinstance(exc, (Interrupted, LaneStopped)):
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
                self.sql.watch_client(connection)
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
            if not isinstance(failure, (Interrupted, LaneStopped)):
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
            raise LaneStopped

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

    def next_batch_size(self, size: int, elapsed: float) -> int:
        """The size of a lane's next batch, after one of `size` rows took `elapsed` seconds: the
        size that takes --batch-target, within --batch-min and --batch-max."""
        if self.settings.batch_size:
            return self.settings.batch_size
        target = self.settings.batch_target_ms / 1000
        wanted = int(size * target / elapsed)
        # Change by at most 2x per batch, so one odd batch does not swing the size.
        wanted = max(size // 2, min(size * 2, wanted))
        return max(self.settings.batch_min, min(self.settings.batch_max, wanted))

    # -- state -------------------------------------------------------------------------------

    def _key(self) -> tuple[list[str], list[str]]:
        """Key columns and their types; the engine's page walk when the table has no usable
        key."""
        if not self.spec.key:
            columns, types = self.sql.page_key
            return list(columns), list(types)
        key = list(self.spec.key)
        return key, self.sql.key_types(self.conn, self.spec, key)

    def _load_or_begin(self) -> list[Cursor]:
        key_columns, key_types = self._key()
        by_pages = not self.spec.key
        state = StateStore(self.conn, self.state_sql)
        if self.migration_id is not None:
            rows = state.backfill_slices(self.migration_id, self.spec.table, self.spec.column)
            if rows:
                return [
                    Cursor(
                        key_columns,
                        key_types,
                        r[0],
                        r[1],
                        r[2],
                        r[3] or 0,
                        r[4],
                        r[5],
                        r[6],
                        by_pages=by_pages,
                    )
                    for r in rows
                ]
        upper = self.sql.upper_bound(self.conn, self.spec, key_columns)
        total = self.sql.estimate_rows(self.conn, self.spec)
        whole = Cursor(key_columns, key_types, None, upper, 0, total, 0, by_pages=by_pages)
        slices = self._split(whole) if upper is not None else [whole]
        if self.migration_id is not None:
            state.begin_backfill(
                self.migration_id,
                self.spec.table,
                self.spec.column,
                key_columns,
                [(c.slice, c.checkpoint, c.upper_bound, c.rows_total) for c in slices],
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
        dense_start = None if whole.by_pages else self._dense_start([whole])
        self._dense = (dense_start,)
        if whole.by_pages:
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
            Cursor(
                whole.key_columns,
                whole.key_types,
                start,
                end,
                0,
                share,
                0,
                slice=number,
                by_pages=whole.by_pages,
            )
            for number, (start, end) in enumerate(zip(starts, ends, strict=True))
        ]

    def _key_boundaries(self, whole: Cursor, count: int) -> list[list[str]]:
        """Keys that cut the table into `count` runs of about as many rows, from a sample of its
        pages (TABLESAMPLE SYSTEM; a table of fewer pages is read whole). Keys usually follow
        the order rows were written in, so how many pages are sampled, not how many rows, sets
        how even the runs are. The server sorts the sample and returns only the boundaries."""
        rows = self.sql.key_boundaries(
            self.conn, self.spec, whole.key_columns, count, SPLIT_SAMPLE_PAGES
        )
        bounds: list[list[str]] = []
        for key in rows:
            if list(key) != whole.upper_bound and (not bounds or list(key) != bounds[-1]):
                bounds.append(list(key))
        return bounds

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
        first_key = self.sql.min_key(self.conn, self.spec, first.key_columns[0])
        if first_key is None:
            return None
        span = int(upper[0]) - first_key + 1
        total = sum(c.rows_total for c in slices)
        if total < 0.5 * span:  # sparse keys: batches by key range would be empty
            return None
        return first_key - 1

    def finish(self, cursor: Cursor, conn: Connection) -> None:
        """Mark a slice done (recorded over `conn`, the connection of the lane that ran it)."""
        cursor.finished = True
        if self.migration_id is None:
            return
        StateStore(conn, self.state_sql).finish_backfill_slice(
            self.migration_id, self.spec.table, self.spec.column, cursor.slice
        )
