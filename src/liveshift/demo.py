"""`liveshift demo`: add a NOT NULL column to a busy table while simulated traffic runs."""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import conninfo, sql
from rich.console import Console
from rich.table import Table

from liveshift.connect import redact, resolve_url
from liveshift.errors import EXIT_FINDINGS, EXIT_OK, ConfigError, DatabaseError
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.progress import BackfillProgress, Blocker, Reporter, make_reporter
from liveshift.settings import Settings, parse_duration_ms

DEFAULT_DEMO_DATABASE = "liveshift_demo"
TABLE = "users"
COLUMN = "last_login"
UP = "coalesce(updated_at, created_at)"
MIGRATION = Migration.from_dict(
    {
        "operations": [
            {
                "add_column": {
                    "table": TABLE,
                    "column": {
                        "name": COLUMN,
                        "type": "timestamptz",
                        "nullable": False,
                        "default": "now()",
                    },
                    "up": UP,
                }
            }
        ]
    },
    name="0001_add_last_login",
)
DOMAINS = ("example.com", "mail.test", "corp.example", "users.example.org", "demo.invalid")
LOAD_CHUNK = 250_000
# The simulated application paces itself like a real one (a few hundred queries a second per
# thread), so the latencies it sees measure waiting on locks, not a CPU it saturates itself.
PACE_S = 0.004
BASELINE_S = 2.0
ROLLOUT_S = 1.5
REPORT_APP = "app-v1-monthly-report"


# -- the simulated application -----------------------------------------------------------------


@dataclass
class Sample:
    at: float  # monotonic time the query began
    latency_s: float
    role: str


