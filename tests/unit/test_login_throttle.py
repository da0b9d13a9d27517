"""The login throttle's rules on their own, with the time handed in: lockouts per user and per
address, their growth, what a success resets, the sliding window, and the memory bound."""

from __future__ import annotations

import pytest

from hall_controller.users.rules import KeyKind, LoginThrottle, ThrottlePolicy

POLICY = ThrottlePolicy(max_failures_per_user=5, max_failures_per_address=8,
                        failure_window_s=600, lockout_base_s=60, lockout_max_s=3600,
                        tracked_keys=100)


def fail(throttle: LoginThrottle, times: int, username: str = "ada", address: str = "10.0.0.1",
         now: float = 0.0) -> list[KeyKind]:
    """Fail ``times`` logins at ``now``; the kinds of key locked on the way."""
    return [lockout.kind for _ in range(times)
            for lockout in throttle.record_failure(username, address, now)]


def test_the_nth_failure_locks_the_user_for_the_base_time() -> None:
    throttle = LoginThrottle(POLICY)
    assert fail(throttle, 4) == []
    assert throttle.retry_after("ada", "10.0.0.1", 0.0) == 0
    [lockout] = throttle.record_failure("ada", "10.0.0.1", 1.0)
    assert (lockout.kind, lockout.key, lockout.failures, lockout.nth) == (KeyKind.USER, "ada", 5, 1)
    assert (lockout.locked_at, lockout.locked_until) == (1.0, 61.0)
    # From anywhere, for as long as the lockout runs, and not a moment longer.
    assert throttle.retry_after("ada", "10.9.9.9", 31.0) == 30.0
    assert throttle.retry_after("ada", "10.9.9.9", 61.0) == 0


def test_each_further_lockout_doubles_up_to_the_maximum() -> None:
    throttle = LoginThrottle(POLICY)
    now, lengths = 0.0, []
    for _ in range(9):
        # A fresh address each round, so only the user's lockouts are measured.
        lockouts = [lo for _ in range(5)
                    for lo in throttle.record_failure("ada", f"10.0.0.{len(lengths)}", now)]
        [lockout] = lockouts
        lengths.append(lockout.locked_until - lockout.locked_at)
        now = lockout.locked_until  # try again as soon as it ends
    assert lengths == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_a_lockout_starts_the_count_afresh() -> None:
    throttle = LoginThrottle(POLICY)
    assert fail(throttle, 5) == [KeyKind.USER]
    # After the lockout, four more failures do not lock again; the fifth does.
    assert fail(throttle, 4, address="10.0.0.2", now=100.0) == []
    assert fail(throttle, 1, address="10.0.0.2", now=100.0) == [KeyKind.USER]


def test_a_success_resets_the_user_but_not_the_address() -> None:
    throttle = LoginThrottle(POLICY)
    fail(throttle, 4, username="ada", address="10.0.0.1")
    fail(throttle, 3, username="bob", address="10.0.0.1")
    throttle.record_success("ada")
    # Ada has her five tries again ...
    assert fail(throttle, 4, username="ada", address="10.0.0.2") == []
    # ... but the address still counts the seven failures: the eighth locks it.
    assert fail(throttle, 1, username="cleo", address="10.0.0.1") == [KeyKind.ADDRESS]
    assert throttle.retry_after("dan", "10.0.0.1", 1.0) == 59.0


def test_a_success_forgets_the_users_lockout_growth() -> None:
    throttle = LoginThrottle(POLICY)
    fail(throttle, 5, address="10.0.0.1")
    fail(throttle, 5, address="10.0.0.2", now=60.0)  # the second lockout: 120 s
    throttle.record_success("ada")
    lockouts = [lo for _ in range(5) for lo in throttle.record_failure("ada", "10.0.0.3", 200.0)]
    assert [(lo.kind, lo.nth, lo.locked_until - lo.locked_at)
            for lo in lockouts] == [(KeyKind.USER, 1, 60)]


