"""A real streaming replica: the backfill waits while the replica is behind, and says why."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from liveshift.backfill.throttle import Throttle
from liveshift.progress import BackfillProgress, Reporter
from liveshift.settings import Settings
from tests.backfill.helpers import (
    Background,
    backfill_row,
    migration,
    migrator,
    replica_db_url,
    wait_for,
    wrong_rows,
)

Conn = psycopg.Connection[Any]
UP = "v * 2"


class Recorder(Reporter):
    def __init__(self) -> None:
        self.throttles: list[str] = []

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        if progress.throttle:
            self.throttles.append(progress.throttle)


def replica_ready(replica: str, primary_db: str) -> str:
    url = replica_db_url(replica, primary_db)

    def reachable() -> bool:
        try:
            with psycopg.connect(url, connect_timeout=2) as c:
                return bool(c.execute("select to_regclass('public.t') is not null").fetchone()[0])  # type: ignore[index]
        except psycopg.OperationalError:
            return False

    wait_for(reachable, timeout=30, interval=0.1)
    return url


def fill(conn: Conn, rows: int) -> None:
    conn.execute("create table t (id int primary key, v int not null)")
    conn.execute(f"insert into t select i, i from generate_series(1, {rows}) i")
    conn.execute("analyze t")


@pytest.mark.parametrize("watch", ["primary_view", "replica_url"])
def test_backfill_waits_for_a_lagging_replica(replica_url: str, pg15_url: str, watch: str) -> None:
    with psycopg.connect(pg15_url, autocommit=True) as conn:
        fill(conn, 200_000)
        replica = replica_ready(replica_url, pg15_url)
        with psycopg.connect(replica, autocommit=True) as standby:
            standby.execute("select pg_wal_replay_pause()")
            recorder = Recorder()
            settings: dict[str, Any] = {
                "batch_size": 500,
                "throttle_poll_s": 0.1,
                "max_replication_lag_s": 0.2,
            }
            if watch == "replica_url":
                settings["replica_urls"] = [replica]
            runner = migrator(pg15_url, recorder, **settings)
            backfill = Background(lambda: runner.start(migration("t", "w", "bigint", UP)))
            try:
                throttled = wait_for(
                    lambda: (backfill_row(conn) or {}).get("throttle"), timeout=60, interval=0.05
                )
                assert "behind" in throttled and "limit 0.2s" in throttled
                if watch == "replica_url":
                    assert "replay paused" in throttled or "15/lsreplica" in throttled, throttled
                # While throttled, no batch runs: the checkpoint stands still.
                held = backfill_row(conn)
                assert held is not None
                time.sleep(1.0)
                again = backfill_row(conn)
                assert again is not None
                assert again["rows_done"] == held["rows_done"] < 200_000
                assert again["throttle"] is not None
                status = runner.status()["active"]["backfills"][0]
                assert "behind" in status["throttle"]
            finally:
                standby.execute("select pg_wal_replay_resume()")
            backfill.finish()
            assert recorder.throttles
            assert wrong_rows(conn, "t", "_ls_new_w", UP) == 0
            done = backfill_row(conn)
            assert done is not None
            assert done["finished_at"] is not None and done["throttle"] is None


def test_the_replica_view_sees_paused_replay(replica_url: str, pg15_url: str) -> None:
    """pg_stat_replication.replay_lag goes stale while replay is paused; the throttle's own
    measures (the primary's WAL history against the replay position) do not."""
    with psycopg.connect(pg15_url, autocommit=True) as conn:
        fill(conn, 10)
        replica = replica_ready(replica_url, pg15_url)
        throttle = Throttle(
            conn,
            Settings(replica_urls=[replica], max_replication_lag_s=0.3, throttle_poll_s=0),
            None,
            "public",
        )
        try:
            assert wait_for(lambda: throttle.reason(force=True) is None, timeout=30)
            with psycopg.connect(replica, autocommit=True) as standby:
                standby.execute("select pg_wal_replay_pause()")
                try:

                    def lagging() -> str | None:
                        conn.execute("insert into t select max(id) + 1, 0 from t")
                        return throttle.reason(force=True)

                    reason = wait_for(lagging, timeout=30, interval=0.1)
                    assert "behind" in reason
                    urls = [k for k in throttle.lag if "127.0.0.1" in k]
                    assert urls and "replay paused" in throttle.lag[urls[0]]["detail"]
                finally:
                    standby.execute("select pg_wal_replay_resume()")
            assert wait_for(lambda: throttle.reason(force=True) is None, timeout=30)
        finally:
            throttle.close()


def set_apply_delay(replica_admin: str, delay: str | None) -> None:
    """recovery_min_apply_delay on the replica: it applies each commit that long after the
    primary made it (a lag that persists while the primary writes, unlike a paused replay)."""
    with psycopg.connect(replica_admin, autocommit=True) as standby:
        if delay is None:
            standby.execute("alter system reset recovery_min_apply_delay")
        else:
            standby.execute(f"alter system set recovery_min_apply_delay = '{delay}'")
        standby.execute("select pg_reload_conf()")


def test_backfill_pauses_above_the_limit_and_continues_below(
    replica_url: str, pg15_url: str
) -> None:
    """The replica applies commits 3 s late (above --max-replication-lag 1s): the backfill
    waits, saying why. At 200 ms (below the limit) it continues and finishes."""
    with psycopg.connect(pg15_url, autocommit=True) as conn:
        fill(conn, 200_000)
        replica_ready(replica_url, pg15_url)
        set_apply_delay(replica_url, "3s")
        recorder = Recorder()
        # Small batches: the backfill must still be running when the lag is first seen (the
        # throttle dates the replica's position against WAL history it starts keeping now).
        runner = migrator(
            pg15_url, recorder, batch_size=100, throttle_poll_s=0.1, max_replication_lag_s=1.0
        )
        backfill = Background(lambda: runner.start(migration("t", "w", "bigint", UP)))
        try:
            throttled = wait_for(
                lambda: (backfill_row(conn) or {}).get("throttle"), timeout=60, interval=0.05
            )
            assert "behind" in throttled and "(limit 1s)" in throttled
            # Every commit (the throttle's own notes included) reaches the replica 3 s late, so
            # the lag stays above the limit: no batch runs.
            held = backfill_row(conn)
            assert held is not None
            time.sleep(1.5)
            again = backfill_row(conn)
            assert again is not None
            assert again["rows_done"] == held["rows_done"] < 200_000
            assert again["throttle"] is not None
            set_apply_delay(replica_url, "200ms")
            backfill.finish(timeout=180)
        finally:
            set_apply_delay(replica_url, None)
            backfill.thread.join(timeout=180)
        assert any("behind" in t for t in recorder.throttles)
        assert wrong_rows(conn, "t", "_ls_new_w", UP) == 0
        done = backfill_row(conn)
        assert done is not None
        assert done["finished_at"] is not None and done["throttle"] is None
        assert done["rows_done"] == 200_000