@dataclass
class Traffic:
    """Application threads issuing short queries; every query is timed, every error counted."""

    url: str
    table_rows: int
    stop: threading.Event = field(default_factory=threading.Event)
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    written_ids: set[int] = field(default_factory=set)
    threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spawn(
        self,
        role: str,
        loop: Callable[[psycopg.Connection[Any], random.Random], None],
        url: str | None = None,
    ) -> None:
        """Run `loop` over and over in a thread of its own, on its own connection (to `url`,
        e.g. with another search_path, or the demo database)."""
        seed = len(self.threads)
        thread = threading.Thread(
            target=self._run,
            args=(role, loop, seed, url or self.url),
            name=f"demo-{role}",
            daemon=True,
        )
        self.threads.append(thread)
        thread.start()

    def _run(
        self,
        role: str,
        loop: Callable[[psycopg.Connection[Any], random.Random], None],
        seed: int,
        url: str,
    ) -> None:
        rng = random.Random(seed)
        conn: psycopg.Connection[Any] | None = None
        while not self.stop.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = psycopg.connect(url, autocommit=True, application_name=role)
                loop(conn, rng)
            except psycopg.Error as exc:
                self.error(role, exc)
            time.sleep(PACE_S)
        if conn is not None:
            conn.close()

    def timed(
        self, conn: psycopg.Connection[Any], role: str, query: str, params: tuple[Any, ...] = ()
    ) -> list[tuple[Any, ...]]:
        started = time.monotonic()
        try:
            rows = conn.execute(query, params).fetchall()
        finally:
            # A failed query is timed too: a stall that ends in an error is still a stall.
            with self._lock:
                self.samples.append(Sample(started, time.monotonic() - started, role))
        return rows

    def error(self, role: str, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(f"{role}: {type(exc).__name__}: {str(exc).strip()}")

    def wrote(self, ids: list[tuple[Any, ...]]) -> None:
        with self._lock:
            self.written_ids.update(int(r[0]) for r in ids)

    def random_id(self, rng: random.Random) -> int:
        return rng.randint(1, self.table_rows)

    # The old application version: knows nothing of the new column, writes the base table.
    def old_writer(self, role: str) -> Callable[[psycopg.Connection[Any], random.Random], None]:
        def loop(conn: psycopg.Connection[Any], rng: random.Random) -> None:
            choice = rng.random()
            if choice < 0.4:
                n = rng.randint(1, 10**9)
                rows = self.timed(
                    conn,
                    role,
                    f"insert into {TABLE} (email, name, created_at) "
                    "values (%s, %s, now()) returning id",
                    (f"new{n}@{rng.choice(DOMAINS)}", f"New user {n}"),
                )
            elif choice < 0.9:
                rows = self.timed(
                    conn,
                    role,
                    f"update {TABLE} set login_count = login_count + 1, updated_at = now() "
                    "where id = %s returning id",
                    (self.random_id(rng),),
                )
            else:
                rows = self.timed(
                    conn,
                    role,
                    f"update {TABLE} set name = name || '.' where id = %s returning id",
                    (self.random_id(rng),),
                )
            self.wrote(rows)

        return loop

    def old_reader(self, role: str) -> Callable[[psycopg.Connection[Any], random.Random], None]:
        def loop(conn: psycopg.Connection[Any], rng: random.Random) -> None:
            if rng.random() < 0.8:
                self.timed(
                    conn,
                    role,
                    f"select id, email, name, login_count from {TABLE} where id = %s",
                    (self.random_id(rng),),
                )
            else:
                self.timed(conn, role, f"select id, email from {TABLE} order by id desc limit 20")

        return loop

    # The new application version: reads the new column through the version schema.
    def new_reader(self, role: str) -> Callable[[psycopg.Connection[Any], random.Random], None]:
        def loop(conn: psycopg.Connection[Any], rng: random.Random) -> None:
            self.timed(
                conn,
                role,
                f"select id, email, {COLUMN} from {TABLE} where id = %s",
                (self.random_id(rng),),
            )

        return loop

    def hold_table(self, role: str, seconds: float) -> None:
        """A long transaction (a report, a forgotten psql session) holding a read lock on the
        table; returns once it holds the lock."""
        holding = threading.Event()

        def hold() -> None:
            try:
                with psycopg.connect(self.url, application_name=role) as conn:
                    conn.execute(f"select count(*) from {TABLE}").fetchone()
                    holding.set()
                    self.stop.wait(seconds)
            except psycopg.Error as exc:
                self.error(role, exc)
            finally:
                holding.set()

        thread = threading.Thread(target=hold, name=f"demo-{role}", daemon=True)
        self.threads.append(thread)
        thread.start()
        holding.wait(60)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


# -- what the run observed ---------------------------------------------------------------------


@dataclass
class Window:
    """A stretch of the run: a phase of the migration, or the baseline before it."""

    name: str
    begin: float
    end: float = 0.0


@dataclass
class PhaseFigures:
    name: str
    duration_ms: float | None  # from the step journal (None: not a migration phase)
    wall_s: float
    queries: int
    p99_ms: float | None
    worst_ms: float | None
    lock_retries: int = 0


@dataclass
class DemoResult:
    database: str
    table: str
    column: str
    rows: int
    rows_backfilled: int
    phases: list[PhaseFigures]
    app_queries: int
    app_p99_ms: float | None
    app_worst_ms: float | None
    app_errors: int
    error_samples: list[str]
    lock_retries: int
    blockers_named: list[str]
    old_writer_rows: int
    checks: dict[str, bool]
    check_details: dict[str, str]
    version_schema: str
    lock_policy: str = ""
    longest_lock_hold_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.app_errors == 0 and all(self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def _admin(url: str) -> psycopg.Connection[Any]:
    """The demo's own connection for setting up and checking its table (it is PostgreSQL's demo
    until the MySQL engine has one)."""
    try:
        return psycopg.connect(url, autocommit=True, application_name="liveshift-demo")
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to {redact(url)}: {str(exc).strip()}") from None


def exit_code(result: DemoResult) -> int:
    """0 when the application saw no error and every check passed, else 1."""
    return EXIT_OK if result.ok else EXIT_FINDINGS


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * (len(ordered) - 1) + 0.5))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


