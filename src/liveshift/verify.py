"""Proof that a backfill did its job: no row still waits for a value its expression would give."""

from __future__ import annotations

from typing import Any

import psycopg

from liveshift.plan import Backfill
from liveshift.schema import quote_ident

SAMPLE = 5


def verify_backfill(
    conn: psycopg.Connection[Any], backfill: Backfill, *, recompute: bool
) -> list[str]:
    """Problems found (empty when all is well). Always: rows that still match the backfill's
    `where` although the expression gives them a value. With `recompute`: rows whose value differs
    from the expression (rows that new clients wrote since start differ by design: use it before
    new clients write)."""
    table = f"{quote_ident(backfill.schema)}.{quote_ident(backfill.table)}"
    column = quote_ident(backfill.column)
    key = ", ".join(quote_ident(k) for k in backfill.key) if backfill.key else "ctid"
    condition = f"({backfill.where}) and ({backfill.expression}) is not null"
    if recompute:
        condition = f"{column} is distinct from ({backfill.expression})"
    with conn.transaction():
        conn.execute("set local statement_timeout = 0")
        row = conn.execute(
            f"select count(*), (array_agg(({key})::text order by {key}))[1:{SAMPLE}] "
            f"from only {table} where {condition}"
        ).fetchone()
    assert row is not None
    count, sample = int(row[0]), row[1] or []
    if count == 0:
        return []
    what = "differ from the expression" if recompute else "were not filled"
    return [f"{count:,} rows of {backfill.table} {what}; first keys: {', '.join(sample)}"]
