"""PostgreSQL's backfill statements: keyset, key-range and heap-page (ctid) batches, the
TABLESAMPLE boundaries of slices, the batch's SET LOCALs, and verification by batches."""

from __future__ import annotations

import contextlib
from typing import Any

from liveshift.engines.backfill import BatchSettings, Planned, VerifyBatch
from liveshift.engines.base import Connection, DriverError
from liveshift.engines.postgres.connection import set_local
from liveshift.plan import Backfill
from liveshift.schema import quote_ident
from liveshift.triggers import BACKFILL_SETTING, REPLICA_ROLE


def table_of(spec: Backfill) -> str:
    return f"{quote_ident(spec.schema)}.{quote_ident(spec.table)}"


def update(spec: Backfill, condition: str) -> str:
    """The batch UPDATE of the rows meeting `condition` (which carries %s parameters: a literal %
    in user SQL is doubled)."""
    expression = spec.expression.replace("%", "%%")
    where = spec.where.replace("%", "%%")
    return (
        f"update only {table_of(spec)} set {quote_ident(spec.column)} = "
        f"({expression}) where {condition} and ({where})"
    )


class PgBackfillSql:
    """The BackfillSql of PostgreSQL (engines/backfill.py)."""

    page_key: tuple[list[str], list[str]] = (["ctid"], ["tid"])

    def watch_client(self, conn: Connection) -> None:
        for setting, value in (
            ("client_connection_check_interval", "1000"),  # PostgreSQL 14+
            ("tcp_keepalives_idle", "10"),
            ("tcp_keepalives_interval", "5"),
            ("tcp_keepalives_count", "3"),
        ):
            # An older server may not know a setting: none is needed for correctness.
            with contextlib.suppress(DriverError):
                conn.execute(f"set {setting} = {value}")

    def key_types(self, conn: Connection, spec: Backfill, key: list[str]) -> list[str]:
        rows = conn.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
            "where a.attrelid = %s::regclass and a.attname = any(%s)",
            (table_of(spec), list(key)),
        ).fetchall()
        types = dict(rows)
        return [types[k] for k in key]

    def estimate_rows(self, conn: Connection, spec: Backfill) -> int:
        table = table_of(spec)
        row = conn.execute(
            "select reltuples::bigint from pg_class where oid = %s::regclass", (table,)
        ).fetchone()
        estimate = int(row[0]) if row else -1
        if estimate > 0:
            return estimate
        counted = conn.execute(f"select count(*) from only {table}").fetchone()
        return int(counted[0]) if counted else 0

    def upper_bound(self, conn: Connection, spec: Backfill, key: list[str]) -> list[str] | None:
        table = table_of(spec)
        if key == self.page_key[0]:
            row = conn.execute(
                "select (pg_relation_size(%s::regclass) / current_setting('block_size')::int)::text",
                (table,),
            ).fetchone()
            pages = int(row[0]) if row else 0
            return [str(pages)] if pages > 0 else None
        desc = ", ".join(f"{quote_ident(k)} desc" for k in key)
        texts = ", ".join(f"{quote_ident(k)}::text" for k in key)
        row = conn.execute(
            f"select array[{texts}] from only {table} order by {desc} limit 1"
        ).fetchone()
        return list(row[0]) if row else None

    def min_key(self, conn: Connection, spec: Backfill, key: str) -> int | None:
        row = conn.execute(f"select min({quote_ident(key)}) from only {table_of(spec)}").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def key_boundaries(
        self, conn: Connection, spec: Backfill, key: list[str], count: int, sample_pages: int
    ) -> list[list[str]]:
        # TABLESAMPLE SYSTEM samples pages (a table of fewer pages is read whole); the server
        # sorts the sample and returns only the boundaries.
        table = table_of(spec)
        keys = ", ".join(quote_ident(k) for k in key)
        key_text = "array[" + ", ".join(f"{quote_ident(k)}::text" for k in key) + "]"
        row = conn.execute(
            "select pg_relation_size(%s::regclass) / current_setting('block_size')::int",
            (table,),
        ).fetchone()
        percent = 100.0 * sample_pages / max(int(row[0]) if row else 1, 1)
        sample = "" if percent >= 100.0 else f" tablesample system ({percent:.6f})"
        # Row n of c closes run j when n * count / c reaches j (integer division).
        rows = conn.execute(
            f"select key from (select {key_text} as key, row_number() over w as n, "
            f"count(*) over () as c from only {table}{sample} "
            f"window w as (order by {keys})) s "
            "where n < c and n * %(count)s / c > (n - 1) * %(count)s / c order by n",
            {"count": count},
        ).fetchall()
        return [list(k) for (k,) in rows]

    def rows_per_page(self, conn: Connection, spec: Backfill) -> float:
        row = conn.execute(
            "select greatest(reltuples, 0) / greatest(relpages, 1) from pg_class "
            "where oid = %s::regclass",
            (table_of(spec),),
        ).fetchone()
        return max(float(row[0]) if row else 1.0, 1.0)

    def begin_batch(self, conn: Connection, settings: BatchSettings) -> None:
        local = [
            (BACKFILL_SETTING, "on"),
            ("lock_timeout", f"{int(settings.row_lock_timeout_ms)}ms"),
        ]
        if settings.skip_triggers:
            local.append(REPLICA_ROLE)
        if not settings.synchronous_commit:
            # Safe: the batch's rows and its checkpoint commit in one transaction, and WAL is
            # durable in order, so a crash undoes only whole batches from the end, checkpoints
            # included, and the resumed run redoes them (docs/backfill.md).
            local.append(("synchronous_commit", "off"))
        if settings.statement_timeout_ms:
            local.append(("statement_timeout", f"{int(settings.statement_timeout_ms)}ms"))
        set_local(conn, local)

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
        # Find the batch's last key (an index-only scan past `size` keys), then UPDATE that key
        # range directly, as fast per row as one big UPDATE. (Joining the batch's keys back to
        # the table let the planner hash the whole table on every batch.)
        table = table_of(spec)
        keys = [quote_ident(k) for k in key]
        key_row = "(" + ", ".join(keys) + ")"
        typed = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
        past: list[Any] = []
        lower = ""
        if after is not None:
            lower = f"{key_row} > {typed} and "
            past = list(after)
        key_text = "array[" + ", ".join(f"{k}::text" for k in keys) + "]"
        in_range = f"{lower}{key_row} <= {typed}"
        found = conn.execute(
            (
                f"select {key_text} from only {table} where {in_range} "
                f"order by {', '.join(keys)} offset %s limit 1"
            ).encode(),
            [*past, *upper, size - 1],
        ).fetchone()
        if found is not None:
            scanned, last = size, list(found[0])
        else:  # the last, partial batch: it runs to the upper bound
            counted = conn.execute(
                f"select count(*) from only {table} where {in_range}".encode(),
                [*past, *upper],
            ).fetchone()
            scanned, last = (int(counted[0]) if counted else 0), list(upper)
            if scanned == 0:
                return None
        return Planned(update(spec, in_range), [*past, *last], last, scanned)

    def range_batch(self, spec: Backfill, key: str, start: int, end: int) -> Planned:
        column = quote_ident(key)
        return Planned(
            update(spec, f"{column} > %s and {column} <= %s"), [start, end], [str(end)], None
        )

    def page_batch(self, spec: Backfill, first: int, end: int, rows_per_page: float) -> Planned:
        return Planned(
            update(spec, "ctid >= %s::tid and ctid < %s::tid"),
            [f"({first},0)", f"({end + 1},0)"],
            [str(end)],
            None,
            int((end - first + 1) * rows_per_page),
        )

    def bad_condition(self, spec: Backfill, recompute: bool) -> str:
        column = quote_ident(spec.column)
        if recompute:
            condition = f"{column} is distinct from ({spec.expression})"
        else:
            condition = f"({spec.where}) and ({spec.expression}) is not null"
        return condition.replace("%", "%%")

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
    ) -> VerifyBatch:
        table = table_of(spec)
        keys = ", ".join(quote_ident(k) for k in key)
        aliases = [f"_ls_k{i}" for i in range(len(key))]
        selected = ", ".join(f"{quote_ident(k)} as {a}" for k, a in zip(key, aliases, strict=True))
        key_text = "array[" + ", ".join(f"{a}::text" for a in aliases) + "]"
        last_desc = ", ".join(f"{a} desc" for a in aliases)
        typed = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
        where = f"where ({keys}) > {typed}" if after is not None else ""
        query = (
            f"with _ls_batch as materialized (select {selected}, ({bad}) as _ls_bad "
            f"from only {table} {where} order by {keys} limit %s) "
            "select count(*), count(*) filter (where _ls_bad), "
            f"(array_agg(array_to_string({key_text}, ',')) filter (where _ls_bad))[1:{sample}], "
            f"(select {key_text} from _ls_batch order by {last_desc} limit 1) from _ls_batch"
        )
        params: list[Any] = [*(after or []), rows]
        row = conn.execute(query.encode(), params).fetchone()
        assert row is not None
        last = list(row[3]) if row[3] is not None else None
        return VerifyBatch(int(row[0]), int(row[1]), row[2] or [], last)

    def verify_pages_plan(self, conn: Connection, spec: Backfill) -> tuple[int, float]:
        table = table_of(spec)
        row = conn.execute(
            "select pg_relation_size(%s::regclass) / current_setting('block_size')::int, "
            "reltuples / greatest(relpages, 1) from pg_class where oid = %s::regclass",
            (table, table),
        ).fetchone()
        pages = int(row[0]) if row else 0
        per_page = float(row[1]) if row and row[1] and row[1] > 0 else 0.0
        return pages, per_page

    def verify_pages(
        self, conn: Connection, spec: Backfill, bad: str, first: int, end: int, sample: int
    ) -> VerifyBatch:
        row = conn.execute(
            f"select count(*), count(*) filter (where {bad}), "
            f"(array_agg(ctid::text) filter (where {bad}))[1:{sample}] from only {table_of(spec)} "
            "where ctid >= %s::tid and ctid < %s::tid",
            (f"({first},0)", f"({end},0)"),
        ).fetchone()
        assert row is not None
        return VerifyBatch(int(row[0]), int(row[1]), row[2] or [], None)
