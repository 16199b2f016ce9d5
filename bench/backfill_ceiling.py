"""How close the backfill comes to what any batched backfill can reach: on fresh copies of one
1,000,000-row table, in rotation, rows/s of

- one `UPDATE bench SET w = expr` (the physical limit),
- a hand-written loop of fixed key-range batches (one transaction each, pipelined, no checkpoint),
- the same loop with the triggers add_column keeps on the table while its backfill runs (INSERT,
  and the change log's AFTER UPDATE), and with the BEFORE UPDATE trigger that replaces the log,
- liveshift's backfill with the same fixed batch size, with its defaults, and with two lanes
  (`--workers 2`: two slices of the key range at once, each on its own connection).

    .venv/bin/python bench/backfill_ceiling.py [--database-url URL] [--rows 1000000]
                                               [--rounds 3] [--batch 5000]

The gap between the first two is the batching; between the second and third, the triggers
liveshift keeps on the table while it backfills; the fourth shows what a BEFORE UPDATE trigger
would cost instead (the row lock PostgreSQL takes for it, bench/trigger_cost.py); between the
third and liveshift's own backfill, liveshift's work per batch (settings, checkpoint, progress).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import psycopg

from backfill import (
    MIGRATION,
    UP,
    Capture,
    in_rotation,
    on_server,
    rotation_arguments,
)  # bench/backfill.py
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.settings import Settings
from trigger_cost import database, liveshift_triggers  # bench/trigger_cost.py

TEMP = "_ls_new_w"


def single(url: str, rows: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"alter table bench add column {TEMP} bigint")
        began = time.monotonic()
        conn.execute(f"update bench set {TEMP} = {UP}")
        return rows / (time.monotonic() - began)


def loop(url: str, rows: int, batch: int, triggers: list[str]) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"alter table bench add column {TEMP} bigint")
        for statement in triggers:
            conn.execute(statement)
        conn.execute("set liveshift.backfill = on")
        update = (
            f"update only bench set {TEMP} = ({UP}) where id > %s and id <= %s and {TEMP} is null"
        )
        began = time.monotonic()
        for start in range(0, rows, batch):
            with conn.pipeline(), conn.transaction():
                conn.execute(update, (start, start + batch))
        return rows / (time.monotonic() - began)


def liveshift(url: str, batch: int | None, workers: int = 1) -> float:
    capture = Capture()
    settings = Settings(
        max_replication_lag_s=0, workers=workers, **({"batch_size": batch} if batch else {})
    )
    Migrator(url, settings=settings, reporter=capture).start(
        Migration.from_dict(MIGRATION, name="bench_add_w")
    )
    assert capture.final is not None
    return capture.final.rows_done / capture.final.elapsed_s


def main(argv: list[str] | None = None) -> int:
    parser = rotation_arguments(__doc__, 1_000_000)
    parser.add_argument("--batch", type=int, default=5000, help="rows per fixed batch")
    return on_server(parser.parse_args(argv), run)


def run(args: argparse.Namespace, admin: str) -> int:
    with database(admin, "ls_ceiling_capture") as url:
        _, function_sql, trigger_sql, during_backfill = liveshift_triggers(url)
    # The captured definitions name the column `_ls_new_w` of table `bench`, as here.
    before_update = [function_sql, *trigger_sql]
    rows, batch = args.rows, args.batch
    variants: dict[str, Callable[[str], float]] = {
        "one UPDATE (the physical limit)": lambda url: single(url, rows),
        f"hand-written {batch:,}-row batches, no trigger": lambda url: loop(url, rows, batch, []),
        f"hand-written {batch:,}-row batches, liveshift's triggers": lambda url: loop(
            url, rows, batch, [during_backfill]
        ),
        f"hand-written {batch:,}-row batches, a BEFORE UPDATE trigger": lambda url: loop(
            url, rows, batch, before_update
        ),
        f"liveshift, --batch-size {batch:,}": lambda url: liveshift(url, batch),
        "liveshift, defaults": lambda url: liveshift(url, None),
        "liveshift, --workers 2": lambda url: liveshift(url, None, 2),
    }
    return in_rotation(admin, rows, args.rounds, variants)


if __name__ == "__main__":
    sys.exit(main())
