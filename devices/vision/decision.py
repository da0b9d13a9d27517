"""From per-frame matches to one access decision.

One frame can be wrong (motion blur, a half-turned head); a gate decides on several frames that
agree. ``FrameVoter`` grants once ``frames`` recent frames name the same person, each clearly
(under ``threshold``, and with the runner-up at least ``margin`` further away), and denies once
``frames`` consecutive recent frames do not.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from dataclasses import dataclass

from devices.vision.gallery import Match

logger = logging.getLogger(__name__)

RECOGNISED = "recognised"
UNKNOWN_FACE = "unknown_face"
AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class MatchPolicy:
    """When a frame counts as recognising someone, and how many frames a decision needs.

    ``threshold`` 0.5 is stricter than face_recognition's 0.6, which is meant for 1:1 checks: in
    1:N the chance that some stranger falls under the threshold grows with the gallery.
    ``margin`` 0.1: on the test photos a probe is 0.06–0.41 from its own person and the runner-up
    is ≥ 0.42 further (docs/benchmarks.md); a runner-up within 0.1 means two enrolled people look
    alike to the model in this frame (relatives, a poor angle), and the gate must not pick one.
    """

    threshold: float = 0.5
    margin: float = 0.1
    frames: int = 3
    window_s: float = 2.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"MatchPolicy.threshold must be a positive number, got {self.threshold!r}")
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"MatchPolicy.margin must be a number ≥ 0, got {self.margin!r}")
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 1:
            raise ValueError(f"MatchPolicy.frames must be an integer ≥ 1, got {self.frames!r}")
        if not (math.isfinite(self.window_s) and self.window_s > 0):
            raise ValueError(f"MatchPolicy.window_s must be a positive number, got {self.window_s!r}")

    def classify(self, match: Match | None) -> str:
        """What one frame says: recognised, unknown_face or ambiguous."""
        if match is None or match.distance >= self.threshold:
            return UNKNOWN_FACE
        if match.margin < self.margin:
            return AMBIGUOUS
        return RECOGNISED


@dataclass(frozen=True)
class Verdict:
    """One decision. On a grant, distance and margin are the weakest of the agreeing frames;
    on a denial, person_id is None and distance/margin are the last frame's (None if it had
    nothing to match against). margin is None, never infinite, when nobody else is enrolled,
    so a Verdict always serialises to plain JSON."""

    granted: bool
    person_id: str | None
    distance: float | None
    margin: float | None
    frames: int
    reason: str


@dataclass(frozen=True)
class _Frame:
    at_s: float
    match: Match | None
    reason: str


class FrameVoter:
    """Accumulates per-frame matches of the face in front of the camera into a Verdict.

    Call ``observe`` once per frame that shows a face, with ``gallery.match(...)`` of its
    embedding (None when the gallery is empty: an unknown face). Times come from a monotonic
    clock, in seconds. Grant: ``frames`` recognised frames of one person within ``window_s``
    (refused frames in between do not reset them; another person's frame does). Deny:
    ``frames`` refused frames in a row, also within ``window_s``, so a stale refusal does not
    count against the next visitor. After a verdict the voter starts clean for the next person.
    """

    def __init__(self, policy: MatchPolicy | None = None) -> None:
        self.policy = policy if policy is not None else MatchPolicy()
        self._recognised: deque[_Frame] = deque()
        self._refused: deque[_Frame] = deque()
        self._last_s: float | None = None

    def reset(self) -> None:
        self._recognised.clear()
        self._refused.clear()
        self._last_s = None

    def observe(self, now_s: float, match: Match | None) -> Verdict | None:
        """The verdict this frame completes, or None while undecided."""
        if not isinstance(now_s, int | float) or not math.isfinite(now_s):
            raise ValueError(f"now_s must be a finite number of seconds, got {now_s!r}")
        if self._last_s is not None and now_s < self._last_s:
            # A clock that goes back cannot order the frames: start over rather than guess.
            logger.warning("frame time went backwards (%.3f < %.3f); voter reset", now_s, self._last_s)
            self.reset()
        self._last_s = now_s
        self._forget_before(now_s - self.policy.window_s)
        frame = _Frame(now_s, match, self.policy.classify(match))
        if frame.reason == RECOGNISED:
            assert match is not None
            self._refused.clear()
            if self._recognised and self._recognised[0].match is not None and (
                self._recognised[0].match.person_id != match.person_id
            ):
                # Another person's face: agreement starts again from this frame.
                self._recognised.clear()
            self._recognised.append(frame)
            if len(self._recognised) >= self.policy.frames:
                return self._finish(self._granted())
            return None
        self._refused.append(frame)
        if len(self._refused) >= self.policy.frames:
            return self._finish(self._denied())
        return None

    def _forget_before(self, oldest_s: float) -> None:
        for frames in (self._recognised, self._refused):
            while frames and frames[0].at_s < oldest_s:
                frames.popleft()

    def _granted(self) -> Verdict:
        matches = [frame.match for frame in self._recognised if frame.match is not None]
        return Verdict(
            granted=True,
            person_id=matches[-1].person_id,
            distance=max(m.distance for m in matches),
            margin=_finite_or_none(min(m.margin for m in matches)),
            frames=len(matches),
            reason=RECOGNISED,
        )

    def _denied(self) -> Verdict:
        reasons = Counter(frame.reason for frame in self._refused)
        # Ties go to "ambiguous": it tells the operator the face did resemble someone enrolled.
        reason = AMBIGUOUS if reasons[AMBIGUOUS] >= reasons[UNKNOWN_FACE] else UNKNOWN_FACE
        last = self._refused[-1].match
        return Verdict(
            granted=False,
            person_id=None,
            distance=last.distance if last is not None else None,
            margin=_finite_or_none(last.margin) if last is not None else None,
            frames=len(self._refused),
            reason=reason,
        )

    def _finish(self, verdict: Verdict) -> Verdict:
        self.reset()
        return verdict


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
