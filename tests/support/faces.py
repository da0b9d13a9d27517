"""Where the face photos for tests are, and who is in them.

In order: ``$HALL_FACES_DIR``; the team's shared folder ``<repo>/../shared/faces``; else the same
obama/biden photos from the face_recognition 1.3.0 source archive on PyPI, downloaded once into
``<repo>/.cache/faces`` with pip. If all three fail the calling test fails (never skips).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_FACES = REPO.parent / "shared" / "faces"
REGISTRY_CACHE = REPO / ".cache" / "faces"
REGISTRY_PACKAGE = "face_recognition==1.3.0"
REGISTRY_IMAGES = "face_recognition-1.3.0/tests/test_images/"
# Who is in the photos of the registry archive (left to right); checked by hand, see the module doc.
REGISTRY_LABELS: dict[str, list[str]] = {
    "obama.jpg": ["obama"],
    "obama2.jpg": ["obama"],
    "obama3.jpg": ["obama"],
    "obama_partial_face.jpg": ["obama"],
    "obama_partial_face2.jpg": ["obama"],
    "32bit.png": ["obama"],
    "biden.jpg": ["biden"],
}


@cache
def faces_dir() -> Path:
    """The folder of test photos (with a labels.json), fetched from PyPI as a last resort."""
    configured = os.environ.get("HALL_FACES_DIR")
    if configured:
        path = Path(configured)
        if not (path / "labels.json").is_file():
            pytest.fail(f"HALL_FACES_DIR={configured} has no labels.json")
        return path
    if (SHARED_FACES / "labels.json").is_file():
        return SHARED_FACES
    # A clone made elsewhere (CI) still finds the workplace's shared folder further up.
    for ancestor in REPO.parents:
        candidate = ancestor / "shared" / "faces"
        if (candidate / "labels.json").is_file():
            return candidate
    if not (REGISTRY_CACHE / "labels.json").is_file():
        _fetch_from_registry(REGISTRY_CACHE)
    return REGISTRY_CACHE


def labels() -> dict[str, list[str]]:
    """File name → the people in it, left to right by face box; "unknown" is nobody enrolled."""
    loaded = json.loads((faces_dir() / "labels.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return {str(name): [str(person) for person in people] for name, people in loaded.items()}


def photo_path(name: str) -> Path:
    """One photo by file name; fails the test clearly if this photo set lacks it."""
    path = faces_dir() / name
    if not path.is_file():
        pytest.fail(f"test photo {name} is not in {faces_dir()} (the shared photo folder has it)")
    return path


def photo_bytes(name: str) -> bytes:
    return photo_path(name).read_bytes()


def has_photo(name: str) -> bool:
    return (faces_dir() / name).is_file()


def two_people_photo() -> bytes:
    """A photo of two people: two_people.jpg from the shared folder, or (from the registry's
    photos, which have none) obama.jpg and biden.jpg side by side in one JPEG."""
    if has_photo("two_people.jpg"):
        return photo_bytes("two_people.jpg")
    import cv2
    import numpy as np

    images = [cv2.imdecode(np.frombuffer(photo_bytes(n), np.uint8), cv2.IMREAD_COLOR)
              for n in ("obama.jpg", "biden.jpg")]
    height = min(i.shape[0] for i in images)
    images = [cv2.resize(i, (int(i.shape[1] * height / i.shape[0]), height)) for i in images]
    ok, encoded = cv2.imencode(".jpg", np.hstack(images))
    assert ok
    return bytes(encoded.tobytes())


def _fetch_from_registry(target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable, "-m", "pip", "download", REGISTRY_PACKAGE,
            "--no-binary", ":all:", "--no-deps", "--disable-pip-version-check", "-d", scratch,
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.fail(
                f"no face photos: {SHARED_FACES} is missing, HALL_FACES_DIR is unset, and "
                f"`{' '.join(command)}` failed ({exc}); set HALL_FACES_DIR to a folder of labelled photos"
            )
        archives = list(Path(scratch).glob("face_recognition-*.tar.gz"))
        if not archives:
            pytest.fail(f"pip download {REGISTRY_PACKAGE} produced no source archive in {scratch}")
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                name = member.name.removeprefix(REGISTRY_IMAGES)
                if member.isfile() and name in REGISTRY_LABELS:
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    (staging / name).write_bytes(extracted.read())
        present = {name: people for name, people in REGISTRY_LABELS.items() if (staging / name).is_file()}
        (staging / "labels.json").write_text(json.dumps(present, indent=2), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        staging.replace(target)
