"""Reasons a backfill should wait: a pause order, a user throttle query, replication lag."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from liveshift.settings import Settings
from liveshift.state import StateStore

# Lag as the primary sees it. replay_lag goes stale while a replica's replay is paused (it only
# moves when replay does), so byte lag is checked too: WAL written but not yet replayed.
_PRIMARY_LAG = """
select application_name, coalesce(extract(epoch from replay_lag), 0)::float8,
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::float8
from pg_stat_replication
"""

# Lag as a replica sees it: how old the last replayed transaction is, while WAL is waiting.
_REPLICA_LAG = """
select case when pg_last_wal_receive_lsn() is not distinct from pg_last_wal_replay_lsn() then 0
            else coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0) end::float8
"""


class Throttle:
    """Answers "should the backfill wait, and why?" — checked before every batch, with the
    database queries made at most every `throttle_poll_s`."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        settings: Settings,
        state: StateStore | None,
        schema: str,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.state = state
        self.schema = schema
        self._replicas: dict[str, psycopg.Connection[Any] | None] = {
            url: None for url in settings.replica_urls
        }
        self._last_check = 0.0
        self._last_reason: str | None = None

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
                return "the throttle query returned true"
        limit = self.settings.max_replication_lag_s
        if limit > 0:
            for name, seconds, _bytes in self.conn.execute(_PRIMARY_LAG).fetchall():
                if seconds > limit:
                    return f"replica {name or '?'} is {seconds:.1f}s behind (limit {limit:g}s)"
            for url in self._replicas:
                seconds = self._replica_lag(url)
                if seconds is not None and seconds > limit:
                    return f"replica {_safe_url(url)} is {seconds:.1f}s behind (limit {limit:g}s)"
        return None

    def _replica_lag(self, url: str) -> float | None:
        conn = self._replicas.get(url)
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
                self._replicas[url] = conn
            row = conn.execute(_REPLICA_LAG).fetchone()
            return float(row[0]) if row else None
        except psycopg.Error:
            self._replicas[url] = None
            # An unreachable replica is a reason to wait, not to guess it is fine.
            return float("inf")

    def close(self) -> None:
        for conn in self._replicas.values():
            if conn is not None:
                conn.close()


def _safe_url(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "(replica)"
    return f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
