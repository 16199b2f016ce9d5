"""Controlling and watching a running backfill from elsewhere: pause/resume, a throttle query,
`liveshift status --json`, `--progress json`, and verification."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from liveshift.backfill.verify import scan, verify_backfill
from liveshift.errors import VerificationFailed
from liveshift.plan import Backfill
from tests.backfill.helpers import (
    Background,
    add_column,
    backfill_row,
    cli,
    cli_env,
    migration,
    migrator,
    rows_done,
    run_cli,
    wait_for,
    write_migration_file,
    wrong_rows,
)

Conn = psycopg.Connection[Any]
UP = "v * 2"


def fill(conn: Conn, rows: int, key: bool = True) -> None:
    pk = "primary key" if key else ""
    conn.execute(f"create table t (id int {pk}, v int not null)")
    conn.execute(f"insert into t select i, i from generate_series(1, {rows}) i")
    conn.execute("analyze t")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_pause_and_resume_from_another_process(pg15_url: str, tmp_path: Path, workers: str) -> None:
    """With two workers, every lane waits (each slice's row says why) and the status adds the
    slices up."""
    with psycopg.connect(pg15_url, autocommit=True) as conn:
        fill(conn, 200_000)
        path = write_migration_file(tmp_path, "add_w", add_column("t", "w", "bigint", UP))
        runner = subprocess.Popen(
            cli(
                *("start", str(path), "--database-url", pg15_url),
                # Slow enough (a rest of 6 batches' time after each) that the backfill cannot end
                # before the pause arrives (it ended within ~3 s at a rest of 2 once its batches
                # no longer paid a trigger's row lock, and the test lost the race in CI).
                *("--batch-size", "200", "--batch-pause", "6", "--progress", "json"),
                *("--workers", workers),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        try:
            wait_for(lambda: (backfill_row(conn) or {}).get("rows_done"), timeout=60, interval=0.01)
            paused = run_cli("pause", "--database-url", pg15_url, "--reason", "peak hour")
            assert paused.returncode == 0, paused.stderr
            reason = wait_for(
                lambda: conn.execute(
                    "select max(throttle) from liveshift.backfills where throttle is not null"
                ).fetchone()[0],
                timeout=30,
            )
            assert "peak hour" in reason and "liveshift resume" in reason

            # From a third process: where it stands, and why it waits.
            status = run_cli("status", "--database-url", pg15_url, "--json")
            assert status.returncode == 0, status.stderr
            report = json.loads(status.stdout)
            assert report["paused"] == "peak hour"
            backfill = report["active"]["backfills"][0]
            assert 0 < backfill["rows_done"] < backfill["rows_total"] == 200_000
            assert backfill["batch_size"] == 200
            assert backfill["rows_per_second"] > 0
            assert "peak hour" in backfill["throttle"]
            assert backfill["finished"] is False

            assert backfill["slices"] == (1 if workers == "1" else 8)
            # Each lane says why on the slice it holds.
            wait_for(
                lambda: (
                    conn.execute(
                        "select count(*) filter (where throttle like '%%peak hour%%') "
                        "from liveshift.backfills"
                    ).fetchone()
                    == (int(workers),)
                ),
                timeout=30,
            )
            held = rows_done(pg15_url)
            time.sleep(1.0)
            assert rows_done(pg15_url) == held

            resumed = run_cli("resume", "--database-url", pg15_url)
            assert resumed.returncode == 0, resumed.stderr
            stdout, stderr = runner.communicate(timeout=120)
        finally:
            if runner.poll() is None:
                runner.kill()
            if runner.stdout is not None and not runner.stdout.closed:
                runner.communicate()  # reaps it and closes its pipes, also when the test failed
        assert runner.returncode == 0, stderr
        assert wrong_rows(conn, "t", "_ls_new_w", UP) == 0

        # --progress json: one object per line; the backfill's progress, its throttling, its end.
        events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        progress = [e for e in events if e["event"] == "backfill"]
        assert progress, stdout
        for field in ("rows_done", "rows_total", "rows_per_second", "batch_size", "eta_s"):
            assert all(field in e for e in progress)
        assert any(e["throttle"] and "peak hour" in e["throttle"] for e in progress)
        assert progress[-1]["final"] is True and progress[-1]["rows_done"] == 200_000


def test_throttle_query(pg_url: str, conn: Conn) -> None:
    fill(conn, 20_000)
    conn.execute("create table gate (closed boolean not null); insert into gate values (true)")
    runner = migrator(
        pg_url,
        batch_size=500,
        throttle_poll_s=0.05,
        throttle_query="select closed from gate",
    )
    backfill = Background(lambda: runner.start(migration("t", "w", "bigint", UP)))
    try:
        reason = wait_for(lambda: (backfill_row(conn) or {}).get("throttle"), timeout=30)
        assert "throttle query" in reason
        assert backfill_row(conn)["rows_done"] == 0  # type: ignore[index]
    finally:
        conn.execute("update gate set closed = false")
    backfill.finish()
    assert wrong_rows(conn, "t", "_ls_new_w", UP) == 0


def test_verify_reports_mismatches_instead_of_completing(pg_url: str, conn: Conn) -> None:
    """A volatile `up` cannot be reproduced: --verify recomputes every row and says so."""
    fill(conn, 3_000)
    up = "v + (random() * 1000000)::int + 1"
    with pytest.raises(VerificationFailed) as caught:
        migrator(pg_url, batch_size=400, verify=True).start(migration("t", "w", "bigint", up))
    assert "differ from the `up` expression" in str(caught.value)
    assert "first keys: " in str(caught.value)
    phase = conn.execute("select phase from liveshift.migrations").fetchone()
    assert phase == ("starting",)  # not published to new clients


@pytest.mark.parametrize("key", [True, False], ids=["keyset", "ctid"])
def test_verification_runs_in_batches_and_finds_missed_rows(conn: Conn, key: bool) -> None:
    fill(conn, 5_000, key=key)
    conn.execute("alter table t add column w bigint")
    conn.execute("update t set w = v * 2 where id not in (17, 4242)")
    spec = Backfill(
        schema="public",
        table="t",
        column="w",
        expression=UP,
        where="w is null",
        key=("id",) if key else None,
    )
    cheap = scan(conn, spec, recompute=False, batch_rows=700)
    assert (cheap.rows_checked, cheap.bad_rows) == (5_000, 2)
    assert cheap.batches > 1
    problems = verify_backfill(conn, spec, recompute=False)
    assert len(problems) == 1 and "2 of 5,000 rows of t were not filled" in problems[0]
    if key:
        assert "first keys: 17, 4242" in problems[0]
    conn.execute("update t set w = v * 2 where w is null")
    assert verify_backfill(conn, spec, recompute=True) == []
    conn.execute("update t set w = 0 where id = 99")
    recomputed = scan(conn, spec, recompute=True, batch_rows=700)
    assert recomputed.bad_rows == 1
