"""Backfill benchmark: one big UPDATE against liveshift's batched backfill, with and without an
application running, what the sync trigger costs the application's writes, and the trade-off
between backfill speed and the application's tail latency for several batch settings.

    .venv/bin/python bench/backfill.py [--database-url URL] [--rows 1000000] [--repeat 3]

Without --database-url it makes a private PostgreSQL (pgserver) for the run. Every backfill runs on its own copy (CREATE DATABASE ... TEMPLATE) of one loaded table, so no
run inherits another's dead tuples. The application's latency during a backfill is compared with
its idle latency measured on the same copy just before and just after the backfill (so a noisy
neighbour on a shared machine weighs on both alike), pooled over `--repeat` copies.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import conninfo, sql

from liveshift.engines.postgres import wal
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
IDLE_BEFORE_S = 3.0
IDLE_AFTER_S = 2.0
MARGIN_S = 0.3  # idle samples this close to the backfill are left out of both windows


def with_db(url: str, dbname: str) -> str:
    params = conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return conninfo.make_conninfo("", **params)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class AppStats:
    """What the application saw: (start time, latency ms) per operation, and operations done."""

    samples: list[tuple[float, float]] = field(default_factory=list)
    ops: int = 0
    seconds: float = 0.0

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0


class Application:
    """An old-version client: single-row updates (random existing rows) and inserts, one
    connection, autocommit. `rate` ops/s (paced, for latency) or as fast as it can (None).

    It runs in a process of its own, as an application would: in a thread of this process it
    would wait for the interpreter lock while the backfill's thread runs Python between batches,
    and charge that wait to the database."""

    def __init__(
        self, url: str, rows: int, rate: float | None, seed: int = 1, options: str = ""
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.results: multiprocessing.Queue[AppStats] = context.Queue()
        self.process = context.Process(
            target=_application,
            args=(url, rows, rate, seed, options, self.stop, self.results),
            daemon=True,
        )
        self.stats = AppStats()

    @contextmanager
    def running(self) -> Iterator[AppStats]:
        self.process.start()
        try:
            yield self.stats
        finally:
            self.stop.set()
            done = self.results.get(timeout=60)
            self.process.join()
            self.stats.samples, self.stats.ops, self.stats.seconds = (
                done.samples,
                done.ops,
                done.seconds,
            )


def _application(
    url: str,
    rows: int,
    rate: float | None,
    seed: int,
    options: str,
    stop: Any,
    results: multiprocessing.Queue[AppStats],
) -> None:
    stats = AppStats()
    rng = random.Random(seed)
    # `options`: server settings of the application's session, e.g. `-c synchronous_commit=off`.
    with psycopg.connect(
        url, autocommit=True, application_name="bench-app", options=options
    ) as conn:
        next_id = rows + 1 + rng.randrange(10**9)
        started = time.monotonic()  # CLOCK_MONOTONIC: comparable with the parent's clock
        due = started
        while not stop.is_set():
            if rate:
                due += 1.0 / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            t0 = time.monotonic()
            if stats.ops % 2 == 0:
                conn.execute(
                    "update bench set payload = %s where id = %s",
                    (f"u{t0}", rng.randint(1, rows)),
                )
            else:
                next_id += 1
                conn.execute(
                    "insert into bench (id, v, payload) values (%s, %s, %s)",
                    (next_id, next_id % 1000, "new row"),
                )
            stats.samples.append((t0, (time.monotonic() - t0) * 1000))
            stats.ops += 1
        stats.seconds = time.monotonic() - started
    results.put(stats)


@dataclass
class Run:
    """One backfill: its rate, and (under load) the application's latencies during it and in
    the idle windows around it."""

    rows_per_s: float
    during_ms: list[float] = field(default_factory=list)
    idle_ms: list[float] = field(default_factory=list)
    batches: int = 0
    catch_up_s: float = 0.0
    wal_bytes: int = 0  # WAL the server wrote from just before the backfill to just after it
    ready_wal_bytes: int | None = None  # WAL segments ready for reuse before it (None: unknown)


@dataclass
class Result:
    """Several runs of one scenario, pooled."""

    label: str
    runs: list[Run]

    @property
    def rows_per_s(self) -> float:
        return statistics.median(r.rows_per_s for r in self.runs)

    def during(self, q: float) -> float:
        return pct([x for r in self.runs for x in r.during_ms], q)

    def idle(self, q: float) -> float:
        return pct([x for r in self.runs for x in r.idle_ms], q)

    @property
    def p99_ratio(self) -> float:
        return self.during(0.99) / self.idle(0.99)

    @property
    def samples(self) -> int:
        return sum(len(r.during_ms) for r in self.runs)

    def wal_line(self) -> str:
        """What the backfills wrote to the WAL, and how much of it found segments ready."""
        written = statistics.median(r.wal_bytes for r in self.runs)
        ready = [r.ready_wal_bytes for r in self.runs if r.ready_wal_bytes is not None]
        line = f"WAL written {written / 1e6:,.0f} MB per run"
        if ready:
            line += f"; segments ready before it {min(ready) / 1e6:,.0f}-{max(ready) / 1e6:,.0f} MB"
        return line


def wal_position(url: str) -> tuple[int, int | None]:
    """The server's WAL insert position (bytes), and the WAL segments ready ahead of it (None:
    this role may not look), as the plan's WAL notes read them."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()
        return int(row[0]) if row else 0, wal.read_server(conn).ready_bytes


