"""One loop for every wait on a lock: try, and on a refusal pause with jitter and try again, until a deadline."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from liveshift.engines.base import DriverError, LockNotAvailable

T = TypeVar("T")


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: a herd of retries spreads out, and the cap keeps the
    lock taken soon after its holder lets go. `attempt` counts refused tries (1 for the first)."""
    ceiling: float = min(cap_s, base_s * (2 ** min(attempt, 16)))
    return (rng or random).uniform(base_s, max(base_s, ceiling))


@dataclass(frozen=True)
class Refusal:
    """One refused try, as `with_retries` tells its `on_refused` hook."""

    error: DriverError
    attempt: int  # refused tries so far, this one included (1 for the first)
    waited_s: float  # since the first try began
    pause_s: float  # the pause before the next try
    timeout_ms: int  # the bound of the refused try
    next_timeout_ms: int  # the bound of the next try (greater: the policy escalated)
    gives_up: bool  # the next try would begin past the deadline: there is none

    @property
    def escalates(self) -> bool:
        return self.next_timeout_ms != self.timeout_ms


def with_retries(
    action: Callable[[int, int], T],
    *,
    deadline_s: float,
    pause_s: Callable[[int], float],
    try_timeout_ms: Callable[[float], int] = lambda _waited_s: 0,
    retry_on: tuple[type[DriverError], ...] = (LockNotAvailable,),
    on_refused: Callable[[Refusal], None] | None = None,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[T, int]:
    """Run `action(retries, timeout_ms)` until it is not refused; returns what it returned and how
    many retries that took.

    A refusal is an error of a class in `retry_on` (the engine maps its codes onto them: lock not
    available, deadlock). After the n-th, the loop pauses `pause_s(n)` and tries again with the
    bound `try_timeout_ms(waited_s)`, where `waited_s` counts from the first try (a policy that
    escalates waits longer after long without the lock). `on_refused` hears every refusal before
    the pause: to report it, or to raise an error of its own when `gives_up`. A try that would
    begin after `deadline_s` is not made: the refusal's error is raised again (unless the hook
    raised its own). Any other error goes through at once."""
    first = clock()
    attempt = 0
    timeout_ms = try_timeout_ms(0.0)
    while True:
        try:
            return action(attempt, timeout_ms), attempt
        except retry_on as exc:
            attempt += 1
            pause = pause_s(attempt)
            waited = clock() - first
            refusal = Refusal(
                error=exc,
                attempt=attempt,
                waited_s=waited,
                pause_s=pause,
                timeout_ms=timeout_ms,
                next_timeout_ms=try_timeout_ms(waited + pause),
                gives_up=waited + pause > deadline_s,
            )
            if on_refused is not None:
                on_refused(refusal)
            if refusal.gives_up:
                raise
        timeout_ms = refusal.next_timeout_ms
        sleep(refusal.pause_s)
