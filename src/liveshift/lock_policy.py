"""How long each try for a strong lock may queue, how long to pause between tries, when to escalate.

While a DDL statement waits for its lock, every application query on the table queues behind it, so
the wait of one try is the stall the application sees. The default keeps that wait short (50 ms)
and tries again after a jittered pause. A table that always has a transaction open never grants a
short try: after `escalate_after_s` without the lock, each try may wait twice as long as the one
before, up to `max_try_ms`, and every escalation is reported. `--lock-timeout` fixes every try's
wait instead (no escalation), as before. docs/design.md, *The lock policy*, has the measurements.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from liveshift.retry import backoff_s
from liveshift.settings import format_duration

DEFAULT_TRY_MS = 50


@dataclass(frozen=True)
class LockPolicy:
    """The lock waits of the steps that would queue application traffic (`Step.guarded`)."""

    try_ms: int = DEFAULT_TRY_MS  # the first tries' lock_timeout: the longest stall each causes
    fixed: bool = False  # every try waits `try_ms`: never escalate (--lock-timeout was given)
    escalate_after_s: float = 5.0  # tries at `try_ms` for this long before escalating
    escalate_every_s: float = 2.0  # then double the try's wait this often
    max_try_ms: int = 2_000  # the longest one try may wait once escalated
    pause_base_s: float = 0.05  # the pause between tries: full jitter between this and ...
    pause_cap_s: float = 1.0  # ... this, growing with the number of tries
    deadline_s: float = 600.0  # give up after trying this long

    def try_timeout_ms(self, waited_s: float) -> int:
        """The lock_timeout of a try that begins `waited_s` after the first try of this lock
        began."""
        if self.fixed or waited_s < self.escalate_after_s:
            return self.try_ms
        doublings = 1 + int((waited_s - self.escalate_after_s) // self.escalate_every_s)
        return int(min(max(self.max_try_ms, self.try_ms), self.try_ms * 2 ** min(doublings, 16)))

    def pause_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """The pause after the `attempt`-th failed try (1 for the first): exponential with full
        jitter, so that a herd of retries spreads out, and capped, so that the lock is taken soon
        after the blocker ends."""
        return backoff_s(attempt, self.pause_base_s, self.pause_cap_s, rng)

    def describe(self) -> str:
        """One line for `plan` and the report."""
        deadline = format_duration(self.deadline_s)
        if self.fixed:
            return (
                f"each try waits at most {self.try_ms} ms for its lock (--lock-timeout), "
                f"retried with jittered pauses for up to {deadline}"
            )
        return (
            f"each try waits at most {self.try_ms} ms for its lock (the longest an application "
            f"query queues behind it), retried with jittered pauses; after "
            f"{format_duration(self.escalate_after_s)} without the lock each try may wait twice as "
            f"long, up to {self.max_try_ms} ms (reported); gives up after {deadline}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "try_ms": self.try_ms,
            "fixed": self.fixed,
            "escalate_after_s": self.escalate_after_s,
            "escalate_every_s": self.escalate_every_s,
            "max_try_ms": self.max_try_ms,
            "deadline_s": self.deadline_s,
        }
