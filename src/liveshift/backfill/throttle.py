"""Reasons a backfill should wait or slow down: a pause order, a user throttle query, replication
lag, and the load of the database's other sessions. The policy is here; the measurements (WAL
positions, the other sessions' load) come from the engine's Monitor."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from liveshift.connect import connect, redact
from liveshift.engines.backfill import LoadSample, Monitor, backfill_engine
from liveshift.engines.base import Connection, DriverError
from liveshift.errors import DatabaseError
from liveshift.settings import Settings
from liveshift.state import StateStore


class LoadPacer:
    """Load-aware rest between batches: grows while other sessions are seen waiting on IO,
    LWLocks or locks (the backfill's WAL, dirty pages and row locks are what they queue behind),
    decays to nothing when they are not. A sample is one instant, and an application's waits are
    short, so one sighting raises the rest by a quarter of the most and the rest then halves every
    `half_life_s` of wall time: a steadily hurting application keeps it near `max_rest`, an idle
    database brings it to zero within seconds."""

    def __init__(self, max_rest: float, half_life_s: float = 0.5) -> None:
        self.max_rest = max_rest
        self.half_life_s = half_life_s
        self.rest = 0.0  # fraction of the last batch's duration to rest after it
        self.waits: str | None = None  # what the waiting sessions were last seen waiting on
        self.waiting = 0
        self._at: float | None = None

    def observe(self, sample: LoadSample, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._at is not None and self.rest > 0:
            self.rest *= 0.5 ** ((now - self._at) / max(self.half_life_s, 1e-3))
            if self.rest < self.max_rest / 100:
                self.rest = 0.0
        self._at = now
        if sample.waiting > 0 and self.max_rest > 0:
            self.rest = min(self.max_rest, self.rest + self.max_rest / 4)
            self.waits, self.waiting = sample.waits, sample.waiting
        elif self.rest == 0:
            self.waits, self.waiting = None, 0

    @property
    def reason(self) -> str | None:
        if self.rest <= 0:
            return None
        sessions = "session" if self.waiting == 1 else "sessions"
        return (
            f"load: resting {self.rest:.2f}x each batch; {self.waiting} other {sessions} seen "
            f"waiting ({self.waits or 'IO/LWLock/Lock'}) (--load-pause {self.max_rest:g})"
        )


class LagClock:
    """Turns a replay position into seconds of lag from the primary's own WAL history: a replica
    that has not replayed the WAL the primary wrote `t` seconds ago is at least `t` seconds behind,
    whatever its (possibly stale) `replay_lag` says."""

    def __init__(self, keep_s: float = 3600.0) -> None:
        self.keep_s = keep_s
        self.samples: deque[tuple[float, int]] = deque()  # (monotonic time, primary WAL position)

    def record(self, position: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if not self.samples or position > self.samples[-1][1]:
            self.samples.append((now, position))
        while self.samples and now - self.samples[0][0] > self.keep_s and len(self.samples) > 1:
            self.samples.popleft()

    def lag_s(self, replayed: int, now: float | None = None) -> float:
        """Seconds since the primary first wrote WAL past `replayed` (0 when it is caught up)."""
        now = time.monotonic() if now is None else now
        previous: tuple[float, int] | None = None
        for at, position in self.samples:
            if position > replayed:
                if previous is None:
                    return now - at
                # The WAL just past `replayed` was written between two samples: interpolate.
                t0, p0 = previous
                written = t0 + (at - t0) * (replayed - p0) / max(position - p0, 1)
                return max(now - written, 0.0)
            previous = (at, position)
        return 0.0


class Throttle:
    """Answers "should the backfill wait, and why?" — checked before every batch, with the
    database queries made at most every `throttle_poll_s`."""

    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        state: StateStore | None,
        schema: str,
        *,
        monitor: Monitor | None = None,
    ) -> None:
        self.conn = conn
        self.monitor = monitor or backfill_engine().monitor()
        self.settings = settings
        self.state = state
        self.schema = schema
        self._replicas: dict[str, Connection | None] = {url: None for url in settings.replica_urls}
        self._last_check = 0.0
        self._last_reason: str | None = None
        self.clock = LagClock()
        self.lag: dict[str, dict[str, Any]] = {}  # the last measurement of each replica

    def reason(self, force: bool = False) -> str | None:
        now = time.monotonic()
        if not force and now - self._last_check < self.settings.throttle_poll_s:
            return self._last_reason
        self._last_check = now
        self._last_reason = self._check()
        return self._last_reason

    def _check(self) -> str | None:
        if self.state is not None:
            paused = self.state.paused(self.schema)
            if paused:
                return f"paused ({paused}); `liveshift resume` continues"
        if self.settings.throttle_query:
            row = self.conn.execute(self.settings.throttle_query).fetchone()
            if row and row[0]:
                return f"the throttle query returned {row[0]!r}"
        if self.settings.max_load is not None:
            load = self.monitor.load(self.conn)
            if load.active > self.settings.max_load:
                return (
                    f"load: {load.active} other sessions of the database are active "
                    f"(--max-load {self.settings.max_load})"
                )
        limit = self.settings.max_replication_lag_s
        if limit > 0:
            return self._lag_reason(limit)
        return None

    def _lag_reason(self, limit: float) -> str | None:
        position = self.monitor.wal_position(self.conn)
        if position is None:  # not a primary: nothing streams from here
            return None
        self.clock.record(position)
        worst: tuple[float, str] | None = None
        for replica in self.monitor.replicas(self.conn):
            replayed = replica.replayed
            behind = self.clock.lag_s(replayed) if replayed is not None else float("inf")
            seconds = max(replica.replay_lag_s, behind)
            label = f"replica {replica.name}"
            lag_bytes = replica.lag_bytes
            self.lag[label] = {
                "seconds": seconds,
                "bytes": lag_bytes,
                "replay_lag": replica.replay_lag_s,
            }
            detail = f"{seconds:.1f}s behind, {_size(lag_bytes)} not replayed"
            if seconds > limit and (worst is None or seconds > worst[0]):
                worst = (seconds, f"{label} is {detail} (limit {limit:g}s)")
        for url in self._replicas:
            seconds, detail = self._replica_lag(url)
            label = f"replica {_safe_url(url)}"
            self.lag[label] = {"seconds": seconds, "detail": detail}
            if seconds > limit and (worst is None or seconds > worst[0]):
                worst = (seconds, f"{label} is {detail} (limit {limit:g}s)")
        return worst[1] if worst else None

    def _replica_lag(self, url: str) -> tuple[float, str]:
        """Lag of a replica given by URL, measured on the replica: the primary's WAL history
        against its replay position, and the age of its last replayed transaction."""
        conn = self._replicas.get(url)
        try:
            if conn is None or conn.closed:
                conn = connect(url, "liveshift-throttle", timeout_s=5)
                self._replicas[url] = conn
            view = self.monitor.replica_view(conn)
        except (DriverError, DatabaseError) as exc:
            self._replicas[url] = None
            # An unreachable replica is a reason to wait, not to guess that it is fine.
            return float("inf"), f"unreachable ({str(exc).strip().splitlines()[0]})"
        if view.replayed is None:
            return float("inf"), "not a replica (pg_last_wal_replay_lsn() is null)"
        replayed = view.replayed
        seconds = max(self.clock.lag_s(replayed), view.age_s)
        primary = self.clock.samples[-1][1] if self.clock.samples else replayed
        paused = ", replay paused" if view.paused else ""
        return seconds, (
            f"{seconds:.1f}s behind, {_size(max(primary - replayed, 0))} not replayed{paused}"
        )

    def close(self) -> None:
        for conn in self._replicas.values():
            if conn is not None:
                conn.close()


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _safe_url(url: str) -> str:
    host_port: str = redact(url).rsplit("@", 1)[-1].rsplit("/", 1)[0]
    return host_port


__all__ = ["LagClock", "LoadPacer", "LoadSample", "Throttle"]
