"""Tuning knobs of a run, with the defaults a production database wants."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from liveshift.errors import ConfigError

if TYPE_CHECKING:
    from liveshift.lock_policy import LockPolicy


@dataclass
class Settings:
    """How a run behaves: lock waits, batch sizing, throttles. Every option of the CLI maps here."""

    # Each try's wait for a strong lock; None: the lock policy's short tries with escalation
    # (lock_policy.py). A number fixes every try's wait (--lock-timeout).
    lock_timeout_ms: int | None = None
    lock_retry_deadline_s: float = 600.0
    lock_retry_max_backoff_s: float = 1.0
    lock_escalate_after_s: float = 5.0  # short tries for this long before each may wait longer
    statement_timeout_ms: int | None = None
    batch_size: int | None = None  # None: adaptive (sized to batch_target_ms)
    batch_target_ms: int = 20
    batch_min: int = 100
    batch_max: int = 100_000
    batch_start: int = 1_000
    # Lanes that backfill slices of the key range at once, each on its own connection. More
    # than one uses that many CPUs of the server (and that much more WAL per second).
    workers: int = 1
    # Rest after each batch for this fraction of its duration: room for the application's own
    # writes (CPU, WAL flushes) between batches. 0 runs batches back to back.
    batch_pause: float = 0.0
    # How long a batch waits for a row lock the application holds before it rolls back and
    # retries smaller; None: the batch target (a batch never holds its own locks much longer).
    batch_row_lock_timeout_ms: int | None = None
    # False: batches commit without waiting for their WAL flush. Safe (docs/backfill.md: a crash
    # undoes only the last batches, with their checkpoints, and they are redone) but the flush
    # then falls to the application's next commit, which lengthens its tail latency.
    batch_synchronous_commit: bool = True
    # Load-aware pacing. `load_pause`: the longest rest after a batch, as a fraction of its
    # duration, that the backfill takes while other sessions of the database are seen waiting on
    # IO, LWLocks (WAL writes among them) or locks; it decays to nothing when they are not, so an
    # idle database gets full speed. 0 turns it off.
    load_pause: float = 0.0
    load_half_life_s: float = 0.5  # how fast that rest decays once no session waits
    # Wait (like the other throttles) while more than this many other sessions of the database
    # are active. None: off.
    max_load: int | None = None
    max_replication_lag_s: float = 1.0
    replica_urls: list[str] = field(default_factory=list)
    throttle_query: str | None = None
    throttle_poll_s: float = 0.5
    verify: bool = False
    application_name: str = "liveshift"
    # A runner killed a moment ago (kill -9, a dropped network) holds the schema's runner lock
    # until the server notices its session is gone: every runner waits this long for that.
    runner_lock_wait_s: float = 10.0
    runner_wait_s: float = 0.0  # --wait: how long to wait for another (live) runner to finish
    reconnect_timeout_s: float = 60.0  # reconnect and resume for this long after a lost connection

    @property
    def lock_policy(self) -> LockPolicy:
        """How the steps that would queue application traffic wait for their locks."""
        from liveshift.lock_policy import DEFAULT_TRY_MS, LockPolicy

        return LockPolicy(
            try_ms=self.lock_timeout_ms or DEFAULT_TRY_MS,
            fixed=self.lock_timeout_ms is not None,
            pause_cap_s=self.lock_retry_max_backoff_s,
            escalate_after_s=self.lock_escalate_after_s,
            deadline_s=self.lock_retry_deadline_s,
        )

    @property
    def row_lock_timeout_ms(self) -> int:
        if self.batch_row_lock_timeout_ms is not None:
            return self.batch_row_lock_timeout_ms
        return max(self.batch_target_ms, 50)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h)?\s*$")
_UNIT_MS = {"ms": 1.0, "s": 1000.0, None: 1.0, "min": 60_000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_duration_ms(text: str, option: str, default_unit: str = "ms") -> int:
    """'500ms', '2s', '1.5s', '500' (in the default unit) -> milliseconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(
            f"{option}: {text!r} is not a duration",
            hint="Write a number with a unit: 500ms, 2s, 1min.",
        )
    value, unit = float(match.group(1)), match.group(2) or default_unit
    return int(value * _UNIT_MS[unit])


def format_duration(seconds: float) -> str:
    """Seconds as a person reads them, the inverse of parse_duration_ms: '45 s', '10 min',
    '2 min 05 s', '3 h 07 min'."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:g} s" if seconds < 10 and seconds != whole else f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min" + (f" {rest:02d} s" if rest else "")
    hours, rest = divmod(whole // 60, 60)
    return f"{hours} h" + (f" {rest:02d} min" if rest else "")


def parse_fraction(text: str, option: str) -> float:
    """'0.25' -> 0.25: a non-negative fraction (of a batch's duration)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise ConfigError(
            f"{option}: {text!r} is not a non-negative number",
            hint="Give a fraction of each batch's duration: 0 (none), 0.25, 1 (rest as long as "
            "the batch ran).",
        )
    return value


def parse_max_load(text: str) -> int | None:
    """'off' -> None, '20' -> 20: the most other active sessions the backfill runs beside."""
    if str(text).strip().lower() == "off":
        return None
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if limit < 0:
        raise ConfigError(
            f"--max-load: {text!r} is neither `off` nor a number of sessions",
            hint="Give how many other sessions of the database may be active while the backfill "
            "runs, such as 20 (it waits while more are), or `off`.",
        )
    return limit


MAX_WORKERS = 32


def parse_workers(text: str) -> int:
    """'2' -> 2: how many lanes backfill at once."""
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(
            f"--workers: {text!r} is not a number of workers from 1 to {MAX_WORKERS}",
            hint="Give how many connections backfill slices of the table at once, such as 2; "
            "each keeps one CPU of the server busy.",
        )
    return workers


def parse_batch_size(text: str) -> int | None:
    if str(text).strip().lower() == "auto":
        return None
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size <= 0:
        raise ConfigError(
            f"--batch-size: {text!r} is neither `auto` nor a positive number of rows",
            hint="Use `auto` (sized to --batch-target) or a row count such as 5000.",
        )
    return size
