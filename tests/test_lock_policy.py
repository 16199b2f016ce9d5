"""The lock policy's arithmetic (pure logic, no server): short tries, escalation, pauses."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from liveshift.lock_policy import DEFAULT_TRY_MS, LockPolicy
from liveshift.settings import Settings


def test_default_tries_are_short_until_the_lock_has_been_missed_for_long() -> None:
    policy = Settings().lock_policy
    assert not policy.fixed
    assert policy.try_ms == DEFAULT_TRY_MS == 50
    assert policy.try_timeout_ms(0.0) == 50
    assert policy.try_timeout_ms(policy.escalate_after_s - 0.01) == 50
    # Then each escalation doubles the wait of a try, up to the cap.
    assert policy.try_timeout_ms(policy.escalate_after_s) == 100
    assert policy.try_timeout_ms(policy.escalate_after_s + policy.escalate_every_s) == 200
    assert policy.try_timeout_ms(policy.escalate_after_s + 10 * policy.escalate_every_s) == (
        policy.max_try_ms
    )


def test_lock_timeout_fixes_every_try() -> None:
    policy = Settings(lock_timeout_ms=500).lock_policy
    assert policy.fixed
    assert {policy.try_timeout_ms(t) for t in (0.0, 10.0, 1000.0)} == {500}
    assert "--lock-timeout" in policy.describe()


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_pauses_stay_between_the_base_and_the_cap(attempt: int, seed: int) -> None:
    policy = LockPolicy()
    pause = policy.pause_s(attempt, random.Random(seed))
    assert policy.pause_base_s <= pause <= policy.pause_cap_s


@given(st.floats(min_value=0, max_value=1e6), st.floats(min_value=0, max_value=1e6))
def test_tries_never_get_shorter_as_the_wait_goes_on(a: float, b: float) -> None:
    policy = LockPolicy()
    early, late = sorted((a, b))
    assert policy.try_timeout_ms(early) <= policy.try_timeout_ms(late) <= policy.max_try_ms


def test_the_description_states_the_policy() -> None:
    text = LockPolicy().describe()
    assert "50 ms" in text and "2000 ms" in text and "10 min" in text