def test_the_address_counts_failures_for_every_name_tried_from_it() -> None:
    throttle = LoginThrottle(POLICY)
    locked = [lo.kind for n in range(8)
              for lo in throttle.record_failure(f"user{n}", "10.0.0.1", 0.0)]
    assert locked == [KeyKind.ADDRESS]
    assert throttle.retry_after("somebody-else", "10.0.0.1", 0.0) == 60
    assert throttle.retry_after("somebody-else", "10.0.0.2", 0.0) == 0


def test_failures_older_than_the_window_do_not_count() -> None:
    throttle = LoginThrottle(POLICY)
    fail(throttle, 4, now=0.0)
    # 600 s later the first four have left the window: four more are not yet a lockout.
    assert fail(throttle, 4, now=600.0) == []
    assert fail(throttle, 1, now=601.0) == [KeyKind.USER]


def test_failures_within_the_window_add_up() -> None:
    throttle = LoginThrottle(POLICY)
    for n in range(4):
        assert fail(throttle, 1, now=n * 140.0) == []  # one every 140 s: all within 600 s
    assert fail(throttle, 1, now=599.0) == [KeyKind.USER]


def test_a_quiet_key_is_forgotten_with_its_growth() -> None:
    throttle = LoginThrottle(POLICY)
    fail(throttle, 5, now=0.0)
    fail(throttle, 5, now=60.0)  # second lockout, until 180
    # Quiet for the longest lockout after the last one ended: the next starts at the base.
    later = 180.0 + 3600.0
    throttle.record_failure("someone", "10.0.0.9", later)  # any failure tidies up
    assert throttle.tracked(KeyKind.USER) == 1
    lockouts = [lo for _ in range(5) for lo in throttle.record_failure("ada", "10.0.0.1", later)]
    assert [lo.nth for lo in lockouts if lo.kind is KeyKind.USER] == [1]


def test_memory_is_bounded_when_addresses_and_names_are_cycled() -> None:
    throttle = LoginThrottle(POLICY)
    for n in range(1000):
        throttle.record_failure(f"name-{n}", f"10.{n // 256}.{n % 256}.1", float(n))
    assert throttle.tracked(KeyKind.USER) == 100
    assert throttle.tracked(KeyKind.ADDRESS) == 100


def test_the_least_recently_failed_key_is_evicted_first() -> None:
    throttle = LoginThrottle(ThrottlePolicy(max_failures_per_user=2, tracked_keys=3))
    throttle.record_failure("old", "a1", 0.0)
    throttle.record_failure("mid", "a2", 1.0)
    throttle.record_failure("old", "a3", 2.0)   # old is now more recent than mid: and locked
    throttle.record_failure("new", "a4", 3.0)
    throttle.record_failure("newer", "a5", 4.0)  # four names for three places: mid goes
    assert throttle.retry_after("old", "x", 4.0) == 58.0
    assert throttle.tracked(KeyKind.USER) == 3
    # mid's single failure was forgotten: two more are needed to lock it, not one.
    assert throttle.record_failure("mid", "a6", 5.0) == []


def test_a_very_long_username_is_kept_as_a_short_key() -> None:
    throttle = LoginThrottle(POLICY)
    name = "x" * 100_000
    locks = [lo for _ in range(5) for lo in throttle.record_failure(name, "10.0.0.1", 0.0)]
    [lockout] = locks
    assert len(lockout.key) < 100
    assert throttle.retry_after(name, "10.0.0.2", 0.0) == 60
    assert throttle.retry_after("x" * 99_999, "10.0.0.2", 0.0) == 0


@pytest.mark.parametrize("bad", [
    {"max_failures_per_user": 0}, {"tracked_keys": 0}, {"lockout_base_s": 0},
    {"lockout_base_s": 120, "lockout_max_s": 60}, {"failure_window_s": 0},
])
def test_a_policy_that_cannot_work_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|expected"):
        ThrottlePolicy(**bad)  # type: ignore[arg-type]
