"""Proof that a backfill did its job, checked in short keyset batches (never one long scan)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from liveshift.engines.backfill import BackfillSql, VerifyBatch, backfill_engine
from liveshift.engines.base import Connection
from liveshift.plan import Backfill

SAMPLE = 5
BATCH_ROWS = 20_000
BATCH_PAGES = 500


@dataclass
class VerifyResult:
    """What a verification pass saw: rows checked, rows found wrong and the first of their keys."""

    rows_checked: int = 0
    bad_rows: int = 0
    sample: list[str] = field(default_factory=list)
    batches: int = 0


def verify_backfill(
    conn: Connection,
    backfill: Backfill,
    *,
    recompute: bool,
    batch_rows: int = BATCH_ROWS,
    stop: threading.Event | None = None,
    sql: BackfillSql | None = None,
) -> list[str]:
    """Problems found (empty when all is well). Always: rows that still match the backfill's
    `where` although the expression gives them a value (a row the backfill missed). With
    `recompute`: rows whose value differs from the expression, which holds until new-version
    clients write the column (liveshift runs it right after the backfill, before they can)."""
    result = scan(conn, backfill, recompute=recompute, batch_rows=batch_rows, stop=stop, sql=sql)
    if result.bad_rows == 0:
        return []
    what = "differ from the `up` expression" if recompute else "were not filled by the backfill"
    return [
        f"{result.bad_rows:,} of {result.rows_checked:,} rows of {backfill.table} {what}; "
        f"first keys: {', '.join(result.sample)}"
    ]


def scan(
    conn: Connection,
    backfill: Backfill,
    *,
    recompute: bool,
    batch_rows: int = BATCH_ROWS,
    stop: threading.Event | None = None,
    sql: BackfillSql | None = None,
) -> VerifyResult:
    """Check every row in batches: by key when the table has one, else by heap page ranges."""
    sql = sql or backfill_engine().backfill_sql()
    bad = sql.bad_condition(backfill, recompute)
    result = VerifyResult()
    if backfill.key:
        _scan_keyset(conn, sql, backfill, list(backfill.key), bad, batch_rows, result, stop)
    else:
        _scan_pages(conn, sql, backfill, bad, batch_rows, result, stop)
    return result


def _scan_keyset(
    conn: Connection,
    sql: BackfillSql,
    backfill: Backfill,
    key: list[str],
    bad: str,
    batch_rows: int,
    result: VerifyResult,
    stop: threading.Event | None,
) -> None:
    types = sql.key_types(conn, backfill, key)
    checkpoint: list[str] | None = None
    while stop is None or not stop.is_set():
        batch = sql.verify_keyset(conn, backfill, key, types, bad, checkpoint, batch_rows, SAMPLE)
        if batch.count == 0 or batch.last is None:
            return
        _add(result, batch)
        checkpoint = batch.last
        if batch.count < batch_rows:
            return


def _scan_pages(
    conn: Connection,
    sql: BackfillSql,
    backfill: Backfill,
    bad: str,
    batch_rows: int,
    result: VerifyResult,
    stop: threading.Event | None,
) -> None:
    pages, per_page = sql.verify_pages_plan(conn, backfill)
    step = max(1, int(batch_rows / per_page)) if per_page else BATCH_PAGES
    for first in range(0, pages, step):
        if stop is not None and stop.is_set():
            return
        _add(result, sql.verify_pages(conn, backfill, bad, first, first + step, SAMPLE))


def _add(result: VerifyResult, batch: VerifyBatch) -> None:
    result.rows_checked += batch.count
    result.bad_rows += batch.bad
    result.batches += 1
    result.sample.extend(batch.sample[: SAMPLE - len(result.sample)])
