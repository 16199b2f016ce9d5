"""The catch-up after a backfill that ran with a change log: recompute the rows old clients
updated while it ran, found by the keys the log holds, in short batches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from liveshift.errors import Interrupted
from liveshift.executor import backoff_s
from liveshift.plan import CatchUp
from liveshift.schema import quote_ident
from liveshift.settings import Settings
from liveshift.triggers import BACKFILL_SETTING, LOG_ORDER

BATCH_KEYS = 1_000
REPORT_EVERY_S = 5.0


def catch_up_sql(catch_up: CatchUp, after: int, limit: int) -> str:
    """One batch: take the next `limit` keys after position `after` off the log and recompute
    their rows, in one statement (so in one transaction: a key leaves the log only with its row
    fixed). Returns (keys taken, rows updated, last position taken). A key logged several times
    is updated once; a key whose row has since been deleted updates nothing."""
    target = catch_up.target
    assert target.key is not None
    key = ", ".join(quote_ident(k) for k in target.key)
    table = f"{quote_ident(target.schema)}.{quote_ident(target.table)}"
    return (
        "with batch as (\n"
        f"  delete from {catch_up.log} where {LOG_ORDER} in (\n"
        f"    select {LOG_ORDER} from {catch_up.log} where {LOG_ORDER} > {int(after)}\n"
        f"    order by {LOG_ORDER} limit {int(limit)})\n"
        f"  returning {LOG_ORDER}, {key}\n"
        "), fixed as (\n"
        f"  update only {table} set {quote_ident(target.column)} = ({target.expression})\n"
        f"  where ({key}) in (select {key} from batch)\n"
        "  returning 1\n"
        ")\n"
        "select (select count(*) from batch), (select count(*) from fixed), "
        f"(select coalesce(max({LOG_ORDER}), {int(after)}) from batch)"
    )


def run_catch_up(
    conn: psycopg.Connection[Any],
    catch_up: CatchUp,
    settings: Settings,
    stop: threading.Event,
    batch_keys: int = BATCH_KEYS,
    say: Callable[[str], None] | None = None,
) -> int:
    """Run batches until the log is empty; returns the rows recomputed. A batch that waits longer
    than the batch row-lock timeout for a row an application transaction holds rolls back and is
    retried after a short backoff, as backfill batches are, for up to --lock-retry-deadline. `say` hears how many updates the log
    holds at the start (nothing adds to it any more) and, every few seconds, how far it got."""
    row = conn.execute(f"select count(*) from {catch_up.log}").fetchone()
    logged = int(row[0]) if row else 0
    table = f"{catch_up.target.table}.{catch_up.target.column}"
    if say is not None:
        say(f"{table}: {logged:,} updates by old clients during the backfill to recompute")
    rows = taken_total = 0
    after = 0
    waits = 0
    deadline = 0.0  # of the current run of lock waits
    next_report = time.monotonic() + REPORT_EVERY_S
    while True:
        if stop.is_set():
            raise Interrupted(
                f"stopped while recomputing rows of {catch_up.target.table} that old clients "
                f"updated during the backfill ({rows:,} done); each batch done is kept",
                hint="Run the same command again to finish it, or `liveshift rollback`.",
            )
        try:
            with conn.transaction():
                conn.execute(
                    "select set_config(%s, 'on', true), set_config('lock_timeout', %s, true)",
                    (BACKFILL_SETTING, f"{int(settings.row_lock_timeout_ms)}ms"),
                )
                sql = catch_up_sql(catch_up, after, batch_keys)
                taken, fixed, last = conn.execute(sql).fetchone() or (0, 0, after)
        except (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected):
            waits += 1
            if waits == 1:
                deadline = time.monotonic() + settings.lock_retry_deadline_s
            elif time.monotonic() > deadline:
                raise
            time.sleep(backoff_s(waits, 0.05, 2.0))
            continue
        if not taken:
            return rows
        waits = 0
        rows, after, taken_total = rows + int(fixed), int(last), taken_total + int(taken)
        if say is not None and time.monotonic() >= next_report:
            next_report = time.monotonic() + REPORT_EVERY_S
            say(f"{table}: {taken_total:,} of {logged:,} logged updates recomputed")
