"""A long transaction on the table while `start` adds a column: the application keeps flowing,
the DDL lands after the blocker ends, and the blocker is named while it blocks. A plain ALTER in
the same situation stalls the application for the blocker's whole duration (the contrast that
proves the test can fail)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from liveshift.errors import LockTimeoutExceeded
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.progress import Blocker, PlainReporter
from liveshift.settings import Settings

HOLD_S = 4.0
LOCK_TIMEOUT_MS = 200
# A behaviour bound, not a timing assertion: with lock_timeout the application can only queue
# behind one attempt of the DDL (~0.2 s); without it, behind the whole blocker (~4 s).
MARGIN_S = 1.5
BLOCKER_APP = "ls-test-blocker"


class Application(threading.Thread):
    """Short queries on the table, one after the other, each timed."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="ls-test-app") as conn:
            i = 0
            while not self.stop.is_set():
                i += 1
                started = time.monotonic()
                try:
                    conn.execute("select v from t where id = %s", (i % 1000 + 1,)).fetchone()
                except psycopg.Error as exc:
                    self.errors.append(exc)
                self.latencies.append(time.monotonic() - started)
                time.sleep(0.01)


class LongTransaction(threading.Thread):
    """Reads the table in a transaction it keeps open for `hold_s` seconds (ACCESS SHARE)."""

    def __init__(self, url: str, hold_s: float) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.hold_s = hold_s
        self.holding = threading.Event()
        self.released = threading.Event()
        self.released_at = 0.0
        self.pid = 0

    def run(self) -> None:
        with psycopg.connect(self.url, application_name=BLOCKER_APP) as conn:
            self.pid = conn.info.backend_pid
            conn.execute("select count(*) from t").fetchone()
            self.holding.set()
            time.sleep(self.hold_s)
            conn.rollback()
            self.released_at = time.monotonic()
            self.released.set()


class CapturingReporter(PlainReporter):
    """Plain output into a buffer; each lock wait noted with whether the blocker still held."""

    def __init__(self, blocker: LongTransaction) -> None:
        super().__init__(io.StringIO())
        self.blocker = blocker
        self.waits_while_blocked: list[str] = []

    def lock_wait(
        self, description: str, attempt: int, blockers: list[Blocker], wait_s: float
    ) -> None:
        before = len(self.text())
        super().lock_wait(description, attempt, blockers, wait_s)
        if not self.blocker.released.is_set():
            self.waits_while_blocked.append(self.text()[before:])

    def text(self) -> str:
        assert isinstance(self.stream, io.StringIO)
        return self.stream.getvalue()


def _with_blocker(url: str, ddl: Callable[[LongTransaction], Any]) -> tuple[float, float, Any]:
    """Run `ddl` while a long transaction holds the table and the application queries it.
    Returns (worst application wait in s, when the DDL finished, what ddl returned)."""
    app = Application(url)
    blocker = LongTransaction(url, HOLD_S)
    app.start()
    blocker.start()
    assert blocker.holding.wait(10)
    time.sleep(0.3)  # the application is now querying the held table, unhindered
    try:
        value = ddl(blocker)
        finished_at = time.monotonic()
    finally:
        blocker.join(HOLD_S + 10)
        time.sleep(0.2)
        app.stop.set()
        app.join(10)
    assert not app.errors, app.errors
    assert len(app.latencies) > 10
    return max(app.latencies), finished_at, value


