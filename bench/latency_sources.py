"""Where the application's tail latency during a backfill comes from: the benchmark's application
(bench/backfill.py, 400 operations/s) against loads that each isolate one part of what a backfill
does to the server, on fresh copies of one 1,000,000-row table, in rotation.

    .venv/bin/python bench/latency_sources.py [--database-url URL] [--repeat 2] [--only a,b]

- `none`: nothing, for 3 s: the control, what the ratio reads when nothing happens (its own noise);
- `cpu`: a backend busy computing for 3 s, writing nothing (a core taken, no WAL);
- `wal-200kB` / `wal-2MB`: a session committing transactional WAL messages of that size back to
  back for 3 s (WAL and flushes, little CPU);
- `liveshift`: the backfill at its defaults;
- `liveshift-nice`: the same with its server process at nice 19 (the CPU given to the application
  first; needs the server on this machine, under this user: the private server is);
- `liveshift-no-init-zero`: the same with `wal_init_zero = off` (new WAL segments are not written
  full of zeros before use).

Each line prints the application's p99 during the load against its idle p99 around it, as
bench/backfill.py does, pooled over the copies, then the same ratio of each copy alone (sorted),
which shows how far one run can stray. `--app-commit async` runs the application with
`synchronous_commit = off`: its commits then wait for no WAL flush, which takes the WAL's share
out of its latency and leaves the CPU's and the locks'. The private server's WAL is warm (see
`own_server` in bench/backfill.py); `--cold-wal` makes it create every WAL segment anew, as a
server does that has not written this much WAL before.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import psycopg
from psycopg import errors as pg_errors

from backfill import (  # bench/backfill.py
    Backfill,
    Backfilled,
    Bench,
    Result,
    Run,
    add_cold_wal,
    on_server,
)
from liveshift.settings import Settings


def timed(load: Callable[[str], None]) -> Backfill:
    def run(url: str) -> Backfilled:
        began = time.monotonic()
        load(url)
        return Backfilled(0.0, 0, began, time.monotonic())

    return run


def cpu(url: str, seconds: float = 3.0) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"set statement_timeout = {int(seconds * 1000)}")
        with contextlib.suppress(pg_errors.QueryCanceled):
            conn.execute("select count(*) from generate_series(1, 1000000000)")


def wal(size: int, seconds: float = 3.0) -> Callable[[str], None]:
    def load(url: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                conn.execute(
                    "select pg_logical_emit_message(true, 'bench', repeat('x', %s))", (size,)
                )

    return load


def backfill(nice: bool = False, settings: dict[str, str] | None = None) -> Backfill:
    inner = Bench.liveshift(Settings(max_replication_lag_s=0))

    def run(url: str) -> Backfilled:
        with psycopg.connect(url, autocommit=True) as conn:
            for name, value in (settings or {}).items():
                conn.execute(f"alter system set {name} = '{value}'")
            conn.execute("select pg_reload_conf()")
        stop = threading.Event()
        renicer = threading.Thread(target=renice, args=(url, stop), daemon=True)
        if nice:
            renicer.start()
        try:
            return inner(url)
        finally:
            stop.set()
            if nice:
                renicer.join()
            with psycopg.connect(url, autocommit=True) as conn:
                for name in settings or {}:
                    conn.execute(f"alter system reset {name}")
                conn.execute("select pg_reload_conf()")

    return run


def renice(url: str, stop: threading.Event) -> None:
    """Lower the priority of every liveshift server process as soon as it appears."""
    seen: set[int] = set()
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            for (pid,) in conn.execute(
                "select pid from pg_stat_activity where application_name like 'liveshift%'"
            ).fetchall():
                if pid not in seen:
                    subprocess.run(["renice", "19", "-p", str(pid)], capture_output=True)
                    seen.add(pid)
            time.sleep(0.01)


LOADS: dict[str, Backfill] = {
    "none": timed(lambda url: time.sleep(3.0)),
    "cpu": timed(cpu),
    "wal-200kB": timed(wal(200_000)),
    "wal-2MB": timed(wal(2_000_000)),
    "liveshift": backfill(),
    "liveshift-nice": backfill(nice=True),
    "liveshift-no-init-zero": backfill(settings={"wal_init_zero": "off"}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", help="an existing server (default: a private one)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="copies per load, pooled")
    parser.add_argument("--only", help="comma-separated loads (default: all)")
    parser.add_argument(
        "--app-commit",
        choices=("sync", "async"),
        default="sync",
        help="the application's synchronous_commit (async: its commits wait for no WAL flush)",
    )
    add_cold_wal(parser)
    return on_server(parser.parse_args(argv), run)


def run(args: argparse.Namespace, url: str) -> int:
    names = args.only.split(",") if args.only else list(LOADS)
    unknown = [n for n in names if n not in LOADS]
    if unknown:
        print(f"unknown loads: {', '.join(unknown)}; known: {', '.join(LOADS)}", file=sys.stderr)
        return 2
    bench = Bench(url, args.rows, 400.0, 1.0)
    if args.app_commit == "async":
        bench.app_options = "-c synchronous_commit=off"
    bench.load()
    runs: dict[str, list[Run]] = {name: [] for name in names}
    try:
        for _ in range(args.repeat):
            for name in names:
                runs[name].append(bench.run(LOADS[name], with_app=True))
    finally:
        bench.cleanup()
    print()
    print("load                     seconds  app p50    p99  p99.9  idle p99  p99 ratio")
    for name in names:
        result = Result(name, runs[name])
        seconds = statistics.mean(len(r.during_ms) for r in runs[name]) / 400.0
        print(
            f"{name:24s} {seconds:7.1f} {result.during(0.5):8.2f} {result.during(0.99):6.2f} "
            f"{result.during(0.999):6.2f} {result.idle(0.99):9.2f} {result.p99_ratio:9.2f}x"
        )
        alone = sorted(Result(name, [r]).p99_ratio for r in runs[name])
        print(f"{'':24s} each copy: {' '.join(f'{x:.2f}x' for x in alone)}")
        if any(r.wal_bytes for r in runs[name]):
            print(f"{'':24s} {result.wal_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
