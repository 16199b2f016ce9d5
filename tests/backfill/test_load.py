"""Load-aware pacing: the backfill waits while too many other sessions are active (--max-load)
and rests between batches while other sessions are seen waiting (--load-pause)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from pathlib import Path
from typing import Any

import psycopg

from liveshift.backfill.throttle import LoadPacer, LoadSample
from liveshift.progress import BackfillProgress, Reporter
from tests.backfill.helpers import (
    Background,
    add_column,
    backfill_row,
    migration,
    migrator,
    run_cli,
    spawn,
    start_args,
    wait_for,
    write_migration_file,
    wrong_rows,
)

Conn = psycopg.Connection[Any]
LOAD_REASON = re.compile(r"load: [34] other sessions of the database are active \(--max-load 1\)")


def fill(conn: Conn, rows: int) -> None:
    conn.execute("create table t (id int primary key, v int not null)")
    conn.execute(f"insert into t select i, i from generate_series(1, {rows}) i")
    conn.execute("analyze t")


class Sessions:
    """`count` application sessions, each running one statement in a thread of its own."""

    def __init__(self, url: str, count: int, statement: str) -> None:
        self.conns = [psycopg.connect(url, autocommit=True) for _ in range(count)]
        self.pids = [c.info.backend_pid for c in self.conns]
        self.threads = [threading.Thread(target=self._run, args=(c, statement)) for c in self.conns]
        for thread in self.threads:
            thread.start()

    @staticmethod
    def _run(conn: Conn, statement: str) -> None:
        with contextlib.suppress(psycopg.errors.QueryCanceled):  # how the test ends a pg_sleep
            conn.execute(statement)

    def finish(self) -> None:
        for thread in self.threads:
            thread.join(timeout=60)
        for conn in self.conns:
            conn.close()


def active(conn: Conn, pids: list[int], wait_event: str) -> bool:
    row = conn.execute(
        "select count(*) from pg_stat_activity where pid = any(%s) and state = 'active' "
        "and wait_event = %s",
        (pids, wait_event),
    ).fetchone()
    return bool(row and row[0] == len(pids))


def throttled_row(conn: Conn, text: str) -> dict[str, Any] | None:
    """The backfill's checkpoint row once its throttle reason mentions `text`."""
    row = backfill_row(conn)
    return row if row and text in str(row["throttle"]) else None


def test_max_load_waits_while_other_sessions_are_active(
    pg_url: str, conn: Conn, tmp_path: Path
) -> None:
    """Three sessions run a long `pg_sleep`: with --max-load 1 the backfill waits before its first
    batch, says why in its progress and in `liveshift status`, and carries on once they end."""
    fill(conn, 20_000)
    path = write_migration_file(tmp_path, "add_w", add_column("t", "w", "bigint", "v * 2"))
    sleepers = Sessions(pg_url, 3, "select pg_sleep(600)")
    try:
        wait_for(lambda: active(conn, sleepers.pids, "PgSleep"))
        process = spawn(
            start_args(path, pg_url, "--max-load", "1", "--progress", "json", "--batch-size", "500")
        )
        row = wait_for(lambda: throttled_row(conn, "--max-load 1"))
        assert LOAD_REASON.fullmatch(row["throttle"])  # 3 sleepers (and maybe this test's poll)
        assert row["checkpoint"] is None  # no batch ran
        status = run_cli("status", "--database-url", pg_url, "--json")
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)["active"]["backfills"][0]["throttle"]
        assert shown == row["throttle"]
        assert process.poll() is None
    finally:
        conn.execute("select pg_cancel_backend(pid) from unnest(%s::int[]) pid", (sleepers.pids,))
        sleepers.finish()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    throttles = [e["throttle"] for e in events if e["event"] == "backfill"]
    assert LOAD_REASON.fullmatch(throttles[0])
    assert throttles[-1] is None
    assert wrong_rows(conn, "t", "_ls_new_w", "v * 2") == 0


