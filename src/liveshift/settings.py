"""Tuning knobs of a run, with the defaults a production database wants."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from liveshift.errors import ConfigError


@dataclass
class Settings:
    """How a run behaves: lock waits, batch sizing, throttles. Every option of the CLI maps here."""

    lock_timeout_ms: int = 500
    lock_retry_deadline_s: float = 600.0
    lock_retry_max_backoff_s: float = 5.0
    statement_timeout_ms: int | None = None
    batch_size: int | None = None  # None: adaptive (sized to batch_target_ms)
    batch_target_ms: int = 200
    batch_min: int = 100
    batch_max: int = 100_000
    batch_start: int = 1_000
    batch_row_lock_timeout_ms: int = 2_000
    max_replication_lag_s: float = 1.0
    replica_urls: list[str] = field(default_factory=list)
    throttle_query: str | None = None
    throttle_poll_s: float = 0.5
    verify: bool = False
    application_name: str = "liveshift"
    runner_lock_wait_s: float = 10.0  # wait this long for a just-killed runner's lock to go


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
