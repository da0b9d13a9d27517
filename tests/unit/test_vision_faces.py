"""Enrolment photos, camera frames and embedding transport, with real photographs.

Recognition: obama.jpg and biden.jpg are enrolled (one photo each); every labelled face in every
other photo is probed once at the default MatchPolicy.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from PIL import Image

from devices.vision.decision import RECOGNISED, MatchPolicy
from devices.vision.faces import (
    EMBEDDING_DIM,
    FaceEncoder,
    FaceQuality,
    PhotoRejected,
    embedding_from_b64,
    embedding_to_b64,
    enrolment_embedding,
)
from devices.vision.gallery import Gallery
from tests.support.faces import has_photo, labels, photo_bytes, photo_path, two_people_photo

warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

ENROLMENT_PHOTOS = {"obama": "obama.jpg", "biden": "biden.jpg"}


def _jpeg(bgr: np.ndarray, quality: int = 92) -> bytes:
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


def _photo_bgr(name: str) -> np.ndarray:
    image = cv2.imread(str(photo_path(name)), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.fixture(scope="module")
def gallery() -> Gallery:
    people = {person: [enrolment_embedding(photo_bytes(name))] for person, name in ENROLMENT_PHOTOS.items()}
    return Gallery.build(1, people)


@pytest.fixture(scope="module")
def photo_encoder() -> FaceEncoder:
    # Probing whole photographs, not gate frames: full resolution, small faces, every face.
    return FaceEncoder(detect_width=1600, upsample=1, min_face_px=40, max_faces=10)


def test_enrolment_embedding_is_128_finite_float32() -> None:
    embedding = enrolment_embedding(photo_bytes("obama.jpg"))
    assert embedding.dtype == np.float32
    assert embedding.shape == (EMBEDDING_DIM,)
    assert np.all(np.isfinite(embedding))


def test_every_labelled_face_in_the_other_photos_is_recognised_or_rejected(
    gallery: Gallery, photo_encoder: FaceEncoder
) -> None:
    policy = MatchPolicy()
    outcomes: list[tuple[str, str, str | None, float]] = []
    for name, people in sorted(labels().items()):
        if name in ENROLMENT_PHOTOS.values():
            continue
        observations = photo_encoder.observe(_photo_bgr(name))
        assert len(observations) == len(people), f"{name}: found {len(observations)} faces, labelled {people}"
        left_to_right = sorted(observations, key=lambda o: o.box[3])
        for expected, observation in zip(people, left_to_right, strict=True):
            match = gallery.match(observation.embedding)
            assert match is not None
            verdict = policy.classify(match)
            accepted = match.person_id if verdict == RECOGNISED else None
            outcomes.append((name, expected, accepted, match.distance))
    false_accepts = [o for o in outcomes if o[2] is not None and o[2] != o[1]]
    false_rejects = [o for o in outcomes if o[1] != "unknown" and o[2] != o[1]]
    assert not false_accepts, false_accepts
    assert not false_rejects, false_rejects
    assert sum(1 for o in outcomes if o[1] == "obama") >= 5
    # The shared folder has 3 more biden faces and a stranger; the registry's photo set has neither
    # (0 == 0 there): test_vision_strangers.py makes strangers of every face, from either set.
    labelled_strangers = sum(people.count("unknown") for people in labels().values())
    assert sum(1 for o in outcomes if o[1] == "unknown" and o[2] is None) == labelled_strangers


def test_gate_encoder_on_a_640_frame_finds_and_recognises_the_visitor(gallery: Gallery) -> None:
    frame = _photo_bgr("obama2.jpg")
    height, width = frame.shape[:2]
    frame = np.asarray(cv2.resize(frame, (640, round(height * 640 / width)), interpolation=cv2.INTER_AREA))
    observations = FaceEncoder().observe(frame)
    assert len(observations) == 1
    top, right, bottom, left = observations[0].box
    assert 0 <= left < right <= frame.shape[1] and 0 <= top < bottom <= frame.shape[0]
    match = gallery.match(observations[0].embedding)
    assert match is not None and match.person_id == "obama" and match.distance < 0.5


def test_gate_encoder_reports_the_largest_face_first_and_nothing_for_an_empty_frame() -> None:
    encoder = FaceEncoder(detect_width=640, min_face_px=60, max_faces=3)
    frame = cv2.imdecode(np.frombuffer(two_people_photo(), np.uint8), cv2.IMREAD_COLOR)
    observations = encoder.observe(frame)
    sides = [o.side_px for o in observations]
    assert len(sides) == 2 and sides == sorted(sides, reverse=True)
    assert encoder.observe(np.full((480, 640, 3), 127, dtype=np.uint8)) == []


@pytest.mark.parametrize(
    "frame",
    [np.zeros((480, 640), dtype=np.uint8), np.zeros((480, 640, 3), dtype=np.float32), "not a frame"],
    ids=["grey", "float", "string"],
)
def test_gate_encoder_refuses_a_frame_that_is_not_bgr_uint8(frame: object) -> None:
    with pytest.raises(ValueError, match="frame"):
        FaceEncoder().observe(frame)  # type: ignore[arg-type]


def test_png_and_exif_rotated_photos_are_read_upright() -> None:
    upright = enrolment_embedding(photo_bytes("obama.jpg"))
    rgb = cv2.cvtColor(_photo_bgr("obama.jpg"), cv2.COLOR_BGR2RGB)
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    assert np.linalg.norm(enrolment_embedding(png.getvalue()) - upright) < 0.1
    # Stored rotated 90° clockwise with EXIF orientation 8 ("rotate 90° CW to view"): a camera photo
    # taken sideways. Without honouring EXIF the face lies on its side and is not found.
    rotated = Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = 8
    sideways = io.BytesIO()
    rotated.save(sideways, format="JPEG", quality=95, exif=exif.tobytes())
    assert np.linalg.norm(enrolment_embedding(sideways.getvalue()) - upright) < 0.2
    without_exif = io.BytesIO()
    rotated.save(without_exif, format="JPEG", quality=95)
    with pytest.raises(PhotoRejected) as caught:
        enrolment_embedding(without_exif.getvalue())
    assert caught.value.code == "no_face"


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, this is not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 64],
    ids=["empty", "text", "broken-jpeg"],
)
def test_enrolment_refuses_what_is_not_an_image(data: bytes) -> None:
    with pytest.raises(PhotoRejected) as caught:
        enrolment_embedding(data)
    assert caught.value.code == "not_an_image"
    assert str(caught.value).startswith("not_an_image: ")


def test_enrolment_refuses_a_photo_without_a_face() -> None:
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1))
    plain = cv2.merge([gradient, np.full_like(gradient, 90), 255 - gradient])
    with pytest.raises(PhotoRejected) as caught:
        enrolment_embedding(_jpeg(plain))
    assert caught.value.code == "no_face"


def test_enrolment_refuses_a_photo_of_two_people() -> None:
    with pytest.raises(PhotoRejected) as caught:
        enrolment_embedding(two_people_photo())
    assert caught.value.code == "several_faces"
    assert "2 faces" in caught.value.message


def test_enrolment_refuses_a_face_that_is_too_small() -> None:
    small = cv2.resize(_photo_bgr("obama.jpg"), None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)
    with pytest.raises(PhotoRejected) as caught:
        enrolment_embedding(_jpeg(small))
    assert caught.value.code == "face_too_small"
    # The same photo passes when the caller accepts smaller faces.
    assert enrolment_embedding(_jpeg(small), FaceQuality(min_face_px=40)).shape == (EMBEDDING_DIM,)


def test_enrolment_refuses_a_blurred_photo_but_takes_every_real_one() -> None:
    blurred = cv2.GaussianBlur(_photo_bgr("obama.jpg"), (0, 0), 3)
    with pytest.raises(PhotoRejected) as caught:
        enrolment_embedding(_jpeg(blurred))
    assert caught.value.code == "too_blurred"
    for name, people in labels().items():
        if len(people) == 1:
            assert enrolment_embedding(photo_bytes(name)).shape == (EMBEDDING_DIM,), name


def test_enrolment_refuses_too_many_bytes_or_pixels() -> None:
    data = photo_bytes("obama.jpg")
    with pytest.raises(PhotoRejected) as by_bytes:
        enrolment_embedding(data, FaceQuality(max_image_bytes=len(data) - 1))
    assert by_bytes.value.code == "too_large"
    with pytest.raises(PhotoRejected) as by_pixels:
        enrolment_embedding(data, FaceQuality(max_pixels=1000 * 1000))
    assert by_pixels.value.code == "too_large"
    # A 20000×20000 PNG is 1.2 GB decoded but tiny on the wire: refused from its header alone.
    huge = io.BytesIO()
    Image.new("L", (20000, 20000)).save(huge, format="PNG")
    assert len(huge.getvalue()) < 2_000_000
    with pytest.raises(PhotoRejected) as bomb:
        enrolment_embedding(huge.getvalue())
    assert bomb.value.code == "too_large"


def test_photo_rejected_refuses_an_unknown_code() -> None:
    with pytest.raises(ValueError, match="unknown PhotoRejected code"):
        PhotoRejected("bad_code", "x")


def test_embedding_b64_round_trip_is_exact() -> None:
    embedding = np.random.default_rng(1).normal(0, 0.1, EMBEDDING_DIM).astype(np.float32)
    text = embedding_to_b64(embedding)
    assert len(text) == 684
    decoded = embedding_from_b64(text)
    assert decoded.dtype == np.float32 and np.array_equal(decoded, embedding)


def _raw_b64(values: np.ndarray) -> str:
    return base64.b64encode(values.astype("<f4").tobytes()).decode("ascii")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("not base64!", "base64"),
        (embedding_to_b64(np.zeros(EMBEDDING_DIM))[:-8], "bytes"),
        (_raw_b64(np.full(EMBEDDING_DIM, math.nan)), "finite"),
        (_raw_b64(np.zeros(EMBEDDING_DIM + 1)), "bytes"),
        (12, "string"),
    ],
    ids=["not-base64", "short", "nan", "129-values", "not-a-string"],
)
def test_embedding_from_b64_refuses_bad_values(text: object, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        embedding_from_b64(text)  # type: ignore[arg-type]


def test_embedding_to_b64_refuses_wrong_shape_or_nan() -> None:
    with pytest.raises(ValueError, match="shape"):
        embedding_to_b64(np.zeros(127))
    with pytest.raises(ValueError, match="finite"):
        embedding_to_b64(np.full(EMBEDDING_DIM, np.inf))


def test_enrolment_refuses_text_instead_of_bytes() -> None:
    with pytest.raises(PhotoRejected) as caught:
        enrolment_embedding("obama.jpg")  # type: ignore[arg-type]
    assert caught.value.code == "not_an_image"


def test_concurrent_calls_from_threads_give_the_same_embeddings_as_serial_ones() -> None:
    probe = "biden2.jpg" if has_photo("biden2.jpg") else "obama.jpg"  # the registry has no biden2
    frame = np.asarray(cv2.resize(_photo_bgr(probe), (640, 640)), dtype=np.uint8)
    encoder = FaceEncoder()
    serial_photo = enrolment_embedding(photo_bytes("obama2.jpg"))
    serial_frame = encoder.observe(frame)[0].embedding
    with ThreadPoolExecutor(max_workers=4) as pool:
        photos = [pool.submit(enrolment_embedding, photo_bytes("obama2.jpg")) for _ in range(2)]
        frames = [pool.submit(encoder.observe, frame) for _ in range(2)]
        for photo in photos:
            assert np.allclose(photo.result(), serial_photo, atol=1e-5)
        for observed in frames:
            assert np.allclose(observed.result()[0].embedding, serial_frame, atol=1e-5)
