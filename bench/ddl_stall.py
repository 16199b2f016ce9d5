"""How long application queries stall while a column is added behind readers of the table.

Two blockers, while application clients run short queries on the table:
- `long`: one transaction holds a read lock on the table for --hold seconds;
- `stream` (the starvation case): a new reader every 150 ms, each keeping its transaction open
  400 ms, so the table never has a moment without a reader.
Against each, a column is added by (a) a plain `ALTER TABLE ... ADD COLUMN`, (b) `liveshift start`
with every try fixed at --lock-timeout (500 ms, the default before the lock policy), and (c)
`liveshift start` with its defaults (the lock policy: 50 ms tries, escalating after 5 s).
Printed per case: the clients' worst and p99 latency, how long the DDL took to land, its tries,
and the worst latency above the idle worst. Target: (c) <= 60 ms above idle behind `long`, and the
lock obtained within 30 s behind `stream` (or a clear refusal).

    .venv/bin/python bench/ddl_stall.py [--database-url URL] [--hold 3] [--lock-timeout 500ms]
        [--blockers long,stream] [--stream-for 20]

A scratch database is created on the server of --database-url and dropped afterwards.

MariaDB (`--engine mariadb`, default URL mysql://root@127.0.0.1:3306/test): (a) a plain `ALTER
TABLE ... ADD COLUMN ..., ALGORITHM=INSTANT` against (b) liveshift's guard (the Executor with
MySQLGuard and the default lock policy: never wait in the metadata-lock queue, retry with jittered
backoff), behind `long` (one transaction that read the table, open --hold s) and `stream` (a new
reader every 100 ms, each transaction open 200 ms, overlapping: the starvation case), with the
same steady application load. Printed: app worst and p99, time to the lock, tries, and (a)/(b)
ratios measured in the same run.

    .venv/bin/python bench/ddl_stall.py --engine mariadb [--database-url mysql://...] [--hold 3]
        [--blockers long,stream] [--stream-for 20] [--deadline 30]
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import conninfo, sql

from liveshift.engines.base import DriverError
from liveshift.engines.mysql import MYSQL
from liveshift.engines.mysql.connection import connect as mysql_connect
from liveshift.engines.mysql.guard import MySQLGuard, describe_lock_policy
from liveshift.engines.mysql.server import parse_version
from liveshift.errors import LockTimeoutExceeded
from liveshift.executor import Executor
from liveshift.locks import LockMode
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.plan import Step
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


def stream_readers(url: str, seconds: float, holding: threading.Event) -> None:
    """A reader every 150 ms for `seconds`, each with its transaction open 400 ms."""

    def read() -> None:
        with psycopg.connect(url, application_name="bench-reader") as conn:
            conn.execute("select count(*) from accounts").fetchone()
            time.sleep(0.4)
            conn.rollback()

    readers = []
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        readers.append(reader)
        if len(readers) == 3:
            holding.set()
        time.sleep(0.15)
    for reader in readers:
        reader.join()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0.0


def measure(
    name: str,
    url: str,
    clients: Clients,
    hold: float,
    ddl: Callable[[], int],
    blocker_kind: Callable[[str, float, threading.Event], None] = hold_lock,
) -> Case:
    holding = threading.Event()
    blocker = threading.Thread(target=blocker_kind, args=(url, hold, holding), daemon=True)
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
    parser.add_argument("--engine", choices=("postgresql", "mariadb"), default="postgresql")
    parser.add_argument("--database-url", default=None, help="server to use (scratch db)")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds the long transaction runs")
    parser.add_argument("--lock-timeout", default="500ms", help="case (b)'s fixed --lock-timeout")
    parser.add_argument("--clients", type=int, default=4, help="application clients")
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the table")
    parser.add_argument("--blockers", default="long,stream", help="long, stream or both")
    parser.add_argument("--stream-for", type=float, default=20.0, help="seconds readers stream")
    parser.add_argument("--deadline", type=float, default=30.0, help="(MariaDB) retry deadline, s")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.blockers.split(",") if k.strip()]
    if args.engine == "mariadb":
        run_mariadb(args, kinds)
        return
    args.database_url = args.database_url or DEFAULT_URL

    scratch = f"liveshift_bench_{os.getpid()}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        version = admin.execute("show server_version").fetchone()
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(scratch)))
    url = with_dbname(args.database_url, scratch)
    fixed = Settings(lock_timeout_ms=parse_duration_ms(args.lock_timeout, "--lock-timeout"))
    defaults = Settings()
    results: dict[str, list[Case]] = {}
    counter = iter(range(1, 1000))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create table accounts (id int primary key, balance bigint not null)")
            conn.execute(
                "insert into accounts select g, 0 from generate_series(1, %s) g", (args.rows,)
            )
            conn.execute("vacuum analyze accounts")

        def plain_alter() -> int:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"alter table accounts add column plain_{next(counter)} int")
            return 0

        def liveshift_start(settings: Settings) -> Callable[[], int]:
            def run() -> int:
                n = next(counter)
                migration = Migration.from_dict(
                    {
                        "operations": [
                            {
                                "add_column": {
                                    "table": "accounts",
                                    "column": {"name": f"c{n}", "type": "int"},
                                }
                            }
                        ]
                    },
                    name=f"{n:04d}_add_c{n}",
                )
                migrator = Migrator(url, settings=settings, reporter=Reporter())
                try:
                    migrator.start(migration)
                except LockTimeoutExceeded:
                    migrator.rollback()
                    return -1
                with psycopg.connect(url, autocommit=True) as conn:
                    row = conn.execute(
                        "select sum(lock_retries) from liveshift.steps s join "
                        "liveshift.migrations m on m.id = s.migration_id where m.name = %s",
                        (migration.name,),
                    ).fetchone()
                return int(row[0]) if row and row[0] is not None else 0

            return run

        with Clients(url, args.clients, args.rows) as clients:
            time.sleep(0.5)
            began = time.monotonic()
            time.sleep(1.0)
            base = clients.between(began, time.monotonic())
            for kind in kinds:
                blocker, hold = (
                    (hold_lock, args.hold) if kind == "long" else (stream_readers, args.stream_for)
                )
                cases = []
                for name, ddl in (
                    ("(a) plain ALTER TABLE ADD COLUMN", plain_alter),
                    (f"(b) liveshift, tries of {fixed.lock_timeout_ms} ms", liveshift_start(fixed)),
                    ("(c) liveshift defaults", liveshift_start(defaults)),
                ):
                    cases.append(measure(name, url, clients, hold, ddl, blocker))
                    # The blocker has gone: complete the started migration, outside the figures.
                    if Migrator(url, reporter=Reporter()).status()["active"]:
                        Migrator(url, reporter=Reporter()).complete()
                    time.sleep(0.5)
                results[kind] = cases
        errors = len(clients.errors)
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch))
            )

    idle = max(base, default=0.0)
    print(
        f"ddl_stall: PostgreSQL {version[0] if version else '?'}, {args.rows:,} rows, "
        f"{args.clients} clients; lock policy (c): {defaults.lock_policy.describe()}"
    )
    print(
        f"{'case':<40}{'worst':>11}{'above idle':>12}{'p99':>11}{'queries':>9}"
        f"{'DDL took':>10}{'retries':>9}"
    )
    print(f"{'idle (no DDL, 1 s)':<40}{idle * 1000:>8.1f} ms{'':>12}{p99(base) * 1000:>8.1f} ms")
    for kind, cases in results.items():
        what = (
            f"one transaction open {args.hold:g} s"
            if kind == "long"
            else f"a reader every 150 ms, each open 400 ms, for {args.stream_for:g} s"
        )
        print(f"-- behind {what}")
        for case in cases:
            retries = "refused" if case.lock_retries < 0 else str(case.lock_retries)
            print(
                f"{case.name:<40}{case.worst_s * 1000:>8.1f} ms"
                f"{(case.worst_s - idle) * 1000:>9.1f} ms{case.p99_s * 1000:>8.1f} ms"
                f"{case.queries:>9}{case.ddl_s:>9.2f}s{retries:>9}"
            )
        plain, _, policy = cases
        ratio = plain.worst_s / policy.worst_s if policy.worst_s > 0 else float("inf")
        print(f"   worst-latency ratio (a)/(c): {ratio:.1f}x")
    print(f"application errors: {errors}")


# -- MariaDB -----------------------------------------------------------------------------------------

MARIADB_URL = "mysql://root@127.0.0.1:3306/test"


class MariaClients(Clients):
    """The same application load on MariaDB: 80% point reads, 20% point updates, by key."""

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        with mysql_connect(self.url, application_name=f"bench-app-{seed}") as c:
            while not self.stop.is_set():
                key = rng.randint(1, self.rows)
                began = time.monotonic()
                try:
                    if rng.random() < 0.8:
                        c.execute("select balance from accounts where id = %s", (key,)).fetchone()
                    else:
                        c.execute("update accounts set balance = balance + 1 where id = %s", (key,))
                except DriverError as exc:
                    with self._lock:
                        self.errors.append(str(exc).strip())
                with self._lock:
                    self.samples.append((began, time.monotonic() - began))
                time.sleep(0.002)


def maria_hold_lock(url: str, seconds: float, holding: threading.Event) -> None:
    """One transaction that read the table (its metadata lock held) and stays open `seconds`."""
    with mysql_connect(url, application_name="bench-long-transaction") as conn:
        conn.execute("begin")
        conn.execute("select count(*) from accounts").fetchone()
        holding.set()
        time.sleep(seconds)
        conn.execute("rollback")


def maria_stream_readers(url: str, seconds: float, holding: threading.Event) -> None:
    """A reader every 100 ms for `seconds`, each with its transaction open 200 ms: at every
    moment one or two transactions hold the table's metadata lock (the starvation case)."""

    def read() -> None:
        with mysql_connect(url, application_name="bench-reader") as conn:
            conn.execute("begin")
            conn.execute("select count(*) from accounts where id < 100").fetchone()
            time.sleep(0.2)
            conn.execute("rollback")

    readers = []
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        readers.append(reader)
        if len(readers) == 3:
            holding.set()
        time.sleep(0.1)
    for reader in readers:
        reader.join()


