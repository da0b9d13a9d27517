"""What a gate or lock holds between syncs: kept on disk, corrupt files ignored (fail closed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devices.access_rules import AccessPolicy, PersonRights
from edge.access_sync import GALLERY_FILE, POLICY_FILE, AccessKeeper


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
