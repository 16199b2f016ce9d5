"""The catch-up after a backfill that ran with a change log: recompute the rows old clients
updated while it ran, found by the keys the log holds, in short batches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from liveshift.engines.base import Connection, DeadlockDetected, LockNotAvailable
from liveshift.engines.postgres.connection import set_local
from liveshift.errors import Interrupted
from liveshift.plan import CatchUp
from liveshift.retry import backoff_s, with_retries
from liveshift.schema import quote_ident
from liveshift.settings import Settings
from liveshift.triggers import BACKFILL_SETTING, REPLICA_ROLE

BATCH_KEYS = 1_000
REPORT_EVERY_S = 5.0


def catch_up_sql(catch_up: CatchUp, after: str | None, limit: int) -> str:
    """One batch: take the next `limit` keys (in key order, after the key literal `after`) off
    the log and recompute their rows, in one statement (so in one transaction: a key leaves the
    log only with its row fixed). Returns (keys taken, rows updated, the last key taken as one
    value per key column). A key whose row has since been deleted updates nothing."""
    target = catch_up.target
    assert target.key is not None
    key = ", ".join(quote_ident(k) for k in target.key)
    table = f"{quote_ident(target.schema)}.{quote_ident(target.table)}"
    bound = f"where ({key}) > ({after}) " if after is not None else ""
    descending = ", ".join(f"{quote_ident(k)} desc" for k in target.key)
    return (
        "with batch as (\n"
        f"  delete from {catch_up.log} where ({key}) in (\n"
        f"    select {key} from {catch_up.log} {bound}order by {key} limit {int(limit)})\n"
        f"  returning {key}\n"
        "), fixed as (\n"
        f"  update only {table} set {quote_ident(target.column)} = ({target.expression})\n"
        f"  where ({key}) in (select {key} from batch)\n"
        "  returning 1\n"
        "), last as (\n"
        f"  select {key} from batch order by {descending} limit 1\n"
        ")\n"
        "select (select count(*) from batch), (select count(*) from fixed), last.*\n"
        "from (select 1) one left join last on true"
    )


def run_catch_up(
    conn: Connection,
    catch_up: CatchUp,
    settings: Settings,
    stop: threading.Event,
    batch_keys: int = BATCH_KEYS,
    say: Callable[[str], None] | None = None,
) -> int:
    """Run batches until the log is empty; returns the rows recomputed. A batch that waits longer
    than the batch row-lock timeout for a row an application transaction holds rolls back and is
    retried after a short backoff; a run of such waits longer than --lock-retry-deadline raises
    (the step is then resumable, like a DDL step that never got its lock). `say` hears how many
    updates the log holds at the start (nothing adds to it any more) and, every few seconds, how
    far it got."""
    row = conn.execute(f"select count(*) from {catch_up.log}").fetchone()
    logged = int(row[0]) if row else 0
    table = f"{catch_up.target.table}.{catch_up.target.column}"
    if say is not None:
        say(f"{table}: {logged:,} updates by old clients during the backfill to recompute")
    rows = taken_total = 0
    after: str | None = None  # the last key taken, as SQL literals
    local = [(BACKFILL_SETTING, "on"), ("lock_timeout", f"{int(settings.row_lock_timeout_ms)}ms")]
    if catch_up.target.skip_triggers:  # the table's own triggers: as for the backfill
        local.append(REPLICA_ROLE)
    next_report = time.monotonic() + REPORT_EVERY_S

    def batch(_retries: int, _timeout_ms: int) -> tuple[int, int, list[object]]:
        if stop.is_set():
            raise Interrupted(
                f"stopped while recomputing rows of {catch_up.target.table} that old clients "
                f"updated during the backfill ({rows:,} done); each batch done is kept",
                hint="Run the same command again to finish it, or `liveshift rollback`.",
            )
        with conn.transaction():
            set_local(conn, local)
            result = conn.execute(catch_up_sql(catch_up, after, batch_keys)).fetchone()
            assert result is not None
            taken, fixed, *last = result
        return int(taken), int(fixed), last

    while True:
        # A batch that waited too long for a row lock rolled back: try it again after a short
        # backoff, until a run of such waits passes --lock-retry-deadline.
        (taken, fixed, last), _ = with_retries(
            batch,
            deadline_s=settings.lock_retry_deadline_s,
            pause_s=lambda waits: backoff_s(waits, 0.05, 2.0),
            retry_on=(LockNotAvailable, DeadlockDetected),
        )
        if not taken:
            return rows
        rows, taken_total = rows + fixed, taken_total + taken
        after = ", ".join(conn.literal(value) for value in last)
        if say is not None and time.monotonic() >= next_report:
            next_report = time.monotonic() + REPORT_EVERY_S
            say(f"{table}: {taken_total:,} of {logged:,} logged updates recomputed")