class Capture(Reporter):
    def __init__(self) -> None:
        self.final: BackfillProgress | None = None
        self.ended = 0.0
        self.catch_up_s = 0.0

    def step_finished(
        self,
        description: str,
        duration_s: float,
        skipped: bool = False,
        lock_held_s: float | None = None,
    ) -> None:
        # The catch-up after the backfill: rows old clients updated while it ran.
        if description.startswith("recompute "):
            self.catch_up_s += duration_s

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if final:
            self.final = progress
            self.ended = time.monotonic()


@dataclass
class Backfilled:
    """One backfill's rate, batches, and when it ran (monotonic clock)."""

    rows_per_s: float
    batches: int
    began: float
    ended: float
    catch_up_s: float = 0.0


Backfill = Callable[[str], Backfilled]


class Bench:
    def __init__(self, admin_url: str, rows: int, app_rate: float, seconds: float) -> None:
        self.admin_url, self.rows, self.app_rate, self.seconds = admin_url, rows, app_rate, seconds
        self.template = f"ls_bench_tpl_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []
        self.trigger_us_per_row = 0.0
        self.app_options = ""  # the application's session settings (see Application)

    def admin(self, statement: sql.Composed | str) -> None:
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
            conn.execute("checkpoint")  # no run pays for the copy's dirty pages
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

    # -- one run ---------------------------------------------------------------------------------

    def run(self, backfill: Backfill, with_app: bool) -> Run:
        """One backfill on a fresh copy; under load the application runs through an idle window,
        the backfill, and a second idle window."""
        print(".", end="", file=sys.stderr, flush=True)  # alive: a full run takes minutes
        with self.copy() as url:
            if not with_app:
                position, ready = wal_position(url)
                done = backfill(url)
                written = wal_position(url)[0] - position
                return Run(done.rows_per_s, [], [], done.batches, 0.0, written, ready)
            app = Application(url, self.rows, self.app_rate, options=self.app_options)
            with app.running() as stats:
                time.sleep(IDLE_BEFORE_S)
                position, ready = wal_position(url)
                done = backfill(url)
                written = wal_position(url)[0] - position
                time.sleep(IDLE_AFTER_S)
            began, ended = done.began, done.ended
            during = [ms for t, ms in stats.samples if began <= t <= ended]
            idle = [ms for t, ms in stats.samples if t < began - MARGIN_S or t > ended + MARGIN_S]
            return Run(done.rows_per_s, during, idle, done.batches, done.catch_up_s, written, ready)

    def scenario(self, label: str, backfill: Backfill, with_app: bool, repeat: int) -> Result:
        return Result(label, [self.run(backfill, with_app) for _ in range(repeat)])

    def single_update(self, url: str) -> Backfilled:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("alter table bench add column w bigint")
            began = time.monotonic()
            conn.execute(f"update bench set w = {UP}")
            ended = time.monotonic()
            return Backfilled(self.rows / (ended - began), 1, began, ended)

    @staticmethod
    def liveshift(settings: Settings) -> Backfill:
        """The whole `start` runs; the window measured is its backfill step alone."""

        def backfill(url: str) -> Backfilled:
            capture = Capture()
            migrator = Migrator(url, settings=settings, reporter=capture)
            migrator.start(Migration.from_dict(MIGRATION, name="bench_add_w"))
            assert capture.final is not None
            final = capture.final
            return Backfilled(
                final.rows_done / final.elapsed_s,
                final.batches,
                capture.ended - final.elapsed_s,
                capture.ended,
                capture.catch_up_s,
            )

        return backfill

    def trigger_cost(self) -> tuple[float, float]:
        """Saturated application writes with the sync trigger installed, and without it (the
        column present in both), alternating so machine noise hits both alike."""
        with self.copy() as url:
            migrator = Migrator(url, settings=Settings(), reporter=Reporter())
            migrator.start(Migration.from_dict(MIGRATION, name="bench_add_w"))
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("vacuum bench")
                # liveshift's own trigger definitions, dropped and made again as they were.
                definitions = dict(
                    conn.execute(
                        "select tgname, pg_get_triggerdef(oid) from pg_trigger "
                        "where tgrelid = 'bench'::regclass and not tgisinternal"
                    ).fetchall()
                )

                def install(installed: bool) -> None:
                    for name, definition in definitions.items():
                        conn.execute(f'drop trigger if exists "{name}" on bench')
                        if installed:
                            conn.execute(definition)

                with_trigger: list[float] = []
                without: list[float] = []
                for round_ in range(8):
                    # ABBA order: neither variant always runs first after the other.
                    for installed in (True, False) if round_ % 2 == 0 else (False, True):
                        install(installed)
                        app = Application(url, self.rows, None, seed=round_ * 2 + installed)
                        with app.running() as stats:
                            time.sleep(1.5)  # the process takes ~0.5 s to start
                        (with_trigger if installed else without).append(stats.ops_per_s)
                # The trigger's own CPU per row, without client round trips: one big INSERT.
                per_row = []
                for installed in (False, True):
                    install(installed)
                    t0 = time.monotonic()
                    conn.execute(
                        "insert into bench (id, v, payload) select 5000000000 + i, i, 'x' "
                        "from generate_series(1, 200000) i"
                    )
                    per_row.append((time.monotonic() - t0) / 200_000 * 1e6)
                    conn.execute("delete from bench where id > 5000000000")
                self.trigger_us_per_row = per_row[1] - per_row[0]
            return statistics.median(without), statistics.median(with_trigger)


