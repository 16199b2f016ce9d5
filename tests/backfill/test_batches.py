"""What one batch does to the application: the settings it runs under, giving way to rows the
application holds, and resting between batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from liveshift.progress import Reporter
from liveshift.settings import Settings
from tests.backfill.helpers import (
    Background,
    add_column,
    backfill_row,
    migration,
    migrator,
    run_cli,
    wait_for,
    write_migration_file,
    wrong_rows,
)

Conn = psycopg.Connection[Any]


class Messages(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def fill(conn: Conn, rows: int) -> None:
    conn.execute("create table t (id int primary key, v int not null)")
    conn.execute(f"insert into t select i, i from generate_series(1, {rows}) i")
    conn.execute("analyze t")


@pytest.mark.parametrize("durable", [False, True], ids=["async", "sync"])
def test_a_batch_runs_under_its_own_settings(pg_url: str, conn: Conn, durable: bool) -> None:
    """Each batch sets, for its own transaction only: the trigger bypass, a row lock timeout of
    the batch target, and (unless asked otherwise) asynchronous commit. `up` reads them back."""
    fill(conn, 3000)
    up = (
        "current_setting('synchronous_commit') || ' ' || current_setting('lock_timeout') || ' ' "
        "|| current_setting('liveshift.backfill', true)"
    )
    m = migrator(pg_url, batch_size=1000, batch_target_ms=30, batch_synchronous_commit=durable)
    m.start(migration("t", "w", "text", up))
    seen = conn.execute("select distinct _ls_new_w from t").fetchall()
    assert seen == [(f"{'on' if durable else 'off'} 50ms on",)]


def test_a_batch_gives_way_to_a_row_the_application_holds(pg_url: str, conn: Conn) -> None:
    """An application transaction holds row 2,500 open: the batch that reaches it gives up after
    its row lock timeout (instead of holding every row it locked before, for as long as the
    application takes), retries smaller, and the backfill finishes once the row is free."""
    fill(conn, 5000)
    messages = Messages()
    m = migrator(pg_url, messages, batch_start=1000, batch_target_ms=20, throttle_poll_s=0.05)
    m.pause("hold on")  # the expand steps run; the backfill waits before its first batch
    backfill = Background(lambda: m.start(migration("t", "w", "bigint", "v * 2")))
    holder = psycopg.connect(pg_url)
    try:
        wait_for(lambda: "hold on" in str((backfill_row(conn) or {}).get("throttle")))
        holder.execute("update t set v = v + 1 where id = 2500")  # open transaction: row locked
        m.resume()
        wait_for(lambda: any("row locks held by the application" in x for x in messages.lines))
    finally:
        holder.commit()
        holder.close()
        m.resume()
    backfill.finish()
    waits = [x for x in messages.lines if "row locks held by the application" in x]
    assert "waited more than 50 ms" in waits[0] and "retrying with" in waits[0]
    assert wrong_rows(conn, "t", "_ls_new_w", "v * 2") == 0
    assert conn.execute("select _ls_new_w from t where id = 2500").fetchone() == (5002,)


def test_a_duty_cycle_still_finishes_every_row(pg_url: str, conn: Conn) -> None:
    fill(conn, 20_000)
    migrator(pg_url, batch_size=2000, batch_pause=0.5).start(migration("t", "w", "bigint", "v"))
    assert wrong_rows(conn, "t", "_ls_new_w", "v") == 0


def test_the_row_lock_timeout_follows_the_batch_target() -> None:
    assert Settings(batch_target_ms=20).row_lock_timeout_ms == 50  # a floor: commit jitter
    assert Settings(batch_target_ms=400).row_lock_timeout_ms == 400
    assert Settings(batch_target_ms=20, batch_row_lock_timeout_ms=5).row_lock_timeout_ms == 5


@pytest.mark.parametrize(
    ("option", "value", "wanted"),
    [
        ("--batch-pause", "-1", "--batch-pause: '-1' is not a non-negative number"),
        ("--batch-pause", "half", "--batch-pause: 'half' is not a non-negative number"),
        ("--reconnect-timeout", "soon", "--reconnect-timeout: 'soon' is not a duration"),
        ("--max-load", "-3", "--max-load: '-3' is neither `off` nor a number of sessions"),
        ("--max-load", "many", "--max-load: 'many' is neither `off` nor a number of sessions"),
        ("--load-pause", "-1", "--load-pause: '-1' is not a non-negative number"),
        ("--load-pause", "lots", "--load-pause: 'lots' is not a non-negative number"),
        ("--workers", "0", "--workers: '0' is not a number of workers from 1 to 32"),
        ("--workers", "two", "--workers: 'two' is not a number of workers from 1 to 32"),
    ],
)
def test_bad_tuning_options_are_refused(
    pg15_url: str, tmp_path: Path, option: str, value: str, wanted: str
) -> None:
    path = write_migration_file(tmp_path, "add_w", add_column("t", "w", "bigint", "v"))
    result = run_cli("start", str(path), "--database-url", pg15_url, option, value)
    assert result.returncode == 2, result.stderr
    assert wanted in result.stderr
