"""Backfill benchmark: one big UPDATE against liveshift's batched backfill, with and without an
application running, and what the sync trigger costs the application's writes.

    .venv/bin/python bench/backfill.py [--database-url URL] [--rows 1000000]

Every scenario runs on its own copy (CREATE DATABASE ... TEMPLATE) of one loaded table, so no
scenario inherits another's dead tuples.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import conninfo, sql

from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.progress import BackfillProgress, Reporter
from liveshift.settings import Settings

UP = "v * 2 + length(payload)"
MIGRATION = {
    "operations": [
        {"add_column": {"table": "bench", "column": {"name": "w", "type": "bigint"}, "up": UP}}
    ]
}


def with_db(url: str, dbname: str) -> str:
    params = conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return conninfo.make_conninfo(**params)


@dataclass
class AppStats:
    """What the application saw: per-operation latencies (ms) and operations done."""

    latencies_ms: list[float] = field(default_factory=list)
    ops: int = 0
    seconds: float = 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0


class Application:
    """An old-version client: single-row updates and inserts by key, in its own connection.
    `rate` ops/s (paced, for latency) or as fast as it can (None, for throughput)."""

    def __init__(self, url: str, rows: int, rate: float | None, seed: int = 1) -> None:
        self.url, self.rows, self.rate = url, rows, rate
        self.stats = AppStats()
        self.stop = threading.Event()
        self.random = random.Random(seed)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="bench-app") as conn:
            next_id = self.rows + 1 + self.random.randrange(10**9)
            started = time.monotonic()
            due = started
            while not self.stop.is_set():
                if self.rate:
                    due += 1.0 / self.rate
                    pause = due - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                t0 = time.monotonic()
                if self.stats.ops % 2 == 0:
                    conn.execute(
                        "update bench set payload = %s where id = %s",
                        (f"u{t0}", self.random.randint(1, self.rows)),
                    )
                else:
                    next_id += 1
                    conn.execute(
                        "insert into bench (id, v, payload) values (%s, %s, %s)",
                        (next_id, next_id % 1000, "new row"),
                    )
                self.stats.latencies_ms.append((time.monotonic() - t0) * 1000)
                self.stats.ops += 1
            self.stats.seconds = time.monotonic() - started

    @contextmanager
    def running(self) -> Iterator[AppStats]:
        self.thread.start()
        try:
            yield self.stats
        finally:
            self.stop.set()
            self.thread.join()


class Capture(Reporter):
    def __init__(self) -> None:
        self.final: BackfillProgress | None = None

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if final:
            self.final = progress


class Bench:
    def __init__(self, admin_url: str, rows: int, app_rate: float, seconds: float) -> None:
        self.admin_url, self.rows, self.app_rate, self.seconds = admin_url, rows, app_rate, seconds
        self.template = f"ls_bench_tpl_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []
        self.trigger_us_per_row = 0.0

    def admin(self, statement: sql.Composable | str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    def load(self) -> None:
        self.admin(sql.SQL("create database {}").format(sql.Identifier(self.template)))
        self.created.append(self.template)
        t0 = time.monotonic()
        with psycopg.connect(with_db(self.admin_url, self.template), autocommit=True) as conn:
            conn.execute("create table bench (id bigint primary key, v int not null, payload text)")
            conn.execute(
                "insert into bench select i, i % 1000, md5(i::text) "
                f"from generate_series(1, {self.rows}) i"
            )
            conn.execute("vacuum (analyze, freeze) bench")
        print(f"loaded {self.rows:,} rows in {time.monotonic() - t0:.1f}s", flush=True)

    @contextmanager
    def copy(self) -> Iterator[str]:
        name = f"ls_bench_{uuid.uuid4().hex[:8]}"
        self.admin(
            sql.SQL("create database {} template {} strategy file_copy").format(
                sql.Identifier(name), sql.Identifier(self.template)
            )
        )
        self.created.append(name)
        url = with_db(self.admin_url, name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("checkpoint")  # no scenario pays for the copy's dirty pages
        try:
            yield url
        finally:
            self.admin(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
            self.created.remove(name)

    def cleanup(self) -> None:
        for name in list(self.created):
            self.admin(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )

    # -- scenarios -------------------------------------------------------------------------------

    def idle_app(self) -> AppStats:
        with self.copy() as url:
            app = Application(url, self.rows, self.app_rate)
            with app.running() as stats:
                time.sleep(self.seconds)
            return stats

    def single_update(self, with_app: bool) -> tuple[float, AppStats | None]:
        with self.copy() as url, psycopg.connect(url, autocommit=True) as conn:
            conn.execute("alter table bench add column w bigint")
            app = Application(url, self.rows, self.app_rate) if with_app else None
            with app.running() if app else nullcontext_stats() as stats:
                t0 = time.monotonic()
                conn.execute(f"update bench set w = {UP}")
                elapsed = time.monotonic() - t0
            return self.rows / elapsed, stats

    def liveshift(self, with_app: bool, settings: Settings) -> tuple[float, AppStats | None, Any]:
        with self.copy() as url:
            capture = Capture()
            migrator = Migrator(url, settings=settings, reporter=capture)
            migration = Migration.from_dict(MIGRATION, name="bench_add_w")
            app = Application(url, self.rows, self.app_rate) if with_app else None
            with app.running() if app else nullcontext_stats() as stats:
                migrator.start(migration)
            assert capture.final is not None
            final = capture.final
            return final.rows_done / final.elapsed_s, stats, final

    def trigger_cost(self) -> tuple[float, float]:
        """Saturated application writes with the sync trigger installed, and without it (the
        column present in both), interleaved twice to cancel drift."""
        with self.copy() as url:
            migrator = Migrator(url, settings=Settings(), reporter=Reporter())
            migrator.start(Migration.from_dict(MIGRATION, name="bench_add_w"))
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("vacuum bench")
                trigger, function = conn.execute(
                    "select tgname, tgfoid::regprocedure::text from pg_trigger "
                    "where tgrelid = 'bench'::regclass and not tgisinternal"
                ).fetchone()  # type: ignore[misc]
                on = (
                    "create trigger {t} before insert or update on bench for each row when "
                    "(current_setting('liveshift.backfill', true) is distinct from 'on') "
                    "execute function {f}"
                )
                with_trigger: list[float] = []
                without: list[float] = []
                seconds = 1.0
                for round_ in range(6):  # alternate, so machine noise hits both alike
                    for installed in (True, False):
                        conn.execute(f'drop trigger if exists "{trigger}" on bench')
                        if installed:
                            conn.execute(on.format(t=f'"{trigger}"', f=function))
                        app = Application(url, self.rows, None, seed=round_ * 2 + installed)
                        with app.running() as stats:
                            time.sleep(seconds)
                        (with_trigger if installed else without).append(stats.ops_per_s)
                # The trigger's own CPU per row, without client round trips: one big INSERT.
                per_row = []
                for installed in (False, True):
                    conn.execute(f'drop trigger if exists "{trigger}" on bench')
                    if installed:
                        conn.execute(on.format(t=f'"{trigger}"', f=function))
                    t0 = time.monotonic()
                    conn.execute(
                        "insert into bench (id, v, payload) select 5000000000 + i, i, 'x' "
                        "from generate_series(1, 200000) i"
                    )
                    per_row.append((time.monotonic() - t0) / 200_000 * 1e6)
                    conn.execute("delete from bench where id > 5000000000")
                self.trigger_us_per_row = per_row[1] - per_row[0]
            return statistics.median(without), statistics.median(with_trigger)


@contextmanager
def nullcontext_stats() -> Iterator[None]:
    yield None


def line(label: str, rate: float, stats: AppStats | None) -> str:
    app = ""
    if stats is not None:
        app = f"   app p50 {stats.pct(0.5):7.2f} ms  p99 {stats.pct(0.99):8.2f} ms  ({stats.ops:,} ops)"
    return f"  {label:<34} {rate:>12,.0f} rows/s{app}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--app-rate", type=float, default=400.0, help="paced app ops/s")
    parser.add_argument("--seconds", type=float, default=6.0, help="idle/throughput windows")
    parser.add_argument("--batch-target", type=int, default=200, help="ms")
    args = parser.parse_args(argv)

    bench = Bench(args.database_url, args.rows, args.app_rate, args.seconds)
    settings = Settings(batch_target_ms=args.batch_target, max_replication_lag_s=0)
    run: Callable[..., Any]
    try:
        bench.load()
        idle = bench.idle_app()
        print(
            f"application alone: p50 {idle.pct(0.5):.2f} ms, p99 {idle.pct(0.99):.2f} ms",
            flush=True,
        )
        update_rate, _ = bench.single_update(False)
        print(line("(a) single UPDATE", update_rate, None), flush=True)
        update_load_rate, update_load = bench.single_update(True)
        print(line("(a) single UPDATE + app", update_load_rate, update_load), flush=True)
        run = bench.liveshift
        ls_rate, _, final = run(False, settings)
        print(
            line("(b) liveshift backfill", ls_rate, None)
            + f"   {final.batches} batches, last size {final.batch_size:,}",
            flush=True,
        )
        ls_load_rate, ls_load, final_load = run(True, settings)
        print(
            line("(b) liveshift backfill + app", ls_load_rate, ls_load)
            + f"   {final_load.batches} batches",
            flush=True,
        )
        without, with_trigger = bench.trigger_cost()
        print(
            f"  (c) app writes/s without trigger {without:,.0f}, with trigger {with_trigger:,.0f}"
            f" (medians of 6 alternating 1 s runs); trigger CPU {bench.trigger_us_per_row:.2f}"
            " us/row in a bulk INSERT"
        )
        assert ls_load is not None and update_load is not None
        print("\nratios (targets):")
        print(
            f"  liveshift / single UPDATE rows/s         {ls_rate / update_rate:5.2f}x   (>= 0.80)"
        )
        print(
            f"  app p99 during backfill / idle p99        {ls_load.pct(0.99) / idle.pct(0.99):5.2f}x   (<= 2.00)"
        )
        print(
            f"  app p99 during single UPDATE / idle p99   {update_load.pct(0.99) / idle.pct(0.99):5.2f}x"
        )
        print(
            f"  trigger cost on app write throughput      {100 * (1 - with_trigger / without):5.1f}%   (<= 20%)"
        )
    finally:
        bench.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
