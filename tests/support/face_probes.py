"""Strangers and known faces to probe the 1:N match with, built from the labelled test photos.

A photo set of two people and one unknown face holds one stranger at face value. It holds more
once every person takes a turn at being the stranger:

- **left out**: for each enrolled person X, a gallery of everyone but X; every face of X, in every
  photo (their enrolment photo too), is a stranger to that gallery;
- **unknown**: a face labelled "unknown" (nobody enrolled) is a stranger to the full gallery.

Every labelled face is probed as the whole photo shows it ("original") and in variants
(:data:`VARIANTS`): mirrored, occluded (a mask over the lower half, a scarf over mouth and chin, a
bar over the eyes, sunglasses), downscaled, darker, brighter and rotated. Known probes are the
faces of enrolled people in the photos they were not enrolled from, with the same variants,
against the full gallery.

For the variants each face is cut out of its photo with some context, scaled so the face is at
most ``FACE_SIDE_PX`` across (dlib encodes a 150×150 chip anyway), varied, and put through the
real ``FaceEncoder`` (HOG with one upsample, so faces down to ≈ 40 px are found). A variant in
which no face is found near the centre is "not detected": it never reaches the matcher, so it
is neither a false accept nor a pass. Embeddings are computed once per process (``probe_set``).

Galleries come in two kinds: ``one_photo`` enrols each person from one single-face photo with
``enrolment_embedding``, as the product does; ``every_photo`` enrols each person with the
embeddings of all their faces in the set (more embeddings per person: a stranger has more
chances to fall near one of them).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from devices.vision.decision import RECOGNISED, MatchPolicy
from devices.vision.faces import FaceEncoder, FloatVector, enrolment_embedding
from devices.vision.gallery import Gallery
from tests.support.faces import faces_dir, labels, photo_bytes, photo_path

warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

UNKNOWN = "unknown"
FACE_SIDE_PX = 150
"""Faces larger than this are scaled down to it before the variants are made."""
CONTEXT = 2.4
"""The cut-out is this many face sides across, centred on the face (grey beyond the photo)."""
GALLERY_KINDS = ("one_photo", "every_photo")

Box = tuple[int, int, int, int]
Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class LabelledFace:
    photo: str
    position: int
    """Index of the face left to right in its photo, as in labels.json."""
    person: str


@dataclass(frozen=True)
class Probe:
    face: LabelledFace
    variant: str
    embedding: FloatVector | None
    """None: no face was found in this variant (it never reaches the matcher)."""
    face_px: int
    """Side of the face box found in the probe image; 0 when none was found."""


@dataclass(frozen=True)
class Trial:
    """One probe matched against one gallery at a MatchPolicy (the default unless ``trials`` gets one)."""

    probe: Probe
    kind: str
    """"stranger" (the person is not in the gallery) or "known"."""
    source: str
    """Strangers: "left_out" or "unknown"; known probes: "enrolled"."""
    gallery: str
    """Who is enrolled: "full" (everyone) or "without_<person>"."""
    gallery_kind: str
    """How they are enrolled: "one_photo" or "every_photo"."""
    accepted_as: str | None
    """The person the gate would open for on this frame, or None (not detected or refused)."""
    nearest: str | None
    distance: float | None

    @property
    def detected(self) -> bool:
        return self.probe.embedding is not None

    @property
    def false_accept(self) -> bool:
        """The door opened for someone it should not: a stranger, or a known face taken for another."""
        return self.accepted_as is not None and self.accepted_as != self.probe.face.person


# --- variants -------------------------------------------------------------------------------------
# Each takes the cut-out (BGR) and the face box in it, and returns a new image.

_MASK_BGR = (235, 225, 200)  # a light blue surgical mask
_DARK_BGR = (20, 20, 20)
_GREY_BGR = (90, 90, 90)


def _fraction_of(box: Box, fraction: float) -> int:
    top, _, bottom, _ = box
    return top + round(fraction * (bottom - top))


def _cover_from(fraction: float) -> Callable[[Image, Box], Image]:
    """Cover the face from ``fraction`` of the box height (HOG boxes start at the brows) down."""

    def cover(image: Image, box: Box) -> Image:
        _, right, bottom, left = box
        pad = (right - left) // 20
        covered = image.copy()
        cv2.rectangle(covered, (left - pad, _fraction_of(box, fraction)), (right + pad, bottom + 2 * pad),
                      _MASK_BGR, -1)
        return covered

    return cover


def _bar_over_eyes(image: Image, box: Box) -> Image:
    _, right, _, left = box
    pad = (right - left) // 20
    covered = image.copy()
    cv2.rectangle(covered, (left - pad, _fraction_of(box, 0.2)), (right + pad, _fraction_of(box, 0.4)),
                  _DARK_BGR, -1)
    return covered


def _sunglasses(image: Image, box: Box) -> Image:
    _, right, bottom, left = box
    width, height = right - left, bottom - box[0]
    covered = image.copy()
    for centre in (0.3, 0.7):
        cv2.ellipse(covered, (left + round(centre * width), _fraction_of(box, 0.33)),
                    (round(0.16 * width), round(0.09 * height)), 0, 0, 360, _DARK_BGR, -1)
    return covered


def _mirrored(image: Image, box: Box) -> Image:
    return np.ascontiguousarray(image[:, ::-1])


def _downscaled(image: Image, box: Box) -> Image:
    # A face of ≈ 60 px: someone a few metres from the camera.
    return np.asarray(cv2.resize(image, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA), np.uint8)


def _exposure(gain: float, offset: float) -> Callable[[Image, Box], Image]:
    def expose(image: Image, box: Box) -> Image:
        return np.asarray(cv2.convertScaleAbs(image, alpha=gain, beta=offset), np.uint8)

    return expose


def _rotated(degrees: float) -> Callable[[Image, Box], Image]:
    def rotate(image: Image, box: Box) -> Image:
        height, width = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
        return np.asarray(cv2.warpAffine(image, matrix, (width, height), borderValue=_GREY_BGR), np.uint8)

    return rotate


VARIANTS: dict[str, Callable[[Image, Box], Image]] = {
    # "original" is not here: it is the face as found in the whole photo.
    "mirrored": _mirrored,
    "mask_lower_half": _cover_from(0.5),  # from under the eyes: nose, mouth and chin
    "scarf_mouth_chin": _cover_from(0.7),
    "bar_over_eyes": _bar_over_eyes,
    "sunglasses": _sunglasses,
    "downscaled_0.4": _downscaled,
    "darker": _exposure(0.35, 0),
    "brighter": _exposure(1.5, 50),
    "rotated_+10deg": _rotated(10),
    "rotated_-10deg": _rotated(-10),
}
PROBE_TYPES = ("original", *VARIANTS)
OCCLUSIONS = frozenset({"mask_lower_half", "scarf_mouth_chin", "bar_over_eyes", "sunglasses"})
"""Variants that hide part of the face: HOG may legitimately find no face in them."""


# --- building the probes --------------------------------------------------------------------------


def _read_bgr(photo: str) -> Image:
    image = cv2.imread(str(photo_path(photo)), cv2.IMREAD_COLOR)
    if image is None:
        pytest.fail(f"test photo {photo} in {faces_dir()} cannot be read as an image")
    return np.asarray(image, dtype=np.uint8)


def _cut_out(image: Image, box: Box) -> tuple[Image, Box]:
    """The face with context, the face at most FACE_SIDE_PX across; its box in the cut-out."""
    top, right, bottom, left = box
    side = max(bottom - top, right - left)
    scale = min(1.0, FACE_SIDE_PX / side)
    size = round(side * scale * CONTEXT)
    centre_x, centre_y = (left + right) / 2 * scale, (top + bottom) / 2 * scale
    shift_x, shift_y = size / 2 - centre_x, size / 2 - centre_y
    matrix = np.array([[scale, 0, shift_x], [0, scale, shift_y]], dtype=np.float32)
    cut = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderValue=_GREY_BGR)
    moved = (round(top * scale + shift_y), round(right * scale + shift_x),
             round(bottom * scale + shift_y), round(left * scale + shift_x))
    return np.asarray(cut, dtype=np.uint8), moved


@cache
def _photo_encoder() -> FaceEncoder:
    # Whole photographs, detected at most 1600 px wide without upsampling: the labelled faces are
    # 107–462 px, so faces from 80 px are enough; every face.
    return FaceEncoder(detect_width=1600, upsample=0, min_face_px=40, max_faces=10)


@cache
def _probe_encoder() -> FaceEncoder:
    # Cut-outs are ≤ 360 px: detected at full size with one upsample (faces from ≈ 40 px), more
    # permissive than a gate's FaceEncoder() — more stranger faces reach the matcher, not fewer.
    return FaceEncoder(detect_width=1000, upsample=1, min_face_px=30, max_faces=3)


def _central_face(image: Image) -> tuple[FloatVector | None, int]:
    """The embedding of the face nearest the centre (within a quarter of the width), if any."""
    height, width = image.shape[:2]
    best: tuple[float, FloatVector, int] | None = None
    for observation in _probe_encoder().observe(image):
        top, right, bottom, left = observation.box
        off_centre = float(np.hypot((left + right) / 2 - width / 2, (top + bottom) / 2 - height / 2))
        if off_centre < width / 4 and (best is None or off_centre < best[0]):
            best = (off_centre, observation.embedding, observation.side_px)
    return (None, 0) if best is None else (best[1], best[2])


def labelled_faces() -> list[LabelledFace]:
    """Every face of labels.json; fails the test if the photo set has none."""
    faces = [
        LabelledFace(photo, position, person)
        for photo, people in sorted(labels().items())
        for position, person in enumerate(people)
    ]
    if not faces:
        pytest.fail(f"the photo set in {faces_dir()} labels no faces (labels.json is empty)")
    return faces


@cache
def probe_set() -> tuple[Probe, ...]:
    """Every labelled face in every variant, encoded once per process (≈ 0.15 s per probe here)."""
    probes = []
    for photo, people in sorted(labels().items()):
        image = _read_bgr(photo)
        found = sorted(_photo_encoder().observe(image), key=lambda o: o.box[3])
        if len(found) != len(people):
            pytest.fail(f"{photo}: labelled {people} left to right, but {len(found)} faces were found")
        for position, (person, observation) in enumerate(zip(people, found, strict=True)):
            face = LabelledFace(photo, position, person)
            cut, box = _cut_out(image, observation.box)
            # The original is the face as the whole photo shows it; the variants are of the cut-out.
            probes.append(Probe(face, "original", observation.embedding, observation.side_px))
            for variant, make in VARIANTS.items():
                embedding, face_px = _central_face(np.ascontiguousarray(make(cut, box)))
                probes.append(Probe(face, variant, embedding, face_px))
    return tuple(probes)


# --- galleries and trials -------------------------------------------------------------------------


def enrolment_photos() -> dict[str, str]:
    """Person → the single-face photo they are enrolled from: ``<person>.jpg`` if labelled so,
    else their first single-face photo. People with none (and "unknown") are never enrolled."""
    chosen: dict[str, str] = {}
    for photo, people in sorted(labels().items()):
        if len(people) != 1 or people[0] == UNKNOWN:
            continue
        if people[0] not in chosen or photo == f"{people[0]}.jpg":
            chosen[people[0]] = photo
    return dict(sorted(chosen.items()))


@cache
def _enrolment_embeddings() -> dict[str, FloatVector]:
    return {person: enrolment_embedding(photo_bytes(photo)) for person, photo in enrolment_photos().items()}


def _gallery(kind: str, people: list[str]) -> Gallery:
    if kind == "one_photo":
        return Gallery.build(1, {person: [_enrolment_embeddings()[person]] for person in people})
    every: dict[str, list[FloatVector]] = {}
    for probe in probe_set():
        if probe.variant == "original" and probe.face.person in people and probe.embedding is not None:
            every.setdefault(probe.face.person, []).append(probe.embedding)
    return Gallery.build(1, every)


def _trial(probe: Probe, kind: str, source: str, gallery_name: str, gallery_kind: str,
           gallery: Gallery, policy: MatchPolicy) -> Trial:
    if probe.embedding is None:
        return Trial(probe, kind, source, gallery_name, gallery_kind, None, None, None)
    match = gallery.match(probe.embedding)
    assert match is not None
    accepted = match.person_id if policy.classify(match) == RECOGNISED else None
    return Trial(probe, kind, source, gallery_name, gallery_kind, accepted, match.person_id, match.distance)


def trials(policy: MatchPolicy | None = None) -> Iterator[Trial]:
    """Every stranger and known trial, for both gallery kinds.

    Fails the test when the photo set cannot make strangers: leaving one person out needs at
    least two enrolled people.
    """
    policy = policy if policy is not None else MatchPolicy()
    enrolled = list(enrolment_photos())
    if len(enrolled) < 2:
        pytest.fail(
            f"the photo set in {faces_dir()} has {len(enrolled)} person(s) with a single-face photo "
            f"({enrolled}); leaving one out needs at least two"
        )
    enrolment_faces = {(photo, 0) for photo in enrolment_photos().values()}
    probes = probe_set()
    for gallery_kind in GALLERY_KINDS:
        full = _gallery(gallery_kind, enrolled)
        for left_out in enrolled:
            without = _gallery(gallery_kind, [person for person in enrolled if person != left_out])
            for probe in probes:
                if probe.face.person == left_out:
                    yield _trial(probe, "stranger", "left_out", f"without_{left_out}", gallery_kind,
                                 without, policy)
        for probe in probes:
            face = probe.face
            if face.person not in enrolled:
                yield _trial(probe, "stranger", "unknown", "full", gallery_kind, full, policy)
            elif gallery_kind == "one_photo" and (face.photo, face.position) not in enrolment_faces:
                yield _trial(probe, "known", "enrolled", "full", gallery_kind, full, policy)
