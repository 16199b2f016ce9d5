"""What a foreign key costs a backfill: on fresh copies of one table (default 300,000 rows), in
rotation, rows/s of one `UPDATE` filling a new column (no foreign key: the physical limit) and of
liveshift's backfill of `add_column k int references kinds (id)`, `up: v`.

    .venv/bin/python bench/references.py [--database-url URL] [--rows 300000] [--rounds 3]

liveshift adds the foreign key NOT VALID after the backfill (complete validates it once); a tree
that adds it before makes every backfilled row pay the check, a lookup and a row lock in `kinds`.
Compare two trees with `PYTHONPATH=<other tree>/src .venv/bin/python bench/references.py`.
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

COLUMN = {"name": "k", "type": "int", "references": {"table": "kinds", "column": "id"}}
MIGRATION = {"operations": [{"add_column": {"table": "bench", "column": COLUMN, "up": "v"}}]}


def kinds(url: str) -> None:
    """The referenced table: every value of `bench.v` (0-999)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table kinds (id int primary key)")
        conn.execute("insert into kinds select generate_series(0, 999)")


def single(url: str, rows: int) -> float:
    kinds(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("alter table bench add column _ls_new_k int")
        began = time.monotonic()
        conn.execute("update bench set _ls_new_k = v")
        return rows / (time.monotonic() - began)


def liveshift(url: str) -> float:
    kinds(url)
    capture = Capture()
    Migrator(url, settings=Settings(max_replication_lag_s=0), reporter=capture).start(
        Migration.from_dict(MIGRATION, name="bench_references")
    )
    assert capture.final is not None
    return capture.final.rows_done / capture.final.elapsed_s


def main(argv: list[str] | None = None) -> int:
    return on_server(rotation_arguments(__doc__, 300_000).parse_args(argv), run)


def run(args: argparse.Namespace, admin: str) -> int:
    variants: dict[str, Callable[[str], float]] = {
        "one UPDATE, no foreign key (the physical limit)": lambda url: single(url, args.rows),
        "liveshift add_column ... references, defaults": liveshift,
    }
    return in_rotation(admin, args.rows, args.rounds, variants)


if __name__ == "__main__":
    sys.exit(main())