def run_mariadb(args: argparse.Namespace, kinds: list[str]) -> None:
    """Plain ALTER vs the liveshift guard on MariaDB, behind each blocker in `kinds`."""
    admin_url = args.database_url or MARIADB_URL
    scratch = f"liveshift_bench_{os.getpid()}"
    with mysql_connect(admin_url) as admin:
        version = admin.execute("select version()").fetchone()[0]
        admin.execute(f"create database `{scratch}`")
    parts = urlsplit(admin_url)
    url = urlunsplit(parts._replace(path="/" + scratch))
    settings = Settings(lock_retry_deadline_s=args.deadline)
    results: dict[str, list[Case]] = {}
    counter = iter(range(1, 1000))
    try:
        with mysql_connect(url) as conn:
            conn.execute(
                "create table accounts (id int primary key, balance bigint not null) engine=innodb"
            )
            conn.execute(f"insert into accounts select seq, 0 from seq_1_to_{int(args.rows)}")

        def plain_alter() -> int:
            with mysql_connect(url) as conn:
                conn.execute(
                    f"alter table accounts add column plain_{next(counter)} int, algorithm=instant"
                )
            return 1

        def guarded_alter() -> int:
            step = Step(
                description="add column",
                sql=f"alter table accounts add column c{next(counter)} int, algorithm=instant",
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=(f"{scratch}.accounts",),
                operation="add_column",
            )
            with mysql_connect(url) as conn:
                executor = Executor(
                    conn,
                    settings,
                    Reporter(),
                    guard=MySQLGuard(conn, settings),
                    capabilities=MYSQL.capabilities,
                    phase="start",
                )
                try:
                    executor.run([step])
                except LockTimeoutExceeded:
                    return -executor.lock_retries
                return executor.lock_retries + 1

        with MariaClients(url, args.clients, args.rows) as clients:
            time.sleep(0.5)
            began = time.monotonic()
            time.sleep(1.0)
            base = clients.between(began, time.monotonic())
            for kind in kinds:
                blocker, hold = (
                    (maria_hold_lock, args.hold)
                    if kind == "long"
                    else (maria_stream_readers, args.stream_for)
                )
                results[kind] = [
                    measure(name, url, clients, hold, ddl, blocker)
                    for name, ddl in (
                        ("(a) plain ALTER ... ALGORITHM=INSTANT", plain_alter),
                        ("(b) liveshift guard (defaults)", guarded_alter),
                    )
                ]
                time.sleep(0.5)
        errors = len(clients.errors)
    finally:
        with mysql_connect(admin_url) as admin:
            admin.execute(f"drop database if exists `{scratch}`")

    idle = max(base, default=0.0)
    info = parse_version(str(version))
    print(
        f"ddl_stall: {info.describe()}, {args.rows:,} rows, {args.clients} clients; "
        f"lock policy (b): {describe_lock_policy(settings.lock_policy, info)}"
    )
    print(
        f"{'case':<40}{'worst':>11}{'above idle':>12}{'p99':>11}{'queries':>9}"
        f"{'to lock':>10}{'tries':>9}"
    )
    print(f"{'idle (no DDL, 1 s)':<40}{idle * 1000:>8.1f} ms{'':>12}{p99(base) * 1000:>8.1f} ms")
    for kind, cases in results.items():
        what = (
            f"one transaction open {args.hold:g} s"
            if kind == "long"
            else f"a reader every 100 ms, each open 200 ms, for {args.stream_for:g} s"
        )
        print(f"-- behind {what}")
        for case in cases:
            tries = f"refused@{-case.lock_retries}" if case.lock_retries < 0 else case.lock_retries
            print(
                f"{case.name:<40}{case.worst_s * 1000:>8.1f} ms"
                f"{(case.worst_s - idle) * 1000:>9.1f} ms{case.p99_s * 1000:>8.1f} ms"
                f"{case.queries:>9}{case.ddl_s:>9.2f}s{tries!s:>9}"
            )
        plain, guard = cases

        def ratio(a: float, b: float) -> str:
            return f"{a / b:.2f}x" if b > 0 else "inf"

        print(
            f"   (a)/(b): worst {ratio(plain.worst_s, guard.worst_s)}, "
            f"p99 {ratio(plain.p99_s, guard.p99_s)}, time to lock {ratio(plain.ddl_s, guard.ddl_s)}"
        )
    print(f"application errors: {errors}")


if __name__ == "__main__":
    main()