def _setup(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table t (id int primary key, v text not null)")
        conn.execute("insert into t select g, 'v' || g from generate_series(1, 1000) g")


def _columns(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "select attname from pg_attribute where attrelid = 't'::regclass and attnum > 0 "
            "and not attisdropped"
        ).fetchall()
    return {r[0] for r in rows}


def test_start_behind_a_long_transaction_never_stalls_the_application(pg_url: str) -> None:
    _setup(pg_url)

    # Contrast: a plain ALTER queues behind the blocker and every query queues behind the ALTER.
    def plain_alter(_: LongTransaction) -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("alter table t add column plain_c int")

    plain_worst, _, _ = _with_blocker(pg_url, plain_alter)
    assert plain_worst >= HOLD_S - 1.0, f"the contrast case stalled only {plain_worst:.2f}s"
    assert "plain_c" in _columns(pg_url)

    # liveshift: each attempt waits at most lock_timeout, then lets the queue drain and retries.
    settings = Settings(lock_timeout_ms=LOCK_TIMEOUT_MS, lock_retry_max_backoff_s=1.0)
    migration = Migration.from_dict(
        {"operations": [{"add_column": {"table": "t", "column": {"name": "c", "type": "int"}}}]},
        name="0001_add_c",
    )
    reporters: list[CapturingReporter] = []

    def liveshift_start(blocker: LongTransaction) -> Any:
        reporter = CapturingReporter(blocker)
        reporters.append(reporter)
        return Migrator(pg_url, settings=settings, reporter=reporter).start(migration)

    live_worst, finished_at, record = _with_blocker(pg_url, liveshift_start)
    reporter = reporters[0]
    output = reporter.text()

    assert live_worst < LOCK_TIMEOUT_MS / 1000 + MARGIN_S, (
        f"an application query waited {live_worst:.2f}s behind liveshift's DDL\n{output}"
    )
    # The DDL got through, and only once the blocker had gone (it could not have before).
    assert record.phase == "started"
    assert "_ls_new_c" in _columns(pg_url)
    assert finished_at >= reporter.blocker.released_at > 0
    # The blocker was named (pid and application_name) while it still blocked.
    named = [w for w in reporter.waits_while_blocked if f"pid {reporter.blocker.pid} " in w]
    assert named, f"no lock wait named pid {reporter.blocker.pid} while it blocked:\n{output}"
    assert BLOCKER_APP in named[0]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        retries = conn.execute("select sum(lock_retries) from liveshift.steps").fetchone()
    assert retries is not None and retries[0] >= 1

    Migrator(pg_url, settings=settings).complete()
    assert {"c", "plain_c"} <= _columns(pg_url)
    assert not any(c.startswith("_ls_") for c in _columns(pg_url))


class OverlappingReaders(threading.Thread):
    """A new reader every `every_s`, each keeping its transaction on the table open `hold_s`: the
    table always has a reader, so a short lock try never finds a moment without one."""

    def __init__(self, url: str, every_s: float = 0.15, hold_s: float = 0.4) -> None:
        super().__init__(daemon=True)
        self.url, self.every_s, self.hold_s = url, every_s, hold_s
        self.stop = threading.Event()
        self.readers: list[threading.Thread] = []

    def _read(self) -> None:
        with psycopg.connect(self.url, application_name="ls-test-reader") as conn:
            conn.execute("select count(*) from t").fetchone()
            time.sleep(self.hold_s)
            conn.rollback()

    def run(self) -> None:
        while not self.stop.is_set():
            reader = threading.Thread(target=self._read, daemon=True)
            reader.start()
            self.readers.append(reader)
            self.stop.wait(self.every_s)

    def __enter__(self) -> OverlappingReaders:
        self.start()
        time.sleep(1.0)  # several readers overlap now
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(10)
        for reader in self.readers:
            reader.join(10)


ADD_C = Migration.from_dict(
    {"operations": [{"add_column": {"table": "t", "column": {"name": "c", "type": "int"}}}]},
    name="0001_add_c",
)


def test_a_table_that_always_has_a_reader_still_gets_its_lock_by_escalating(pg_url: str) -> None:
    _setup(pg_url)
    stream = io.StringIO()
    settings = Settings(lock_escalate_after_s=0.5)  # the default policy, escalating sooner
    with OverlappingReaders(pg_url):
        record = Migrator(pg_url, settings=settings, reporter=PlainReporter(stream)).start(ADD_C)
    output = stream.getvalue()
    assert record.phase == "started"
    assert "_ls_new_c" in _columns(pg_url)
    # 50 ms tries could not get it; every escalation was reported with its new wait.
    assert "each try now waits up to 100 ms (was 50 ms)" in output, output
    assert "ls-test-reader" in output  # the readers were named
    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute(
            "select lock_retries, lock_held_ms from liveshift.steps "
            "where lock_mode = 'ACCESS EXCLUSIVE' order by position"
        ).fetchall()
    assert rows and rows[0][0] >= 1
    # The time the application queued behind each guarded step's held lock is journaled.
    assert all(held is not None and held >= 0 for _, held in rows), rows


def test_short_fixed_tries_against_a_table_that_always_has_a_reader_give_up_clearly(
    pg_url: str,
) -> None:
    _setup(pg_url)
    settings = Settings(lock_timeout_ms=50, lock_retry_deadline_s=2.0)
    with OverlappingReaders(pg_url), pytest.raises(LockTimeoutExceeded) as refused:
        Migrator(pg_url, settings=settings).start(ADD_C)
    error = refused.value
    assert error.sqlstate == "55P03"
    assert "could not get its ACCESS EXCLUSIVE lock" in error.message
    assert any("ls-test-reader" in d for d in error.details)
    assert error.hint is not None and "--lock-timeout" in error.hint
    # Nothing half-done: the column is not there and the start can be resumed or rolled back.
    assert "_ls_new_c" not in _columns(pg_url)
    Migrator(pg_url).rollback()
