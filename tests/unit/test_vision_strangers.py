"""Strangers at the face gate: nobody outside the gallery is accepted, nobody is taken for another.

The probes come from the labelled test photos (tests/support/face_probes.py): each enrolled
person in turn is left out of the gallery and every face of theirs becomes a stranger, the
"unknown" faces are strangers to the full gallery, and every face is also probed mirrored,
occluded, downscaled, darker, brighter and rotated. A false accept is a door opened for the
wrong person, so the tests allow none at the default MatchPolicy, for galleries enrolled from one
photo per person and from every photo of them.

A variant in which the encoder finds no face is counted as not detected, never as a pass; the
tests fail, not pass on fewer probes, when photos are missing or faces stop being found.
``benchmarks/faces_strangers.py`` prints the same trials as a table (docs/benchmarks.md).
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support.face_probes import (
    GALLERY_KINDS,
    OCCLUSIONS,
    PROBE_TYPES,
    Trial,
    enrolment_photos,
    labelled_faces,
    trials,
)

# The registry's photo set labels 7 faces (obama and biden), the shared folder 14 (with biden
# three more times and the unknown face): fewer means photos went missing.
MIN_LABELLED_FACES = 7
# Detected stranger probes per labelled face, over all probe types (11 per face): 9.9 with the
# registry's photos, 9.4 with the shared folder (occluded variants often hide the face from HOG).
MIN_DETECTED_STRANGERS_PER_FACE = 8
# Variants that keep the whole face in view: HOG must still find the face in most of them.
MIN_DETECTED_SHARE_UNOCCLUDED = 0.75


@pytest.fixture(scope="module")
def all_trials() -> list[Trial]:
    return list(trials())


def _describe(trial: Trial) -> str:
    face = trial.probe.face
    seen = "no face found" if trial.distance is None else (
        f"nearest {trial.nearest} at {trial.distance:.3f}, accepted as {trial.accepted_as}"
    )
    return f"{face.photo}#{face.position} ({face.person}) {trial.probe.variant} vs {trial.gallery} " \
        f"[{trial.gallery_kind}]: {seen}"


@pytest.mark.parametrize("gallery_kind", GALLERY_KINDS)
def test_no_stranger_is_accepted(all_trials: list[Trial], gallery_kind: str) -> None:
    strangers = [t for t in all_trials if t.kind == "stranger" and t.gallery_kind == gallery_kind]
    faces = labelled_faces()
    assert len(faces) >= MIN_LABELLED_FACES, f"only {len(faces)} labelled faces: photos are missing"

    false_accepts = [_describe(t) for t in strangers if t.false_accept]
    assert not false_accepts, "\n".join(false_accepts)

    # Not vacuous: every labelled face was a stranger to one gallery, and it was seen.
    originals = [t for t in strangers if t.probe.variant == "original"]
    assert len(originals) == len(faces)
    assert all(t.detected for t in originals), [_describe(t) for t in originals if not t.detected]
    detected = Counter(t.probe.variant for t in strangers if t.detected)
    assert sum(detected.values()) >= MIN_DETECTED_STRANGERS_PER_FACE * len(faces), detected
    for variant in PROBE_TYPES:
        if variant not in OCCLUSIONS:
            assert detected[variant] >= MIN_DETECTED_SHARE_UNOCCLUDED * len(faces), (variant, detected)


def test_both_sources_of_strangers_are_probed(all_trials: list[Trial]) -> None:
    strangers = [t for t in all_trials if t.kind == "stranger" and t.gallery_kind == "one_photo"]
    left_out = {t.gallery for t in strangers if t.source == "left_out"}
    assert left_out == {f"without_{person}" for person in enrolment_photos()}
    unknown_faces = [f for f in labelled_faces() if f.person not in enrolment_photos()]
    unknown_originals = [t for t in strangers if t.source == "unknown" and t.probe.variant == "original"]
    assert len(unknown_originals) == len(unknown_faces)


def test_a_known_face_is_never_taken_for_someone_else(all_trials: list[Trial]) -> None:
    known = [t for t in all_trials if t.kind == "known"]
    wrong_person = [_describe(t) for t in known if t.false_accept]
    assert not wrong_person, "\n".join(wrong_person)

    # Not vacuous: every face of an enrolled person outside their enrolment photo was probed and
    # found as it is in the photo (5 with the registry's photos, 11 with the shared folder).
    enrolment_faces = {(photo, 0) for photo in enrolment_photos().values()}
    expected = [
        f for f in labelled_faces()
        if f.person in enrolment_photos() and (f.photo, f.position) not in enrolment_faces
    ]
    originals = [t for t in known if t.probe.variant == "original"]
    assert len(expected) >= 5
    assert len(originals) == len(expected)
    assert all(t.detected for t in originals)
    assert len({t.probe.variant for t in known if t.detected}) == len(PROBE_TYPES)