def self_s(run: Run, rows: int) -> float:
    """The backfill's own duration in a run."""
    return rows / run.rows_per_s


def describe(settings: Settings) -> str:
    commit = "sync" if settings.batch_synchronous_commit else "async"
    return (
        f"{settings.batch_target_ms:>4} ms  {settings.batch_pause:5.2f}  {commit:<6} "
        f"{settings.load_pause:4.1f}  {settings.workers:>7}"
    )


Point = tuple[int, float, bool, float, int]


def knobs(settings: Settings) -> Point:
    return (
        settings.batch_target_ms,
        settings.batch_pause,
        settings.batch_synchronous_commit,
        settings.load_pause,
        settings.workers,
    )


def parse_points(text: str) -> list[Point]:
    """`20:0:sync:0,50:0:async:0,20:0:sync:0:2` -> curve points (target ms, pause, sync commit,
    load pause, and workers: 1 when left out)."""
    points = []
    for item in text.split(","):
        try:
            target, pause, commit, load, *workers = item.strip().split(":")
            if commit not in ("sync", "async") or len(workers) > 1:
                raise ValueError
            lanes = int(workers[0]) if workers else 1
            points.append((int(target), float(pause), commit == "sync", float(load), lanes))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item!r} is not target_ms:pause:sync|async:load_pause[:workers], "
                "e.g. 50:0:sync:0 or 20:0:sync:0:2"
            ) from None
    return points


# Points around the default: (batch target ms, batch pause, sync commit, load pause, workers).
CURVE = [
    (200, 0.0, True, 0.0, 1),  # the default before this benchmark's findings
    (200, 0.0, False, 0.0, 1),
    (50, 0.0, True, 0.0, 1),
    (20, 0.0, False, 0.0, 1),
    (20, 0.25, True, 0.0, 1),
    (10, 0.0, True, 0.0, 1),
    (20, 0.0, True, 1.0, 1),  # these two pace for load (a rest while the app is seen waiting)
    (20, 0.0, True, 3.0, 1),
    (20, 0.0, True, 0.0, 2),  # two lanes (--workers 2)
]


def curve_settings(default: Settings, chosen: list[Point] | None = None) -> list[Settings]:
    """The default first, then CURVE (or the `--points` given)."""
    points = [knobs(default), *(CURVE if chosen is None else chosen)]
    unique = list(dict.fromkeys(points))
    return [
        Settings(
            batch_target_ms=target,
            batch_pause=pause,
            batch_synchronous_commit=sync,
            load_pause=load,
            workers=workers,
            max_replication_lag_s=0,
        )
        for target, pause, sync, load, workers in unique
    ]