class Watch(Reporter):
    """Calls `on_progress` with each progress event, from the backfill's thread."""

    def __init__(self) -> None:
        self.events: list[tuple[str, BackfillProgress]] = []
        self.phase_ = "waits"
        self.resting = 0

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if not final:
            self.events.append((self.phase_, progress))
        if self.phase_ == "waits" and progress.throttle and "resting" in progress.throttle:
            self.resting += 1
            if self.resting == 2:  # a batch's checkpoint row carries the rest set before it
                self.on_resting()

    def on_resting(self) -> None: ...


def test_load_pause_rests_while_other_sessions_wait_and_stops_resting_after(
    pg_url: str, conn: Conn
) -> None:
    """Two sessions wait on an advisory lock (Lock:advisory): with --load-pause the backfill
    rests between batches and says why, in its progress and in the checkpoint row `status`
    reads; once the sessions stop waiting, the rest decays to nothing and the backfill finishes."""
    fill(conn, 100_000)
    holder = psycopg.connect(pg_url, autocommit=True)
    holder.execute("select pg_advisory_lock(7)")
    waiters = Sessions(pg_url, 2, "select pg_advisory_xact_lock(7)")
    m = migrator(
        pg_url,
        watch := Watch(),
        batch_size=500,
        load_pause=2.0,
        load_half_life_s=0.001,  # any batch without waiters clears the rest
        throttle_poll_s=0.05,
    )
    seen: dict[str, Any] = {}

    def on_resting() -> None:
        # Still in the backfill's thread, between batches: record what status shows, then hold
        # the backfill (so it cannot finish first) and let the waiters through.
        seen["status"] = backfill_row(conn)
        m.pause("the waiters are let through")
        watch.phase_ = "released"
        holder.execute("select pg_advisory_unlock(7)")

    watch.on_resting = on_resting  # type: ignore[method-assign]
    try:
        wait_for(lambda: active(conn, waiters.pids, "advisory"))
        backfill = Background(lambda: m.start(migration("t", "w", "bigint", "v * 2")))
        wait_for(lambda: watch.phase_ == "released")
        waiters.finish()
        wait_for(lambda: throttled_row(conn, "let through"))
        watch.phase_ = "after"
        m.resume()
        backfill.finish()
    finally:
        m.resume()
        holder.close()
        waiters.finish()
    resting = [p.throttle for phase, p in watch.events if phase == "waits" and p.throttle]
    assert resting and "2 other sessions seen waiting (Lock:advisory)" in resting[-1]
    assert "(--load-pause 2)" in resting[-1]
    # The checkpoint row (what `liveshift status` shows) carried the reason of the batch before.
    assert "seen waiting (Lock:advisory)" in str(seen["status"]["throttle"])
    after = [p.throttle for phase, p in watch.events if phase == "after"]
    assert after and after[-1] is None  # full speed again
    assert wrong_rows(conn, "t", "_ls_new_w", "v * 2") == 0


def test_the_rest_grows_with_sightings_and_decays_to_nothing() -> None:
    pacer = LoadPacer(max_rest=2.0, half_life_s=1.0)
    waiting, calm = LoadSample(3, 2, "LWLock:WALWrite"), LoadSample(3, 0, None)
    pacer.observe(calm, now=0.0)
    assert pacer.rest == 0 and pacer.reason is None
    for i in range(10):
        pacer.observe(waiting, now=0.01 * (i + 1))
    assert 1.9 < pacer.rest <= 2.0  # capped
    assert pacer.reason is not None and "LWLock:WALWrite" in pacer.reason
    pacer.observe(calm, now=1.1)  # one half-life later
    assert 0.9 < pacer.rest < 1.1
    pacer.observe(calm, now=20.0)
    assert pacer.rest == 0 and pacer.reason is None


def test_pacing_off_never_rests() -> None:
    pacer = LoadPacer(max_rest=0.0)
    pacer.observe(LoadSample(10, 10, "IO:WALSync"), now=0.0)
    assert pacer.rest == 0 and pacer.reason is None
