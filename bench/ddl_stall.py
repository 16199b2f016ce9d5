"""How long application queries stall while a column is added behind a long transaction.

A transaction holds a read lock on the table for --hold seconds. Meanwhile a column is added by
(a) a plain `ALTER TABLE ... ADD COLUMN` and (b) `liveshift start`, while application clients run
short queries on the table. Printed: the worst (and p99) latency the clients saw in each case, and
the ratio (a)/(b). Expected: (a) stalls for about the blocker's whole duration; (b) for at most
about one lock timeout.

    .venv/bin/python bench/ddl_stall.py [--database-url URL] [--hold 3] [--lock-timeout 500ms]

A scratch database is created on the server of --database-url and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import conninfo, sql

from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.progress import Reporter
from liveshift.settings import Settings, parse_duration_ms

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Case:
    name: str
    worst_s: float
    p99_s: float
    queries: int
    ddl_s: float
    lock_retries: int = 0


class Clients:
    """`count` application clients, each running short reads and writes on `accounts`."""

    def __init__(self, url: str, count: int, rows: int) -> None:
        self.url = url
        self.rows = rows
        self.stop = threading.Event()
        self.samples: list[tuple[float, float]] = []  # (began at, latency)
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)
        ]

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        with psycopg.connect(self.url, autocommit=True, application_name=f"bench-app-{seed}") as c:
            while not self.stop.is_set():
                key = rng.randint(1, self.rows)
                began = time.monotonic()
                try:
                    if rng.random() < 0.8:
                        c.execute("select balance from accounts where id = %s", (key,)).fetchone()
                    else:
                        c.execute("update accounts set balance = balance + 1 where id = %s", (key,))
                except psycopg.Error as exc:
                    with self._lock:
                        self.errors.append(str(exc).strip())
                with self._lock:
                    self.samples.append((began, time.monotonic() - began))
                time.sleep(0.002)

    def between(self, begin: float, end: float) -> list[float]:
        with self._lock:
            return [lat for at, lat in self.samples if begin <= at < end]


def hold_lock(url: str, seconds: float, holding: threading.Event) -> None:
    with psycopg.connect(url, application_name="bench-long-transaction") as conn:
        conn.execute("select count(*) from accounts").fetchone()
        holding.set()
        time.sleep(seconds)
        conn.rollback()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0.0


def measure(name: str, url: str, clients: Clients, hold: float, ddl: Callable[[], int]) -> Case:
    holding = threading.Event()
    blocker = threading.Thread(target=hold_lock, args=(url, hold, holding), daemon=True)
    blocker.start()
    holding.wait(10)
    time.sleep(0.2)  # the clients run against the held table, unhindered so far
    began = time.monotonic()
    retries = ddl()
    ddl_s = time.monotonic() - began
    blocker.join()
    time.sleep(0.3)
    latencies = clients.between(began, time.monotonic())
    return Case(name, max(latencies, default=0.0), p99(latencies), len(latencies), ddl_s, retries)


def with_dbname(url: str, dbname: str) -> str:
    params = conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return conninfo.make_conninfo("", **params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL, help="server to use (scratch db)")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds the long transaction runs")
    parser.add_argument("--lock-timeout", default="500ms", help="liveshift --lock-timeout")
    parser.add_argument("--clients", type=int, default=4, help="application clients")
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the table")
    args = parser.parse_args()

    scratch = f"liveshift_bench_{os.getpid()}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        version = admin.execute("show server_version").fetchone()
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(scratch)))
    url = with_dbname(args.database_url, scratch)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create table accounts (id int primary key, balance bigint not null)")
            conn.execute(
                "insert into accounts select g, 0 from generate_series(1, %s) g", (args.rows,)
            )
            conn.execute("vacuum analyze accounts")

        def plain_alter() -> int:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("alter table accounts add column plain_col int")
            return 0

        settings = Settings(lock_timeout_ms=parse_duration_ms(args.lock_timeout, "--lock-timeout"))
        migration = Migration.from_dict(
            {
                "operations": [
                    {"add_column": {"table": "accounts", "column": {"name": "c", "type": "int"}}}
                ]
            },
            name="0001_add_c",
        )

        def liveshift_start() -> int:
            Migrator(url, settings=settings, reporter=Reporter()).start(migration)
            with psycopg.connect(url, autocommit=True) as conn:
                row = conn.execute("select sum(lock_retries) from liveshift.steps").fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        with Clients(url, args.clients, args.rows) as clients:
            time.sleep(0.5)
            began = time.monotonic()
            time.sleep(1.0)
            base = clients.between(began, time.monotonic())
            plain = measure(
                "(a) plain ALTER TABLE ADD COLUMN", url, clients, args.hold, plain_alter
            )
            time.sleep(0.5)
            live = measure("(b) liveshift start", url, clients, args.hold, liveshift_start)
        errors = len(clients.errors)
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch))
            )

    print(
        f"ddl_stall: PostgreSQL {version[0] if version else '?'}, {args.rows:,} rows, "
        f"{args.clients} clients, long transaction held {args.hold:g}s, "
        f"liveshift lock_timeout {settings.lock_timeout_ms} ms"
    )
    print(f"{'case':<36}{'worst':>11}{'p99':>11}{'queries':>9}{'DDL took':>10}{'retries':>9}")
    print(
        f"{'baseline (no DDL, 1 s)':<36}{max(base, default=0) * 1000:>8.1f} ms{p99(base) * 1000:>8.1f} ms{len(base):>9}"
    )
    for case in (plain, live):
        print(
            f"{case.name:<36}{case.worst_s * 1000:>8.1f} ms{case.p99_s * 1000:>8.1f} ms"
            f"{case.queries:>9}{case.ddl_s:>9.2f}s{case.lock_retries:>9}"
        )
    ratio = plain.worst_s / live.worst_s if live.worst_s > 0 else float("inf")
    print(f"worst-latency ratio (a)/(b): {ratio:.1f}x; application errors: {errors}")


if __name__ == "__main__":
    main()
