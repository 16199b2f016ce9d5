"""alter_column's backfill against the physical limit: on fresh copies of one 1,000,000-row table,
in rotation, rows/s of

- one `UPDATE bench SET _ls_new_v = v` into a new bigint column (the physical limit),
- the same `UPDATE` with a BEFORE UPDATE trigger on the table that does nothing for its rows (the
  row lock PostgreSQL takes for any such trigger, bench/trigger_cost.py),
- liveshift's backfill of `alter_column bench.v type bigint` (a rewriting type change, so it goes
  through a new column) at its defaults, and with `--workers 2`.

    .venv/bin/python bench/alter_column.py [--database-url URL] [--rows 1000000] [--rounds 3]

To compare two versions of liveshift, run each tree's liveshift with this script, e.g.
`PYTHONPATH=<other tree>/src .venv/bin/python bench/alter_column.py`; every run measures its own
baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import psycopg

from backfill import Capture, in_rotation, on_server, rotation_arguments  # bench/backfill.py
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.settings import Settings

MIGRATION = {"operations": [{"alter_column": {"table": "bench", "column": "v", "type": "bigint"}}]}
NEW = "_ls_new_v"
IDLE_TRIGGER = f"""
create function idle() returns trigger language plpgsql as $$ begin return new; end $$;
create trigger idle before update on bench for each row
  when (old.{NEW} is not distinct from new.{NEW}) execute function idle()
"""


def single(url: str, rows: int, trigger: bool) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"alter table bench add column {NEW} bigint")
        if trigger:
            conn.execute(IDLE_TRIGGER)
        began = time.monotonic()
        conn.execute(f"update bench set {NEW} = v")
        return rows / (time.monotonic() - began)


def liveshift(url: str, workers: int) -> float:
    capture = Capture()
    settings = Settings(max_replication_lag_s=0, workers=workers)
    Migrator(url, settings=settings, reporter=capture).start(
        Migration.from_dict(MIGRATION, name="bench_alter_v")
    )
    assert capture.final is not None
    return capture.final.rows_done / capture.final.elapsed_s


def main(argv: list[str] | None = None) -> int:
    return on_server(rotation_arguments(__doc__, 1_000_000).parse_args(argv), run)


def run(args: argparse.Namespace, admin: str) -> int:
    rows = args.rows
    variants: dict[str, Callable[[str], float]] = {
        "one UPDATE (the physical limit)": lambda url: single(url, rows, trigger=False),
        "one UPDATE, an idle BEFORE UPDATE trigger": lambda url: single(url, rows, trigger=True),
        "liveshift alter_column, defaults": lambda url: liveshift(url, 1),
        "liveshift alter_column, --workers 2": lambda url: liveshift(url, 2),
    }
    return in_rotation(admin, rows, args.rounds, variants)


if __name__ == "__main__":
    sys.exit(main())
