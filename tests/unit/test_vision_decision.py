"""FrameVoter: several frames must agree before a gate opens or refuses."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from devices.vision.decision import FrameVoter, MatchPolicy, Verdict
from devices.vision.gallery import Match

ANN = Match("ann", 0.35, "bob", 0.8)
ANN_WEAKER = Match("ann", 0.45, "bob", 0.7)
BOB = Match("bob", 0.3, "ann", 0.9)
STRANGER = Match("ann", 0.62, "bob", 0.75)
LOOKALIKE = Match("ann", 0.40, "bob", 0.44)


def _feed(voter: FrameVoter, frames: list[tuple[float, Match | None]]) -> list[Verdict | None]:
    return [voter.observe(at_s, match) for at_s, match in frames]


def test_three_agreeing_frames_within_the_window_grant_with_the_weakest_evidence() -> None:
    voter = FrameVoter(MatchPolicy())
    results = _feed(voter, [(10.0, ANN), (10.1, ANN_WEAKER), (10.2, ANN)])
    assert results[:2] == [None, None]
    assert results[2] == Verdict(True, "ann", 0.45, ANN_WEAKER.margin, 3, "recognised")


def test_frames_older_than_the_window_do_not_count() -> None:
    voter = FrameVoter(MatchPolicy(frames=3, window_s=2.0))
    assert _feed(voter, [(0.0, ANN), (1.0, ANN), (2.5, ANN)]) == [None, None, None]
    verdict = voter.observe(2.9, ANN)
    assert verdict is not None and verdict.granted and verdict.frames == 3


def test_a_different_person_restarts_the_agreement() -> None:
    voter = FrameVoter()
    assert _feed(voter, [(0.0, ANN), (0.1, ANN), (0.2, BOB), (0.3, BOB)]) == [None] * 4
    verdict = voter.observe(0.4, BOB)
    assert verdict is not None and verdict.person_id == "bob"


def test_three_unknown_frames_in_a_row_deny() -> None:
    voter = FrameVoter()
    results = _feed(voter, [(0.0, STRANGER), (0.1, None), (0.2, STRANGER)])
    assert results[2] == Verdict(False, None, 0.62, STRANGER.margin, 3, "unknown_face")


def test_an_empty_gallery_counts_as_unknown_and_has_no_distance() -> None:
    voter = FrameVoter(MatchPolicy(frames=1))
    assert voter.observe(0.0, None) == Verdict(False, None, None, None, 1, "unknown_face")


def test_a_runner_up_too_close_is_ambiguous_and_never_grants() -> None:
    voter = FrameVoter()
    results = _feed(voter, [(0.0, LOOKALIKE), (0.1, LOOKALIKE), (0.2, LOOKALIKE)])
    verdict = results[2]
    assert verdict is not None and not verdict.granted and verdict.reason == "ambiguous"
    assert verdict.person_id is None


def test_a_recognised_frame_breaks_a_run_of_refusals() -> None:
    voter = FrameVoter()
    assert _feed(voter, [(0.0, STRANGER), (0.1, STRANGER), (0.2, ANN), (0.3, STRANGER)]) == [None] * 4
    assert _feed(voter, [(0.4, ANN)]) == [None]
    verdict = voter.observe(0.5, ANN)
    assert verdict is not None and verdict.granted


def test_after_a_verdict_the_next_person_starts_clean() -> None:
    voter = FrameVoter()
    assert _feed(voter, [(0.0, ANN), (0.1, ANN), (0.2, ANN)])[-1] is not None
    assert _feed(voter, [(0.3, BOB), (0.4, BOB)]) == [None, None]
    voter.reset()
    assert _feed(voter, [(0.5, BOB), (0.6, BOB)]) == [None, None]


def test_single_enrolled_person_grants_and_the_verdict_has_no_infinite_margin() -> None:
    voter = FrameVoter(MatchPolicy(frames=1))
    verdict = voter.observe(0.0, Match("ann", 0.2, None, math.inf))
    assert verdict == Verdict(True, "ann", 0.2, None, 1, "recognised")
    stranger = voter.observe(1.0, Match("ann", 0.9, None, math.inf))
    assert stranger == Verdict(False, None, 0.9, None, 1, "unknown_face")
    assert json.loads(json.dumps(dataclasses.asdict(stranger), allow_nan=False))["margin"] is None


def test_a_clock_going_backwards_restarts_instead_of_deciding_on_mixed_frames() -> None:
    voter = FrameVoter()
    assert _feed(voter, [(5.0, ANN), (5.1, ANN), (1.0, ANN), (1.1, ANN)]) == [None] * 4
    assert voter.observe(1.2, ANN) is not None


@pytest.mark.parametrize("now_s", [math.nan, math.inf, "1.0"])
def test_a_bad_time_is_refused_clearly(now_s: object) -> None:
    with pytest.raises(ValueError, match="now_s"):
        FrameVoter().observe(now_s, ANN)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"threshold": 0},
        {"threshold": math.nan},
        {"margin": -0.1},
        {"frames": 0},
        {"frames": 1.5},
        {"window_s": 0},
    ],
    ids=str,
)
def test_policy_refuses_nonsense(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="MatchPolicy"):
        MatchPolicy(**fields)  # type: ignore[arg-type]
