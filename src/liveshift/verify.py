"""Proof that a backfill did its job, checked in short keyset batches (never one long scan)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from liveshift.engines.base import Connection
from liveshift.plan import Backfill
from liveshift.schema import quote_ident

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
) -> list[str]:
    """Problems found (empty when all is well). Always: rows that still match the backfill's
    `where` although the expression gives them a value (a row the backfill missed). With
    `recompute`: rows whose value differs from the expression, which holds until new-version
    clients write the column (liveshift runs it right after the backfill, before they can)."""
    result = scan(conn, backfill, recompute=recompute, batch_rows=batch_rows, stop=stop)
    if result.bad_rows == 0:
        return []
    what = "differ from the `up` expression" if recompute else "were not filled by the backfill"
    return [
        f"{result.bad_rows:,} of {result.rows_checked:,} rows of {backfill.table} {what}; "
        f"first keys: {', '.join(result.sample)}"
    ]


def _condition(backfill: Backfill, recompute: bool) -> str:
    column = quote_ident(backfill.column)
    if recompute:
        return f"{column} is distinct from ({backfill.expression})"
    return f"({backfill.where}) and ({backfill.expression}) is not null"


def scan(
    conn: Connection,
    backfill: Backfill,
    *,
    recompute: bool,
    batch_rows: int = BATCH_ROWS,
    stop: threading.Event | None = None,
) -> VerifyResult:
    """Check every row in batches: by key when the table has one, else by heap page ranges."""
    table = f"{quote_ident(backfill.schema)}.{quote_ident(backfill.table)}"
    bad = _condition(backfill, recompute).replace("%", "%%")
    result = VerifyResult()
    if backfill.key:
        _scan_keyset(conn, table, list(backfill.key), bad, batch_rows, result, stop)
    else:
        _scan_pages(conn, table, bad, batch_rows, result, stop)
    return result


def _key_types(conn: Connection, table: str, key: list[str]) -> list[str]:
    rows = conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        "where a.attrelid = %s::regclass and a.attname = any(%s)",
        (table, key),
    ).fetchall()
    types = dict(rows)
    return [types[k] for k in key]


def _scan_keyset(
    conn: Connection,
    table: str,
    key: list[str],
    bad: str,
    batch_rows: int,
    result: VerifyResult,
    stop: threading.Event | None,
) -> None:
    types = _key_types(conn, table, key)
    keys = ", ".join(quote_ident(k) for k in key)
    aliases = [f"_ls_k{i}" for i in range(len(key))]
    selected = ", ".join(f"{quote_ident(k)} as {a}" for k, a in zip(key, aliases, strict=True))
    key_text = "array[" + ", ".join(f"{a}::text" for a in aliases) + "]"
    last_desc = ", ".join(f"{a} desc" for a in aliases)
    after = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    checkpoint: list[str] | None = None
    while stop is None or not stop.is_set():
        where = f"where ({keys}) > {after}" if checkpoint is not None else ""
        query = (
            f"with _ls_batch as materialized (select {selected}, ({bad}) as _ls_bad "
            f"from only {table} {where} order by {keys} limit %s) "
            "select count(*), count(*) filter (where _ls_bad), "
            f"(array_agg(array_to_string({key_text}, ',')) filter (where _ls_bad))[1:{SAMPLE}], "
            f"(select {key_text} from _ls_batch order by {last_desc} limit 1) from _ls_batch"
        )
        params: list[Any] = [*(checkpoint or []), batch_rows]
        row = conn.execute(query.encode(), params).fetchone()
        assert row is not None
        count, bad_count, sample, last = int(row[0]), int(row[1]), row[2] or [], row[3]
        if count == 0 or last is None:
            return
        _add(result, count, bad_count, sample)
        checkpoint = list(last)
        if count < batch_rows:
            return


def _scan_pages(
    conn: Connection,
    table: str,
    bad: str,
    batch_rows: int,
    result: VerifyResult,
    stop: threading.Event | None,
) -> None:
    row = conn.execute(
        "select pg_relation_size(%s::regclass) / current_setting('block_size')::int, "
        "reltuples / greatest(relpages, 1) from pg_class where oid = %s::regclass",
        (table, table),
    ).fetchone()
    pages = int(row[0]) if row else 0
    per_page = float(row[1]) if row and row[1] and row[1] > 0 else 0.0
    step = max(1, int(batch_rows / per_page)) if per_page else BATCH_PAGES
    for first in range(0, pages, step):
        if stop is not None and stop.is_set():
            return
        row = conn.execute(
            f"select count(*), count(*) filter (where {bad}), "
            f"(array_agg(ctid::text) filter (where {bad}))[1:{SAMPLE}] from only {table} "
            "where ctid >= %s::tid and ctid < %s::tid",
            (f"({first},0)", f"({first + step},0)"),
        ).fetchone()
        assert row is not None
        _add(result, int(row[0]), int(row[1]), row[2] or [])


def _add(result: VerifyResult, count: int, bad_count: int, sample: list[str]) -> None:
    result.rows_checked += count
    result.bad_rows += bad_count
    result.batches += 1
    result.sample.extend(sample[: SAMPLE - len(result.sample)])