class DemoReporter(Reporter):
    """Passes every event on to the user's reporter and notes when the backfill runs and who
    blocked a lock."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self.backfill_begin: float | None = None
        self.backfill_end: float | None = None
        self.blockers: dict[int, str] = {}  # pid -> how it was described when first seen
        self.blocker_waits: dict[int, int] = {}  # pid -> in how many lock waits it was named
        self.lock_waits = 0
        self.longest_hold_s = 0.0  # the longest a step held its lock (the application queued)

    def phase(self, name: str, migration: str) -> None:
        self.inner.phase(name, migration)

    def step_started(self, position: int, total: int, description: str) -> None:
        if description.startswith("backfill "):
            self.backfill_begin = time.monotonic()
        self.inner.step_started(position, total, description)

    def step_finished(
        self,
        description: str,
        duration_s: float,
        skipped: bool = False,
        lock_held_s: float | None = None,
    ) -> None:
        if description.startswith("backfill "):
            self.backfill_end = time.monotonic()
        if lock_held_s is not None:
            self.longest_hold_s = max(self.longest_hold_s, lock_held_s)
        self.inner.step_finished(description, duration_s, skipped, lock_held_s)

    def lock_wait(
        self, description: str, attempt: int, blockers: list[Blocker], wait_s: float
    ) -> None:
        self.lock_waits += 1
        for blocker in blockers:
            self.blockers.setdefault(blocker.pid, blocker.describe())
            self.blocker_waits[blocker.pid] = self.blocker_waits.get(blocker.pid, 0) + 1
        self.inner.lock_wait(description, attempt, blockers, wait_s)

    def named_blockers(self, limit: int = 3) -> list[str]:
        """The sessions named in every lock wait (they held the lock throughout: the real
        blockers); sessions that only queued behind one attempt of the DDL are named now and
        then. If none was named every time, the most named."""
        ranked = sorted(self.blocker_waits.items(), key=lambda item: -item[1])
        always = [(pid, n) for pid, n in ranked if n == self.lock_waits]
        return [
            f"{self.blockers[pid]} (named in {count} of {self.lock_waits} lock waits)"
            for pid, count in (always or ranked)[:limit]
        ]

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        self.inner.backfill(progress, final)

    def message(self, text: str) -> None:
        self.inner.message(text)

    def close(self) -> None:
        self.inner.close()


# -- set-up ------------------------------------------------------------------------------------


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return conninfo.make_conninfo("", **params)


def create_demo_database(server_url: str, name: str) -> str:
    """Drop and create the demo database on the server of `server_url`; its URL."""
    current = conninfo.conninfo_to_dict(server_url).get("dbname")
    if current == name:
        raise ConfigError(
            f"the demo would drop and recreate {name!r}, the database the URL points at",
            hint="Point --database-url at another database of the server (e.g. postgres), or "
            "choose another --demo-database.",
        )
    with _admin(server_url) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(ident))
        conn.execute(sql.SQL("create database {}").format(ident))
    return _with_dbname(server_url, name)


def load_table(url: str, rows: int, say: Callable[[str], None]) -> None:
    """The demo table with `rows` rows, generated server-side in a few statements."""
    with _admin(url) as conn:
        conn.execute("set synchronous_commit = off")
        conn.execute(
            f"create table {TABLE} (\n"
            "  id bigint generated by default as identity,\n"
            "  email text not null,\n"
            "  name text not null,\n"
            "  created_at timestamptz not null default now(),\n"
            "  updated_at timestamptz,\n"
            "  login_count integer not null default 0\n"
            ")"
        )
        domains = "array[" + ", ".join(f"'{d}'" for d in DOMAINS) + "]"
        for low in range(1, rows + 1, LOAD_CHUNK):
            high = min(rows, low + LOAD_CHUNK - 1)
            conn.execute(
                f"insert into {TABLE} (id, email, name, created_at, updated_at, login_count)\n"
                f"select g, 'user' || g || '@' || ({domains})[1 + g %% {len(DOMAINS)}],\n"
                "  'User ' || g, now() - (g %% 1000) * interval '1 hour',\n"
                "  case when g %% 3 = 0 then null else now() - (g %% 100) * interval '1 minute' end,\n"
                "  g %% 50\n"
                "from generate_series(%s::bigint, %s::bigint) g",
                (low, high),
            )
            say(f"  {high:,} / {rows:,} rows")
        conn.execute(f"alter table {TABLE} add primary key (id)")
        conn.execute(f"alter table {TABLE} alter column id restart with {rows + 1}")
        conn.execute(f"vacuum analyze {TABLE}")


# -- the run -----------------------------------------------------------------------------------


def _window_figures(traffic: Traffic, window: Window) -> tuple[int, float | None, float | None]:
    latencies = [s.latency_s for s in traffic.samples if window.begin <= s.at < window.end]
    return len(latencies), percentile(latencies, 0.99), max(latencies, default=None)


def _journal(url: str, migration_id: int, plan: dict[str, Any]) -> dict[str, tuple[float, int]]:
    """Milliseconds and lock retries per demo phase, from the step journal."""
    backfill_positions = {i for i, s in enumerate(plan.get("start", [])) if s.get("backfill")}
    totals: dict[str, tuple[float, int]] = {}
    with _admin(url) as conn:
        rows = conn.execute(
            "select phase, position, duration_ms, lock_retries from liveshift.steps "
            "where migration_id = %s",
            (migration_id,),
        ).fetchall()
    for phase, position, duration_ms, retries in rows:
        name = {"start": "expand", "complete": "contract"}.get(phase, phase)
        if phase == "start" and position in backfill_positions:
            name = "backfill"
        ms, count = totals.get(name, (0.0, 0))
        totals[name] = (ms + float(duration_ms), count + int(retries))
    return totals


def _checks(
    url: str, traffic: Traffic, version_schema: str, before_complete: dict[str, str]
) -> tuple[dict[str, bool], dict[str, str]]:
    checks: dict[str, bool] = {}
    details: dict[str, str] = dict(before_complete)
    checks["every row filled from `up` while both versions ran"] = (
        before_complete["mismatch"] == "0"
    )
    with _admin(url) as conn:
        row = conn.execute(
            "select a.attnotnull from pg_attribute a where a.attrelid = %s::regclass "
            "and a.attname = %s and not a.attisdropped",
            (TABLE, COLUMN),
        ).fetchone()
        checks[f"{COLUMN} exists and is NOT NULL"] = bool(row and row[0])
        ids = sorted(traffic.written_ids)
        found = conn.execute(
            f"select count(*), count(*) filter (where {COLUMN} is null) from {TABLE} "
            "where id = any(%s)",
            (ids,),
        ).fetchone()
        assert found is not None
        details["old writer rows found"] = f"{found[0]:,} of {len(ids):,}"
        checks["every row the old writer wrote has the column filled"] = (
            found[0] == len(ids) and found[1] == 0 and len(ids) > 0
        )
        leftovers = conn.execute(
            "select count(*) from pg_attribute where attrelid = %s::regclass and attnum > 0 "
            "and not attisdropped and attname like '\\_ls\\_%%'",
            (TABLE,),
        ).fetchone()
        checks["no temporary columns left"] = bool(leftovers and leftovers[0] == 0)
    return checks, details


def _check_before_complete(url: str, version_schema: str) -> dict[str, str]:
    """Through the new version's view, while old writers still write: every row must carry the
    value `up` gives it (the backfill did the old rows, the trigger the rows written since)."""
    with _admin(url) as conn:
        row = conn.execute(
            sql.SQL(
                "select count(*), count(*) filter (where {col} is null), "
                "count(*) filter (where {col} is distinct from " + UP + ") from {view}"
            ).format(
                col=sql.Identifier(COLUMN),
                view=sql.Identifier(version_schema, TABLE),
            )
        ).fetchone()
    assert row is not None
    return {"rows at the end of start": f"{row[0]:,}", "null": str(row[1]), "mismatch": str(row[2])}


@contextmanager
def _traffic(traffic: Traffic) -> Iterator[Traffic]:
    try:
        yield traffic
    finally:
        traffic.join()


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 110)

    def say(text: str) -> None:
        console.print(text)

    rows = int(args.rows)
    if rows < 1:
        raise ConfigError("--rows must be at least 1", hint="The default is 1,000,000.")
    name = getattr(args, "demo_database", None) or DEFAULT_DEMO_DATABASE
    server_url = resolve_url(args.database_url)

    say(f"[bold]liveshift demo[/bold]: add a NOT NULL column to a {rows:,}-row table under load")
    say(f"[bold]1.[/bold] creating database [bold]{name}[/bold] on {redact(server_url)}")
    url = create_demo_database(server_url, name)
    t0 = time.monotonic()
    load_table(url, rows, say)
    say(f"   table {TABLE} ready ({rows:,} rows) in {time.monotonic() - t0:.1f}s")

    traffic = Traffic(url, rows)
    reporter = DemoReporter(make_reporter(args.progress))
    migrator = Migrator(url, settings=settings, reporter=reporter)
    windows: list[Window] = []
    with _traffic(traffic):
        say(
            f"[bold]2.[/bold] starting the application (version 1, which knows nothing of "
            f"{COLUMN}): {args.writers} writer(s) inserting and updating, {args.readers} reader(s)"
        )
        for i in range(int(args.writers)):
            role = f"app-v1-writer-{i + 1}"
            traffic.spawn(role, traffic.old_writer(role))
        for i in range(int(args.readers)):
            role = f"app-v1-reader-{i + 1}"
            traffic.spawn(role, traffic.old_reader(role))
        baseline = Window("baseline, no migration", time.monotonic())
        time.sleep(BASELINE_S)
        baseline.end = time.monotonic()
        windows.append(baseline)

        hold_s = parse_duration_ms(
            str(getattr(args, "long_transaction", "0")), "--long-transaction"
        )
        if hold_s > 0:
            say(
                f"   meanwhile a report of version 1 ({REPORT_APP}) reads {TABLE} in a transaction "
                f"it keeps open for {hold_s / 1000:g}s: a plain ALTER TABLE would queue behind it "
                "and stall every query of the application for that long"
            )
            traffic.hold_table(REPORT_APP, hold_s / 1000)
        say(
            f"[bold]3.[/bold] liveshift start: add {TABLE}.{COLUMN} timestamptz NOT NULL "
            f"DEFAULT now(), filled from `{UP}`"
        )
        begin = time.monotonic()
        record = migrator.start(MIGRATION)
        end = time.monotonic()
        bf_begin = reporter.backfill_begin or end
        bf_end = reporter.backfill_end or end
        windows.append(Window("expand", begin, bf_begin))
        windows.append(Window("backfill", bf_begin, bf_end))
        if bf_end < end:
            windows.append(Window("expand", bf_end, end))  # the version views after the backfill
        before_complete = _check_before_complete(url, record.version_schema)

        say(
            f"[bold]4.[/bold] version 2 rolls out: it reads {COLUMN} with search_path "
            f"{record.version_schema}, while version 1 keeps writing"
        )
        new_url = _with_search_path(url, record.version_schema)
        traffic.spawn("app-v2-reader", traffic.new_reader("app-v2-reader"), new_url)
        rollout = Window("v1 and v2 side by side", time.monotonic())
        time.sleep(ROLLOUT_S)
        rollout.end = time.monotonic()
        windows.append(rollout)

        say("[bold]5.[/bold] liveshift complete: validate, SET NOT NULL, rename into place")
        begin = time.monotonic()
        migrator.complete()
        windows.append(Window("contract", begin, time.monotonic()))
        time.sleep(0.5)  # traffic after the change, to see it is still served
    reporter.close()

    result = _result(
        url,
        name,
        rows,
        traffic,
        windows,
        record.id,
        record.plan,
        migrator,
        reporter,
        record.version_schema,
        before_complete,
    )
    if getattr(args, "json", False):
        print(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        print_report(result)
    shown = url if not conninfo.conninfo_to_dict(url).get("password") else redact(url)
    say(
        f"The demo database [bold]{name}[/bold] is kept for you to look at: "
        f"liveshift history --database-url '{shown}'"
    )
    return exit_code(result)


def _with_search_path(url: str, search_path: str) -> str:
    params = conninfo.conninfo_to_dict(url)
    params["options"] = f"-c search_path={search_path}"
    return conninfo.make_conninfo("", **params)


def _result(
    url: str,
    name: str,
    rows: int,
    traffic: Traffic,
    windows: list[Window],
    migration_id: int,
    plan: dict[str, Any],
    migrator: Migrator,
    reporter: DemoReporter,
    version_schema: str,
    before_complete: dict[str, str],
) -> DemoResult:
    journal = _journal(url, migration_id, plan)
    merged: dict[str, list[Window]] = {}
    for window in windows:
        merged.setdefault(window.name, []).append(window)
    phases: list[PhaseFigures] = []
    for phase_name, parts in merged.items():
        queries = 0
        latencies: list[float] = []
        for part in parts:
            latencies.extend(s.latency_s for s in traffic.samples if part.begin <= s.at < part.end)
            queries = len(latencies)
        duration = journal.get(phase_name)
        phases.append(
            PhaseFigures(
                name=phase_name,
                duration_ms=round(duration[0], 1) if duration else None,
                wall_s=round(sum(p.end - p.begin for p in parts), 3),
                queries=queries,
                p99_ms=_ms(percentile(latencies, 0.99)),
                worst_ms=_ms(max(latencies, default=None)),
                lock_retries=duration[1] if duration else 0,
            )
        )
    all_latencies = [s.latency_s for s in traffic.samples]
    checks, details = _checks(url, traffic, version_schema, before_complete)
    with _admin(url) as conn:
        counted = conn.execute(f"select count(*) from {TABLE}").fetchone()
        backfilled = conn.execute(
            "select coalesce(sum(rows_done), 0) from liveshift.backfills where migration_id = %s",
            (migration_id,),
        ).fetchone()
    return DemoResult(
        database=name,
        table=TABLE,
        column=COLUMN,
        rows=int(counted[0]) if counted else rows,
        rows_backfilled=int(backfilled[0]) if backfilled else 0,
        phases=phases,
        app_queries=len(all_latencies),
        app_p99_ms=_ms(percentile(all_latencies, 0.99)),
        app_worst_ms=_ms(max(all_latencies, default=None)),
        app_errors=len(traffic.errors),
        error_samples=traffic.errors[:5],
        lock_retries=sum(retries for _, retries in journal.values()),
        blockers_named=reporter.named_blockers(),
        old_writer_rows=len(traffic.written_ids),
        checks=checks,
        check_details=details,
        version_schema=version_schema,
        lock_policy=migrator.settings.lock_policy.describe(),
        longest_lock_hold_ms=_ms(reporter.longest_hold_s),
    )


# -- the report --------------------------------------------------------------------------------


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms"


def print_report(result: DemoResult, console: Console | None = None) -> None:
    # Wide enough for the tables when stdout is a pipe or a log (rich assumes 80 columns there).
    console = console or Console(highlight=False, width=None if sys.stdout.isatty() else 110)
    console.print()
    phases = Table(
        title=f"{result.table}.{result.column} added to {result.rows:,} rows under live traffic",
        title_justify="left",
    )
    phases.add_column("phase")
    phases.add_column("liveshift took", justify="right")
    phases.add_column("lock retries", justify="right")
    phases.add_column("app queries", justify="right")
    phases.add_column("app p99", justify="right")
    phases.add_column("app worst", justify="right")
    for p in result.phases:
        phases.add_row(
            p.name,
            _fmt_ms(p.duration_ms) if p.duration_ms is not None else f"({p.wall_s:.1f} s)",
            str(p.lock_retries) if p.duration_ms is not None else "",
            f"{p.queries:,}",
            _fmt_ms(p.p99_ms),
            _fmt_ms(p.worst_ms),
        )
    phases.add_section()
    phases.add_row(
        "[bold]whole run[/bold]",
        "",
        str(result.lock_retries),
        f"{result.app_queries:,}",
        _fmt_ms(result.app_p99_ms),
        _fmt_ms(result.app_worst_ms),
    )
    console.print(phases)

    facts = Table(show_header=False, title="outcome", title_justify="left")
    facts.add_column("what")
    facts.add_column("value")
    errors_style = "green" if result.app_errors == 0 else "bold red"
    facts.add_row("rows in the table", f"{result.rows:,}")
    facts.add_row("rows backfilled", f"{result.rows_backfilled:,}")
    facts.add_row("rows the old app version wrote", f"{result.old_writer_rows:,}")
    facts.add_row("application errors", f"[{errors_style}]{result.app_errors}[/{errors_style}]")
    facts.add_row("lock retries", str(result.lock_retries))
    facts.add_row("longest a step held its lock", _fmt_ms(result.longest_lock_hold_ms))
    for check, passed in result.checks.items():
        mark = "[green]yes[/green]" if passed else "[bold red]NO[/bold red]"
        facts.add_row(check, mark)
    console.print(facts)
    if result.lock_retries:
        console.print(
            f"liveshift could not get its lock at once and retried: {result.lock_policy}."
        )
        for blocker in result.blockers_named:
            console.print(f"  blocked by {blocker}")
    for sample in result.error_samples:
        console.print(f"  [red]application error[/red] {sample}")
    if result.ok:
        console.print(
            f"[bold green]Done:[/bold green] the application ran through the whole change with "
            f"0 errors; its slowest query took {_fmt_ms(result.app_worst_ms)}."
        )
    else:
        console.print(
            "[bold red]Failed:[/bold red] the application saw errors or a check did not hold "
            "(see above)."
        )
