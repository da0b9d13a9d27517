"""Faces → 128-d embeddings: enrolment photos (with quality checks) and camera frames.

Embeddings come from dlib's ResNet face encoder through ``face_recognition`` (5-point
landmarks, one jitter). Detection uses dlib's HOG detector. Detection cost grows with the image
area while encoding cost does not depend on it, so both paths detect on a downscaled copy and
encode on the full-resolution image.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import threading
import warnings
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

EMBEDDING_DIM = 128
_EMBEDDING_DTYPE = np.dtype("<f4")
# dlib aligns every face to a 150×150 chip before encoding; sharpness is measured at that scale so
# it means the same thing for a 110 px and a 460 px face.
_SHARPNESS_SIDE = 150
# Enrolment detects on a copy whose longest side is at most this, with one upsample: faces down to
# ≈ 40 px of the copy are found (≈ 60 px of a 2400 px photo) in ≈ 0.3–1 s.
_ENROLMENT_DETECT_MAX_SIDE = 1600
_ENROLMENT_UPSAMPLE = 1

# face_recognition keeps one dlib detector, landmark predictor and ResNet per process; the ResNet
# holds per-call state, so concurrent calls from several threads would corrupt each other.
_DLIB_LOCK = threading.Lock()

Box = tuple[int, int, int, int]
FloatVector = npt.NDArray[np.float32]


class PhotoRejected(ValueError):
    """An enrolment photo that cannot be used; ``code`` is stable, ``message`` is for people."""

    CODES = frozenset(
        {"not_an_image", "too_large", "no_face", "several_faces", "face_too_small", "too_blurred"}
    )

    def __init__(self, code: str, message: str) -> None:
        if code not in self.CODES:
            raise ValueError(f"unknown PhotoRejected code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FaceQuality:
    """What an enrolment photo must satisfy.

    Defaults chosen from the test photos (docs/benchmarks.md, "Face recognition"): their faces
    are 107–462 px and score 46–560 in sharpness; obama.jpg blurred with σ = 3 scores 17.
    """

    min_face_px: int = 80
    """Shortest accepted side of the detected face box, in pixels of the photo."""
    min_sharpness: float = 30.0
    """Variance of the Laplacian of the face crop resized to 150×150 (dlib's chip size)."""
    max_image_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000

    def __post_init__(self) -> None:
        if self.min_face_px < 1 or self.max_image_bytes < 1 or self.max_pixels < 1:
            raise ValueError("FaceQuality limits must be positive")
        if not math.isfinite(self.min_sharpness) or self.min_sharpness < 0:
            raise ValueError("FaceQuality.min_sharpness must be a finite number ≥ 0")


@dataclass(frozen=True)
class FaceObservation:
    """One face seen in a frame: its box (top, right, bottom, left) in the original frame."""

    box: Box
    embedding: FloatVector

    @property
    def side_px(self) -> int:
        top, right, bottom, left = self.box
        return min(bottom - top, right - left)


@cache
def _face_recognition() -> ModuleType:
    """Import face_recognition once; its model package still imports the deprecated pkg_resources."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import face_recognition

    module: ModuleType = face_recognition
    return module


def _detect(rgb: npt.NDArray[np.uint8], scale: float, upsample: int) -> list[Box]:
    """HOG-detect faces on a copy scaled by ``scale`` (≤ 1); boxes in ``rgb``'s pixels."""
    height, width = rgb.shape[:2]
    small = rgb
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    with _DLIB_LOCK:
        found: list[Box] = _face_recognition().face_locations(small, number_of_times_to_upsample=upsample)
    boxes = []
    for top, right, bottom, left in found:
        boxes.append(
            (
                max(0, round(top / scale)),
                min(width, round(right / scale)),
                min(height, round(bottom / scale)),
                max(0, round(left / scale)),
            )
        )
    return boxes


def _encode(rgb: npt.NDArray[np.uint8], boxes: list[Box]) -> list[FloatVector]:
    if not boxes:
        return []
    with _DLIB_LOCK:
        encodings = _face_recognition().face_encodings(rgb, known_face_locations=boxes, model="small")
    return [np.asarray(e, dtype=np.float32) for e in encodings]


def _box_side(box: Box) -> int:
    top, right, bottom, left = box
    return min(bottom - top, right - left)


def face_sharpness(gray: npt.NDArray[np.uint8], box: Box) -> float:
    """Variance of the Laplacian over the face crop at dlib's chip scale (higher is sharper)."""
    top, right, bottom, left = box
    crop = gray[top:bottom, left:right]
    if crop.size == 0:
        return 0.0
    chip = cv2.resize(crop, (_SHARPNESS_SIDE, _SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(chip, cv2.CV_64F).var())


def decode_photo(image_bytes: bytes, quality: FaceQuality = FaceQuality()) -> npt.NDArray[np.uint8]:
    """Decode JPEG/PNG/… bytes into an RGB array, honouring EXIF orientation; PhotoRejected if not."""
    if not isinstance(image_bytes, bytes | bytearray | memoryview):
        raise PhotoRejected("not_an_image", f"expected image bytes, got {type(image_bytes).__name__}")
    if len(image_bytes) > quality.max_image_bytes:
        raise PhotoRejected(
            "too_large", f"photo is {len(image_bytes)} bytes, the limit is {quality.max_image_bytes}"
        )
    if len(image_bytes) == 0:
        raise PhotoRejected("not_an_image", "the photo is empty")
    try:
        # Pillow reads only the header here, so an oversized image is refused before decoding.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(image_bytes))
            width, height = image.size
            if width * height > quality.max_pixels:
                raise PhotoRejected(
                    "too_large", f"photo is {width}×{height} pixels, the limit is {quality.max_pixels}"
                )
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except PhotoRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoRejected("too_large", f"photo has too many pixels ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoRejected("not_an_image", f"cannot decode the photo as an image ({exc})") from exc
    return np.ascontiguousarray(rgb)


def enrolment_embedding(image_bytes: bytes, quality: FaceQuality = FaceQuality()) -> FloatVector:
    """The embedding of the one face in an enrolment photo.

    Raises PhotoRejected (codes: not_an_image, too_large, no_face, several_faces, face_too_small,
    too_blurred). Takes ≈ 0.3–1 s (plus ≈ 1.5 s to load the models on the first call); call it
    from a worker thread.
    """
    rgb = decode_photo(image_bytes, quality)
    scale = min(1.0, _ENROLMENT_DETECT_MAX_SIDE / max(rgb.shape[:2]))
    boxes = _detect(rgb, scale, _ENROLMENT_UPSAMPLE)
    if not boxes:
        raise PhotoRejected("no_face", "no face found in the photo")
    big_enough = [box for box in boxes if _box_side(box) >= quality.min_face_px]
    if len(big_enough) > 1:
        raise PhotoRejected(
            "several_faces", f"{len(big_enough)} faces in the photo; an enrolment photo shows one person"
        )
    if not big_enough:
        largest = max(_box_side(box) for box in boxes)
        raise PhotoRejected(
            "face_too_small", f"the face is {largest} px across, at least {quality.min_face_px} px is needed"
        )
    box = big_enough[0]
    gray = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    sharpness = face_sharpness(gray, box)
    if sharpness < quality.min_sharpness:
        raise PhotoRejected(
            "too_blurred",
            f"the face is too blurred (sharpness {sharpness:.1f}, at least {quality.min_sharpness})",
        )
    (embedding,) = _encode(rgb, [box])
    return embedding


class FaceEncoder:
    """Camera frame → face observations, largest face first.

    Detects on a copy ``detect_width`` pixels wide (HOG, ``upsample`` times), then encodes the
    faces at least ``min_face_px`` across on the original frame. Only the ``max_faces`` largest
    faces are encoded (≈ 100 ms of CPU each here), which bounds the per-frame latency. Safe to
    call from any thread; dlib work is serialised by a process-wide lock.
    With the defaults, on a 640×480 frame: detection ≈ 20–30 ms and finds faces from ≈ 90 px up —
    a person at the gate, not one across the hall (docs/benchmarks.md has the other settings).
    """

    def __init__(
        self, detect_width: int = 480, upsample: int = 0, min_face_px: int = 80, *, max_faces: int = 1
    ) -> None:
        if detect_width < 80:
            raise ValueError(f"detect_width must be at least 80 px, got {detect_width}")
        if not 0 <= upsample <= 2:
            raise ValueError(f"upsample must be 0, 1 or 2, got {upsample}")
        if min_face_px < 1 or max_faces < 1:
            raise ValueError("min_face_px and max_faces must be positive")
        self.detect_width = detect_width
        self.upsample = upsample
        self.min_face_px = min_face_px
        self.max_faces = max_faces
        _face_recognition()

    def observe(self, frame_bgr: npt.NDArray[np.uint8]) -> list[FaceObservation]:
        """Faces in a BGR frame (as OpenCV gives them), largest first; [] if none is big enough."""
        if not isinstance(frame_bgr, np.ndarray) or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            shape = getattr(frame_bgr, "shape", None)
            raise ValueError(f"expected a BGR frame of shape (height, width, 3), got {shape!r}")
        if frame_bgr.dtype != np.uint8:
            raise ValueError(f"expected a uint8 frame, got {frame_bgr.dtype}")
        rgb = np.ascontiguousarray(frame_bgr[:, :, ::-1])
        scale = min(1.0, self.detect_width / rgb.shape[1])
        boxes = _detect(rgb, scale, self.upsample)
        boxes = [box for box in boxes if _box_side(box) >= self.min_face_px]
        boxes.sort(key=_box_side, reverse=True)
        boxes = boxes[: self.max_faces]
        embeddings = _encode(rgb, boxes)
        return [FaceObservation(box, e) for box, e in zip(boxes, embeddings, strict=True)]


def check_embedding(value: object) -> FloatVector:
    """A copy of ``value`` as a float32 vector of 128 finite values; ValueError otherwise."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"an embedding must be {EMBEDDING_DIM} numbers ({exc})") from exc
    if array.shape != (EMBEDDING_DIM,):
        raise ValueError(f"an embedding must have shape ({EMBEDDING_DIM},), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("an embedding must contain only finite values (found NaN or infinity)")
    return array.copy()


def embedding_to_b64(e: npt.ArrayLike) -> str:
    """Base64 of the 128 float32 values, little-endian (512 bytes → 684 characters)."""
    return base64.b64encode(check_embedding(e).astype(_EMBEDDING_DTYPE).tobytes()).decode("ascii")


def embedding_from_b64(s: str) -> FloatVector:
    """Inverse of embedding_to_b64; ValueError unless it is exactly 128 finite float32 values."""
    if not isinstance(s, str):
        raise ValueError(f"an embedding must be a base64 string, got {type(s).__name__}")
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"an embedding is not valid base64 ({exc})") from exc
    expected = EMBEDDING_DIM * _EMBEDDING_DTYPE.itemsize
    if len(raw) != expected:
        raise ValueError(f"an embedding must be {expected} bytes ({EMBEDDING_DIM} float32), got {len(raw)}")
    return check_embedding(np.frombuffer(raw, dtype=_EMBEDDING_DTYPE))
