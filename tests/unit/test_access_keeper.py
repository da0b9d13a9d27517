"""What a gate or lock holds between syncs: kept on disk, corrupt files ignored (fail closed),
and only what the controller signed for it applied."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from devices.access_rules import AccessPolicy, PersonRights
from devices.contract import Response
from devices.policy_signing import POLICY_REPLY_TTL_MS, sign_policy_reply
from devices.signing import derive_device_key
from edge.access_sync import (
    GALLERY_FILE,
    POLICY_FILE,
    POLICY_REFUSED_EVENT,
    REFUSAL_REPORT_INTERVAL_S,
    AccessKeeper,
)


def test_corrupt_stored_files_are_ignored_and_cards_are_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / POLICY_FILE).write_text("{not json", encoding="utf-8")
    (tmp_path / GALLERY_FILE).write_text('{"version": 1, "people": [{"person_id": 5}]}',
                                         encoding="utf-8")
    keeper = AccessKeeper(tmp_path, with_gallery=True)
    assert keeper.policy is None and keeper.gallery is None and keeper.version is None
    assert keeper.authorize_card("2026000001", 1_795_000_000_000) == (False, None, "no_policy")
    assert "stored policy unreadable" in caplog.text
    assert "stored gallery unreadable" in caplog.text


def test_a_stored_policy_decides_cards_after_a_restart(tmp_path: Path) -> None:
    policy = AccessPolicy(version=3, people={
        "s1": PersonRights("s1", ("always",), cards=("2026000001",)),
        "v1": PersonRights("v1", ("always",), valid_until_ms=1_000, cards=("2026000009",))})
    (tmp_path / POLICY_FILE).write_text(json.dumps(policy.to_wire()), encoding="utf-8")
    keeper = AccessKeeper(tmp_path, with_gallery=False)
    assert keeper.version == 3
    now = 1_795_000_000_000
    assert keeper.authorize_card("2026000001", now) == (True, "s1", "allowed")
    assert keeper.authorize_card("2026000009", now) == (False, "v1", "pass_expired")
    assert keeper.authorize_card("1234567890", now) == (False, None, "unknown_credential")


# -- verifying what arrives (devices.policy_signing) ------------------------------------------

MASTER = b"controller-master-secret-for-tests"
LOCK = "lock-b3-101"
NOW_MS = 1_795_860_000_000


def sync_result(version: int, people: tuple[str, ...]) -> dict[str, Any]:
    policy = AccessPolicy(version=version, people={
        p: PersonRights(p, ("always",), cards=(f"{2026000000 + n}",)) for n, p in enumerate(people)})
    return {"version": version, "changed": True, "policy": policy.to_wire()}


class Controller:
    """A DeviceHandle whose ``access.sync`` answers are whatever the test queues."""

    device_id = LOCK

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit_event(self, type: str, data: Mapping[str, Any] | None = None) -> str:
        self.events.append((type, dict(data or {})))
        return f"e{len(self.events)}"

    async def request(self, method: str, params: Mapping[str, Any] | None = None,
                      timeout_s: float = 10.0) -> Response:
        assert method == "access.sync"
        return Response(id="r1", ok=True, result=self.answers.pop(0))


def signed(result: dict[str, Any], device_id: str = LOCK, issued_at: int = NOW_MS) -> dict[str, Any]:
    return sign_policy_reply(result, device_id, derive_device_key(MASTER, device_id),
                             issued_at=issued_at)


def keyed_keeper(tmp_path: Path, now: list[float] | None = None) -> AccessKeeper:
    clock = now or [0.0]
    return AccessKeeper(tmp_path, with_gallery=False, key=derive_device_key(MASTER, LOCK),
                        clock=lambda: clock[0], wall_clock_ms=lambda: NOW_MS)


async def test_a_lock_with_a_key_applies_only_what_the_controller_signed_for_it(
        tmp_path: Path) -> None:
    keeper = keyed_keeper(tmp_path)
    controller = Controller()
    controller.answers.append(signed(sync_result(5, ("s1",))))
    assert await keeper.sync_once(controller)
    assert keeper.version == 5 and keeper.authorize_card("2026000000", NOW_MS)[0]

    # A forged reply letting a stranger in: refused, the held policy decides, the controller
    # hears why.
    forged = signed(sync_result(6, ("s1",)))
    forged["policy"] = sync_result(6, ("s1", "intruder"))["policy"]
    controller.answers.append(forged)
    assert not await keeper.sync_once(controller)
    assert keeper.version == 5 and set(keeper.policy.people) == {"s1"}  # type: ignore[union-attr]
    assert not keeper.authorize_card("2026000001", NOW_MS)[0]
    # An unsigned one, and one signed for another lock.
    controller.answers.append(sync_result(6, ("intruder",)))
    controller.answers.append(signed(sync_result(6, ("intruder",)), device_id="lock-b3-102"))
    assert not await keeper.sync_once(controller)
    assert not await keeper.sync_once(controller)
    assert [(t, d["reason"], d["offered_version"], d["held_version"])
            for t, d in controller.events] == [
        (POLICY_REFUSED_EVENT, "bad_signature", 6, 5),
        (POLICY_REFUSED_EVENT, "unsigned", 6, 5),
        (POLICY_REFUSED_EVENT, "wrong_device", 6, 5)]
    # Still version 5 after a restart: nothing refused reached the disk.
    assert AccessKeeper(tmp_path, with_gallery=False).version == 5


async def test_a_replayed_older_or_expired_reply_is_refused_and_the_same_one_is_a_no_op(
        tmp_path: Path) -> None:
    keeper = keyed_keeper(tmp_path)
    controller = Controller()
    old = signed(sync_result(5, ("s1", "moved-out")))
    controller.answers.append(old)
    controller.answers.append(signed(sync_result(6, ("s1",))))
    assert await keeper.sync_once(controller) and await keeper.sync_once(controller)
    assert keeper.version == 6

    controller.answers.append(old)  # a recorded reply, replayed
    assert not await keeper.sync_once(controller)
    assert "moved-out" not in keeper.policy.people  # type: ignore[union-attr]
    controller.answers.append(signed(sync_result(7, ("s1", "moved-out")),
                                     issued_at=NOW_MS - POLICY_REPLY_TTL_MS - 1))
    assert not await keeper.sync_once(controller)
    assert [d["reason"] for _, d in controller.events] == ["rollback", "expired"]

    controller.answers.append(signed(sync_result(6, ("s1",))))  # the same version again
    assert await keeper.sync_once(controller)
    assert keeper.version == 6 and len(controller.events) == 2


async def test_one_refusal_repeated_is_reported_again_only_after_a_while(tmp_path: Path) -> None:
    now = [0.0]
    keeper = keyed_keeper(tmp_path, now)
    controller = Controller()
    for _ in range(3):
        controller.answers.append(sync_result(6, ("intruder",)))
        assert not await keeper.sync_once(controller)
        now[0] += 5.0
    assert len(controller.events) == 1 and keeper.refusals == 3
    now[0] += REFUSAL_REPORT_INTERVAL_S
    controller.answers.append(sync_result(6, ("intruder",)))
    assert not await keeper.sync_once(controller)
    assert len(controller.events) == 2


async def test_a_lock_without_a_key_applies_unsigned_policies_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    keeper = AccessKeeper(tmp_path, with_gallery=False)
    controller = Controller()
    controller.answers.append(sync_result(5, ("s1",)))
    assert await keeper.sync_once(controller)
    assert keeper.version == 5
    assert "WITHOUT verification" in caplog.text
    # It cannot check a signed one, and says so rather than applying it.
    controller.answers.append(signed(sync_result(6, ("s1", "s2"))))
    assert not await keeper.sync_once(controller)
    assert keeper.version == 5
    assert [d["reason"] for _, d in controller.events] == ["no_key"]
