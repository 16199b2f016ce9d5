"""PostgreSQL's measurements for the backfill's throttle: replica lag from WAL positions, the load
of the database's other sessions, and the primary's WAL position."""

from __future__ import annotations

from liveshift.engines.backfill import LoadSample, ReplicaLag, ReplicaView
from liveshift.engines.base import Connection

# Every replica as the primary sees it. `replay_lag` alone is not trusted: it only moves when replay
# does, so while a replica's replay is stalled it keeps showing its last (small) figure. The replay
# position is compared with the primary's WAL history instead (see throttle.LagClock).
_PRIMARY_REPLICAS = """
select application_name, coalesce(client_addr::text, 'local'),
       coalesce(extract(epoch from replay_lag), 0)::float8,
       replay_lsn::text,
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::float8
from pg_stat_replication
"""

_CURRENT_LSN = "select pg_current_wal_lsn()::text, pg_is_in_recovery()"

# A replica's own view: how far it has replayed, whether replay is paused, and how old the last
# replayed transaction is while WAL it has received still waits to be replayed.
_REPLICA_VIEW = """
select pg_last_wal_replay_lsn()::text,
       pg_is_wal_replay_paused(),
       case when pg_last_wal_receive_lsn() is not distinct from pg_last_wal_replay_lsn() then 0
            else coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0)
       end::float8
"""

# What the database's other sessions are doing, in one row: how many run a statement, how many of
# those wait on IO, an LWLock (WALWrite among them) or a lock, and on what. liveshift's own
# sessions are left out (this one by pid, others by application_name), as are background
# processes. Waits of other kinds (a client read, pg_sleep) are not contention. (`%%` because
# the backfill sends it with parameters; sent without, `%%` still matches any suffix.)
LOAD_WAITS = ("IO", "LWLock", "Lock")
LOAD_SAMPLE = f"""
select count(*) filter (where state = 'active')::int as active,
       count(*) filter (where state = 'active' and wait_event_type in {LOAD_WAITS!r})::int
           as waiting,
       string_agg(distinct wait_event_type || ':' || wait_event, ', ')
           filter (where state = 'active' and wait_event_type in {LOAD_WAITS!r}) as waits
from pg_stat_activity
where datname = current_database() and backend_type = 'client backend'
  and pid <> pg_backend_pid() and application_name not like 'liveshift%%'
"""


def lsn_to_int(lsn: str | None) -> int | None:
    """'16/B374D848' -> a byte position."""
    if not lsn:
        return None
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


class PgMonitor:
    """The Monitor of PostgreSQL (engines/backfill.py)."""

    load_sample_sql: str = LOAD_SAMPLE

    def load(self, conn: Connection) -> LoadSample:
        return LoadSample.of(conn.execute(LOAD_SAMPLE).fetchone())

    def wal_position(self, conn: Connection) -> int | None:
        row = conn.execute(_CURRENT_LSN).fetchone()
        if row is None or row[1]:  # not a primary: nothing streams from here
            return None
        return lsn_to_int(row[0]) or 0

    def replicas(self, conn: Connection) -> list[ReplicaLag]:
        return [
            ReplicaLag(name or addr, lsn_to_int(replay_lsn), float(replay_lag), lag_bytes)
            for name, addr, replay_lag, replay_lsn, lag_bytes in conn.execute(
                _PRIMARY_REPLICAS
            ).fetchall()
        ]

    def replica_view(self, conn: Connection) -> ReplicaView:
        row = conn.execute(_REPLICA_VIEW).fetchone()
        if row is None or row[0] is None:
            return ReplicaView(None, False, 0.0)
        return ReplicaView(lsn_to_int(row[0]), bool(row[1]), float(row[2] or 0))
