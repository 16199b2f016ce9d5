"""The backfill: fills a column in short keyset batches, each committing its own checkpoint."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from liveshift.errors import Interrupted
from liveshift.plan import Backfill
from liveshift.progress import BackfillProgress, Reporter
from liveshift.schema import quote_ident
from liveshift.settings import Settings
from liveshift.state import STATE_SCHEMA
from liveshift.throttle import LOAD_SAMPLE, LoadPacer, LoadSample, Throttle
from liveshift.triggers import BACKFILL_SETTING


@dataclass
class Cursor:
    """Where the backfill stands: the last key done (None before the first batch) and the last
    key that existed when it began (rows past it were written under the sync trigger)."""

    key_columns: list[str]
    key_types: list[str]
    checkpoint: list[str] | None
    upper_bound: list[str] | None
    rows_done: int
    rows_total: int
    batches: int
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


class Backfiller:
    """Runs one Backfill to the end, resuming from its checkpoint if it ran before."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        settings: Settings,
        reporter: Reporter,
        *,
        throttle: Throttle | None = None,
        migration_id: int | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.reporter = reporter
        self.throttle = throttle
        self.migration_id = migration_id
        self.stop = stop or threading.Event()
        self.rows_updated = 0
        self._rows_per_page: float | None = None  # the ctid path's estimate
        self.pacer = LoadPacer(settings.load_pause, settings.load_half_life_s)

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

    def run(self, spec: Backfill) -> int:
        self.spec = spec
        self._watch_client()
        cursor = self._load_or_begin()
        if cursor.rows_done and cursor.checkpoint is not None:
            self.reporter.message(
                f"resuming the backfill of {spec.table}.{spec.column} after "
                f"{cursor.rows_done:,} of ~{cursor.rows_total:,} rows"
            )
        if cursor.upper_bound is None:  # the table was empty when the backfill began
            self._finish(cursor)
            return 0
        cursor.dense_start = self._dense_start(cursor)
        batch_size = self.settings.batch_size or self.settings.batch_start
        started = time.monotonic()
        rows_at_start = cursor.rows_done
        throttle_reason: str | None = None
        lock_waits = 0
        while True:
            self._check_stop(cursor)
            throttle_reason = self._wait_while_throttled(cursor, batch_size, started, rows_at_start)
            self._check_stop(cursor)
            t0 = time.monotonic()
            rate = (cursor.rows_done - rows_at_start) / max(t0 - started, 1e-6)
            try:
                scanned, last_key = self._batch(cursor, batch_size, rate)
            except (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected):
                # An application transaction holds some of these rows: back off, with less.
                # Giving up quickly matters more than finishing this batch: while it waits it
                # holds the row locks it already took, and the application queues behind them.
                lock_waits += 1
                batch_size = max(self.settings.batch_min, batch_size // 2)
                if lock_waits == 1 or lock_waits % 10 == 0:
                    self.reporter.message(
                        f"a batch waited more than {self.settings.row_lock_timeout_ms} ms for "
                        f"row locks held by the application ({lock_waits} tries); retrying "
                        f"with {batch_size:,} rows"
                    )
                self.stop.wait(min(0.05 * 2**lock_waits, 2.0))
                continue
            lock_waits = 0
            elapsed = max(time.monotonic() - t0, 1e-4)
            if last_key is None:
                break
            rest = self.settings.batch_pause + self.pacer.rest
            if rest > 0:
                # The duty cycle: the application's commits do not queue behind ours for WAL
                # flushes and CPU while we rest.
                self.stop.wait(elapsed * rest)
            cursor.checkpoint = last_key
            cursor.rows_done += scanned
            cursor.batches += 1
            rate = (cursor.rows_done - rows_at_start) / max(time.monotonic() - started, 1e-6)
            self.reporter.backfill(
                self._progress(
                    cursor, rate, batch_size, throttle_reason or self.pacer.reason, started
                )
            )
            batch_size = self._next_size(batch_size, scanned, elapsed)
        self._finish(cursor)
        rate = (cursor.rows_done - rows_at_start) / max(time.monotonic() - started, 1e-6)
        cursor.rows_total = max(cursor.rows_total, cursor.rows_done)
        self.reporter.backfill(self._progress(cursor, rate, batch_size, None, started), final=True)
        return self.rows_updated

    def _check_stop(self, cursor: Cursor) -> None:
        if self.stop.is_set():
            raise Interrupted(
                f"stopped after {cursor.rows_done:,} of ~{max(cursor.rows_total, cursor.rows_done):,}"
                f" rows of the backfill of {self.spec.table}.{self.spec.column}; every finished "
                "batch is saved",
                hint="Run the same `liveshift start FILE` to resume from here, or "
                "`liveshift rollback` to undo the migration.",
            )

    def _watch_client(self) -> None:
        """A liveshift that dies (kill -9, a lost host) must not hold the migration lock for long:
        the server checks for the client while a batch runs and probes it while idle."""
        for setting, value in (
            ("client_connection_check_interval", "1000"),  # PostgreSQL 14+
            ("tcp_keepalives_idle", "10"),
            ("tcp_keepalives_interval", "5"),
            ("tcp_keepalives_count", "3"),
        ):
            # An older server may not know a setting: none is needed for correctness.
            with contextlib.suppress(psycopg.Error):
                self.conn.execute(f"set {setting} = {value}")

    def _progress(
        self, cursor: Cursor, rate: float, batch_size: int, throttle: str | None, started: float
    ) -> BackfillProgress:
        return BackfillProgress(
            table=self.spec.table,
            column=self.spec.column,
            rows_done=cursor.rows_done,
            rows_total=max(cursor.rows_total, cursor.rows_done),
            rows_per_second=rate,
            batch_size=batch_size,
            batches=cursor.batches,
            throttle=throttle,
            elapsed_s=time.monotonic() - started,
        )

    def _next_size(self, size: int, scanned: int, elapsed: float) -> int:
        if self.settings.batch_size:
            return self.settings.batch_size
        target = self.settings.batch_target_ms / 1000
        wanted = int(size * target / elapsed)
        # Change by at most 2x per batch, so one odd batch does not swing the size.
        wanted = max(size // 2, min(size * 2, wanted))
        return max(self.settings.batch_min, min(self.settings.batch_max, wanted))

    def _wait_while_throttled(
        self, cursor: Cursor, batch_size: int, started: float, rows_at_start: int
    ) -> str | None:
        if self.throttle is None:
            return None
        reason = self.throttle.reason()
        first = reason
        while reason is not None and not self.stop.is_set():
            rate = (cursor.rows_done - rows_at_start) / max(time.monotonic() - started, 1e-6)
            self.reporter.backfill(self._progress(cursor, rate, batch_size, reason, started))
            self._record_throttle(reason)
            self.stop.wait(self.settings.throttle_poll_s)
            reason = self.throttle.reason(force=True)
        if first is not None:
            self._record_throttle(None)
        return first

    def _record_throttle(self, reason: str | None) -> None:
        if self.migration_id is None:
            return
        self.conn.execute(
            f"update {STATE_SCHEMA}.backfills set throttle = %s, updated_at = now() "
            "where migration_id = %s and table_name = %s and column_name = %s",
            (reason, self.migration_id, self.spec.table, self.spec.column),
        )

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

    def _load_or_begin(self) -> Cursor:
        key_columns, key_types = self._key()
        if self.migration_id is not None:
            row = self.conn.execute(
                f"select checkpoint, upper_bound, rows_done, rows_total, batches "
                f"from {STATE_SCHEMA}.backfills "
                "where migration_id = %s and table_name = %s and column_name = %s",
                (self.migration_id, self.spec.table, self.spec.column),
            ).fetchone()
            if row is not None:
                return Cursor(key_columns, key_types, row[0], row[1], row[2], row[3] or 0, row[4])
        upper = self._upper_bound(key_columns)
        total = self._estimate_rows()
        cursor = Cursor(key_columns, key_types, None, upper, 0, total, 0)
        if self.migration_id is not None:
            self.conn.execute(
                f"insert into {STATE_SCHEMA}.backfills (migration_id, table_name, column_name, "
                "key_columns, checkpoint, upper_bound, rows_total) values (%s, %s, %s, %s, %s, %s, %s)"
                " on conflict do nothing",
                (
                    self.migration_id,
                    self.spec.table,
                    self.spec.column,
                    key_columns,
                    None,
                    upper,
                    total,
                ),
            )
        return cursor

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

    def _dense_start(self, cursor: Cursor) -> int | None:
        if len(cursor.key_columns) != 1 or cursor.key_types[0] not in (
            "smallint",
            "integer",
            "bigint",
        ):
            return None
        assert cursor.upper_bound is not None
        key = quote_ident(cursor.key_columns[0])
        row = self.conn.execute(f"select min({key}) from only {self._table}").fetchone()
        if row is None or row[0] is None:
            return None
        span = int(cursor.upper_bound[0]) - int(row[0]) + 1
        if cursor.rows_total < 0.5 * span:  # sparse keys: batches by key range would be empty
            return None
        return int(row[0]) - 1

    def _finish(self, cursor: Cursor) -> None:
        if self.migration_id is None:
            return
        self.conn.execute(
            f"update {STATE_SCHEMA}.backfills set finished_at = now(), updated_at = now(), "
            "throttle = null, rows_total = greatest(rows_total, rows_done) "
            "where migration_id = %s and table_name = %s and column_name = %s",
            (self.migration_id, self.spec.table, self.spec.column),
        )

    # -- one batch ---------------------------------------------------------------------------

    def _batch(self, cursor: Cursor, size: int, rate: float) -> tuple[int, list[str] | None]:
        """Run one batch in its own transaction, with its checkpoint. Returns (rows scanned,
        last key); (0, None) when the backfill is through.

        The transaction goes to the server as a pipeline: BEGIN, the SET LOCALs, the UPDATE, the
        checkpoint, COMMIT. It waits for one answer on the way: the batch's last key on the keyset
        path (before the UPDATE), the UPDATE's row count on the others (the checkpoint records
        it). So a batch holds its row locks across at most one round trip to this process, which
        on a busy machine may not be running at that moment. (Counting the rows in the UPDATE
        statement itself, as a data-modifying WITH ... RETURNING, avoided that round trip but cost
        about 5% of the rate in a hand-made comparison, one with and one without.)"""
        with self.conn.pipeline() as pipeline, self.conn.transaction():
            local = self._local_settings()
            self.conn.execute(
                "select " + ", ".join("set_config(%s, %s, true)" for _ in local),
                [value for pair in local for value in pair],
            )
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
            checkpoint = self._checkpoint(planned.last, scanned, size, rate)
        # The pipeline is through (an error, such as a lock timeout, was raised on the way out):
        # the batch is committed.
        if checkpoint is not None:
            sample = checkpoint.fetchone()
            if sample is not None:
                self.pacer.observe(LoadSample.of(sample))
        self.rows_updated += max(updating.rowcount, 0)
        return scanned, planned.last

    def _checkpoint(self, last: list[str], scanned: int, size: int, rate: float) -> Any:
        """Queue the checkpoint's UPDATE (when there is a migration to record it in) and, with
        load pacing on, a sample of the other sessions taken while the batch still holds its rows,
        in the same statement. Returns the cursor whose row is the sample, or None."""
        pacing = self.pacer.max_rest > 0
        if self.migration_id is None:
            return self.conn.execute(LOAD_SAMPLE) if pacing else None
        cursor = self.conn.execute(
            f"update {STATE_SCHEMA}.backfills set checkpoint = %s, "
            "rows_done = rows_done + %s, batches = batches + 1, batch_size = %s, "
            "rows_per_second = %s, throttle = %s, updated_at = now() "
            + (f"from ({LOAD_SAMPLE}) _ls_load " if pacing else "")
            + "where migration_id = %s and table_name = %s and column_name = %s"
            + (" returning _ls_load.*" if pacing else ""),
            (
                last,
                scanned,
                size,
                rate,
                self.pacer.reason,
                self.migration_id,
                self.spec.table,
                self.spec.column,
            ),
        )
        return cursor if pacing else None

    def _local_settings(self) -> list[tuple[str, str]]:
        local = [
            (BACKFILL_SETTING, "on"),
            ("lock_timeout", f"{int(self.settings.row_lock_timeout_ms)}ms"),
        ]
        if not self.settings.batch_synchronous_commit:
            # Safe: the batch's rows and its checkpoint commit in one transaction, and WAL is
            # durable in order, so a crash undoes only whole batches from the end, checkpoints
            # included, and the resumed run redoes them (docs/backfill.md).
            local.append(("synchronous_commit", "off"))
        if self.settings.statement_timeout_ms:
            local.append(("statement_timeout", f"{int(self.settings.statement_timeout_ms)}ms"))
        return local

    def _update(self, condition: str) -> str:
        return (
            f"update only {self._table} set {quote_ident(self.spec.column)} = "
            f"({self._expression}) where {condition} and ({self._where})"
        )

    def _keyset_batch(self, cursor: Cursor, size: int) -> Planned | None:
        """Find the batch's last key (an index-only scan past `size` keys), then UPDATE that key
        range directly, as fast per row as one big UPDATE. (Joining the batch's keys back to the
        table let the planner hash the whole table on every batch.)"""
        if cursor.dense_start is not None:
            return self._dense_batch(cursor, size)
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
                f"select {key_text} from only {self._table} where {in_range} "
                f"order by {', '.join(keys)} offset %s limit 1"
            ).encode(),
            [*after, *cursor.upper_bound, size - 1],
        ).fetchone()
        if found is not None:
            scanned, last = size, list(found[0])
        else:  # the last, partial batch: it runs to the upper bound
            counted = self.conn.execute(
                f"select count(*) from only {self._table} where {in_range}".encode(),
                [*after, *cursor.upper_bound],
            ).fetchone()
            scanned, last = (int(counted[0]) if counted else 0), list(cursor.upper_bound)
            if scanned == 0:
                return None
        return Planned(self._update(f"{lower}{key_row} <= {typed}"), [*after, *last], last, scanned)

    def _dense_batch(self, cursor: Cursor, size: int) -> Planned | None:
        """The next `size` key values (not rows) of a dense integer key, as one UPDATE."""
        assert cursor.upper_bound is not None and cursor.dense_start is not None
        upper = int(cursor.upper_bound[0])
        start = int(cursor.checkpoint[0]) if cursor.checkpoint else cursor.dense_start
        if start >= upper:
            return None
        end = min(start + size, upper)
        key = quote_ident(cursor.key_columns[0])
        return Planned(self._update(f"{key} > %s and {key} <= %s"), [start, end], [str(end)], None)

    def _ctid_batch(self, cursor: Cursor, size: int) -> Planned | None:
        """No usable key: walk the heap in page ranges (a TID range scan)."""
        assert cursor.upper_bound is not None
        last_page = int(cursor.upper_bound[0])
        first = int(cursor.checkpoint[0]) + 1 if cursor.checkpoint else 0
        if first > last_page:
            return None
        if self._rows_per_page is None:  # asked once: a round trip per batch is what it costs
            row = self.conn.execute(
                "select greatest(reltuples, 0) / greatest(relpages, 1) from pg_class "
                "where oid = %s::regclass",
                (self._table,),
            ).fetchone()
            self._rows_per_page = max(float(row[0]) if row else 1.0, 1.0)
        rows_per_page = self._rows_per_page
        pages = max(1, int(size / rows_per_page))
        end = min(first + pages - 1, last_page)
        return Planned(
            self._update("ctid >= %s::tid and ctid < %s::tid"),
            [f"({first},0)", f"({end + 1},0)"],
            [str(end)],
            None,
            int((end - first + 1) * rows_per_page),
        )