# WAL written ahead of the measured runs on a private server, so that checkpoints leave segments
# to reuse (see `own_server`).
WARM_WAL_BYTES = 1 << 30


@contextmanager
def own_server(cold_wal: bool = False) -> Iterator[str]:
    """A private PostgreSQL (pgserver) in a temporary directory, removed afterwards. A shared
    server carries other tenants' WAL and checkpoints (every CREATE/DROP DATABASE forces one),
    which swamp the latencies measured here.

    Its WAL is warm: `min_wal_size` 2 GB and 1 GB of WAL written (and checkpointed) before any
    run, so every backfill writes into WAL segments a checkpoint recycled, as on a server that has
    written that much WAL before, or after the first `max_wal_size` of a long backfill. A server
    that must create its segments instead stalls every commit while it writes each new 16 MB
    file; `cold_wal` measures that case (`wal_recycle = off`: every segment is created anew)."""
    import tempfile
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        directory = tempfile.mkdtemp(prefix="ls-bench-pg-")
        server = pgserver.get_server(directory, cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        url: str = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            # As on the shared test server: no autovacuum run starts on the backfilled table in
            # the idle window after a backfill (it would make that baseline worse, flattering us).
            conn.execute("alter system set autovacuum = off")
            if cold_wal:
                conn.execute("alter system set wal_recycle = off")
            else:
                conn.execute("alter system set min_wal_size = '2GB'")
            conn.execute("select pg_reload_conf()")
            if not cold_wal:
                for _ in range(WARM_WAL_BYTES // 16_000_000):
                    conn.execute(
                        "select pg_logical_emit_message(false, 'warm', repeat('x', 16000000))"
                    )
                conn.execute("checkpoint")
        yield url
    finally:
        server.cleanup()


def on_server(args: argparse.Namespace, run: Callable[[argparse.Namespace, str], int]) -> int:
    """`run(args, url)` on the server of `--database-url`, else on a private one made for it."""
    if args.database_url:
        return run(args, args.database_url)
    with own_server(cold_wal=getattr(args, "cold_wal", False)) as url:
        return run(args, url)


def rotation_arguments(doc: str | None, rows: int) -> argparse.ArgumentParser:
    """The arguments of a script that measures variants in rotation (`in_rotation`)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--database-url", help="an existing server (default: a private one)")
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--rounds", type=int, default=3)
    return parser


def in_rotation(
    admin: str, rows: int, rounds: int, variants: dict[str, Callable[[str], float]]
) -> int:
    """Rows/s of each variant (a function of a database URL), each run on a fresh copy of one
    loaded `bench` table, in rotation (the order reversed every other round, so a machine
    slowing down weighs on all alike); prints the medians and their ratio to the first."""
    bench = Bench(admin, rows, 400.0, 1.0)
    bench.load()
    measured: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for round_ in range(rounds):
            names = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for name in names:
                with bench.copy() as url:
                    measured[name].append(variants[name](url))
            print(".", end="", flush=True)
    finally:
        bench.cleanup()
    print()
    baseline = next(iter(variants))
    base = statistics.median(measured[baseline])
    print(f"{rows:,} rows; rows/s, medians of {rounds}, and the ratio to {baseline!r}")
    width = max(len(name) for name in variants)
    for name, rates in measured.items():
        median = statistics.median(rates)
        print(f"  {name:{width}s} {median:>10,.0f}  {median / base:.3f}x")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database-url", help="an existing server (default: a private one, made for this run)"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--app-rate", type=float, default=400.0, help="paced app ops/s")
    parser.add_argument("--repeat", type=int, default=3, help="copies per scenario, pooled")
    parser.add_argument("--no-curve", action="store_true", help="the default settings only")
    parser.add_argument(
        "--points",
        type=parse_points,
        help="curve points after the default, as target_ms:pause:sync|async:load_pause[:workers],"
        " comma-separated (e.g. 50:0:sync:0,20:0:async:0,20:0:sync:0:2)",
    )
    add_cold_wal(parser)
    return on_server(parser.parse_args(argv), run)


def add_cold_wal(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cold-wal",
        action="store_true",
        help="the private server creates every WAL segment anew (wal_recycle = off) instead of "
        "reusing segments a checkpoint recycled (see own_server)",
    )


def run(args: argparse.Namespace, url: str) -> int:
    bench = Bench(url, args.rows, args.app_rate, 1.0)
    default = Settings(max_replication_lag_s=0)  # the shipped defaults (no replica here)
    settings_list = [default] if args.no_curve else curve_settings(default, args.points)
    repeat = args.repeat
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            version = conn.execute("show server_version").fetchone()
        print(
            f"PostgreSQL {version[0] if version else '?'} "
            f"({'given server' if args.database_url else 'private server for this run'}); "
            f"application: {args.app_rate:g} ops/s, half single-row UPDATEs of random rows, half "
            f"INSERTs; {repeat} copies per scenario, in rotation",
            flush=True,
        )
        bench.load()
        # Rotate through the scenarios `repeat` times, so drift on a shared machine is spread
        # over all of them rather than landing on one.
        update_runs: list[Run] = []
        alone_runs: dict[int, list[Run]] = {i: [] for i in range(len(settings_list))}
        loaded_runs: dict[int, list[Run]] = {i: [] for i in range(len(settings_list))}
        for _ in range(repeat):
            update_runs.append(bench.run(bench.single_update, with_app=False))
            for i, settings in enumerate(settings_list):
                alone_runs[i].append(bench.run(bench.liveshift(settings), with_app=False))
        update = Result("(a) single UPDATE", update_runs)
        update_app = Result("(a) + app", [bench.run(bench.single_update, with_app=True)])
        for _ in range(repeat):
            for i, settings in enumerate(settings_list):
                loaded_runs[i].append(bench.run(bench.liveshift(settings), with_app=True))
        without, with_trigger = bench.trigger_cost()

        print(f"\n(a) single UPDATE: {update.rows_per_s:,.0f} rows/s alone")
        print(
            f"    with the application: app p99 {update_app.during(0.99):,.1f} ms, "
            f"p99.9 {update_app.during(0.999):,.1f} ms, against idle p99 "
            f"{update_app.idle(0.99):.2f} ms: {update_app.p99_ratio:,.0f}x"
        )
        print("\n(b) liveshift's backfill, by setting (rows/s: medians; latencies: pooled)")
        print(
            "  target  pause  commit  load  workers  rows/s alone  vs UPDATE   with app  vs UPDATE  "
            "app p50    p99  p99.9  idle p99  p99 ratio"
        )
        for i, settings in enumerate(settings_list):
            alone = Result("alone", alone_runs[i])
            loaded = Result("app", loaded_runs[i])
            mark = "  <- default" if i == 0 else ""
            print(
                f"  {describe(settings)} {alone.rows_per_s:>12,.0f}  "
                f"{alone.rows_per_s / update.rows_per_s:8.2f}x {loaded.rows_per_s:>10,.0f}  "
                f"{loaded.rows_per_s / update.rows_per_s:8.2f}x "
                f"{loaded.during(0.5):8.2f} {loaded.during(0.99):6.2f} "
                f"{loaded.during(0.999):6.1f}  {loaded.idle(0.99):8.2f}  "
                f"{loaded.p99_ratio:8.2f}x{mark}"
            )
        print(
            f"\n(c) app writes/s without trigger {without:,.0f}, with trigger {with_trigger:,.0f}"
            f" (medians of 8 alternating runs of ~1 s); trigger CPU {bench.trigger_us_per_row:.2f}"
            " us/row in a bulk INSERT"
        )
        alone = Result("alone", alone_runs[0])
        loaded = Result("app", loaded_runs[0])
        catch_up_ms = statistics.median(r.catch_up_s for r in loaded_runs[0]) * 1000
        backfill_ms = statistics.median(self_s(r, bench.rows) for r in loaded_runs[0]) * 1000
        print(
            f"    under the application, the catch-up after the backfill (rows old clients "
            f"updated meanwhile) took {catch_up_ms:,.0f} ms (median), against {backfill_ms:,.0f}"
            " ms for the backfill"
        )
        print(f"  at the defaults, under the application: {loaded.wal_line()}")
        print(f"\nat the defaults (target {default.batch_target_ms} ms; targets in brackets):")
        print(
            f"  liveshift / single UPDATE rows/s          "
            f"{alone.rows_per_s / update.rows_per_s:6.2f}x  (>= 0.80)"
        )
        print(f"  app p99 during backfill / idle p99        {loaded.p99_ratio:6.2f}x  (<= 2.00)")
        print(
            f"  trigger cost on app write throughput      "
            f"{100 * (1 - with_trigger / without):5.1f}%   (<= 20%)"
        )
    finally:
        bench.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
