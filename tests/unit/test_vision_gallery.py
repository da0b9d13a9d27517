"""Gallery: 1:N matching, the wire form, files on disk, and refusing bad data."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest

from devices.vision.faces import EMBEDDING_DIM, embedding_to_b64
from devices.vision.gallery import Gallery, Match

RNG = np.random.default_rng(7)


def _unit(seed_vector: np.ndarray) -> np.ndarray:
    scaled: np.ndarray = (seed_vector / np.linalg.norm(seed_vector) * 0.6).astype(np.float32)
    return scaled


def _people(count: int, per_person: int = 2) -> dict[str, list[np.ndarray]]:
    people = {}
    for index in range(count):
        centre = _unit(RNG.normal(size=EMBEDDING_DIM))
        people[f"p{index:04d}"] = [
            (centre + RNG.normal(0, 0.01, EMBEDDING_DIM)).astype(np.float32) for _ in range(per_person)
        ]
    return people


def test_match_finds_the_nearest_person_over_all_their_embeddings_and_the_runner_up() -> None:
    base = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    near, far = base.copy(), base.copy()
    near[0], far[0] = 0.3, 1.0
    other = base.copy()
    other[1] = 0.5
    gallery = Gallery.build(3, {"ann": [far, near], "bob": [other], "cid": [base + 5.0]})
    match = gallery.match(base)
    assert match is not None and (match.person_id, match.runner_up) == ("ann", "bob")
    assert match.distance == pytest.approx(0.3)
    assert match.runner_up_distance == pytest.approx(0.5)
    assert match.margin == pytest.approx(0.2, abs=1e-5)
    assert (len(gallery), gallery.embedding_count, gallery.person_ids) == (3, 4, ("ann", "bob", "cid"))


def test_match_agrees_with_a_brute_force_search() -> None:
    people = _people(300, per_person=3)
    gallery = Gallery.build(1, people)
    for _ in range(20):
        probe = RNG.normal(0, 0.05, EMBEDDING_DIM).astype(np.float32) + people["p0042"][0]
        per_person = {pid: min(float(np.linalg.norm(e - probe)) for e in es) for pid, es in people.items()}
        ranked = sorted(per_person, key=per_person.__getitem__)
        match = gallery.match(probe)
        assert match is not None
        assert (match.person_id, match.runner_up) == (ranked[0], ranked[1])
        assert match.distance == pytest.approx(per_person[ranked[0]], abs=1e-4)
        assert match.runner_up_distance == pytest.approx(per_person[ranked[1]], abs=1e-4)


def test_an_empty_gallery_matches_nothing_and_one_person_has_infinite_margin() -> None:
    probe = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    assert Gallery.build(0, {}).match(probe) is None
    only = Gallery.build(1, {"ann": [probe]}).match(probe)
    assert only is not None and only.runner_up is None and only.distance == 0.0 and only.margin == math.inf


def test_match_refuses_a_bad_probe() -> None:
    gallery = Gallery.build(1, _people(2))
    with pytest.raises(ValueError, match="shape"):
        gallery.match(np.zeros(64))
    with pytest.raises(ValueError, match="finite"):
        gallery.match(np.full(EMBEDDING_DIM, np.nan))


def test_wire_round_trip_keeps_people_embeddings_and_version() -> None:
    gallery = Gallery.build(42, _people(5, per_person=3))
    wire = json.loads(json.dumps(gallery.to_wire()))
    again = Gallery.from_wire(wire)
    assert again.version == 42 and again.person_ids == gallery.person_ids
    assert again.embedding_count == 15
    for person_id in gallery.person_ids:
        assert np.array_equal(again.embeddings_of(person_id), gallery.embeddings_of(person_id))
    assert again.to_wire() == wire


def _good_wire() -> dict[str, object]:
    return Gallery.build(2, _people(2)).to_wire()


def _person(wire: dict[str, object], index: int = 0) -> dict[str, object]:
    people = wire["people"]
    assert isinstance(people, list)
    person = people[index]
    assert isinstance(person, dict)
    return person


def _break(change: str) -> object:
    wire = _good_wire()
    if change == "not-an-object":
        return [wire]
    if change == "version-missing":
        del wire["version"]
    elif change == "version-negative":
        wire["version"] = -1
    elif change == "version-bool":
        wire["version"] = True
    elif change == "people-not-a-list":
        wire["people"] = {"p0000": []}
    elif change == "extra-field":
        wire["signature"] = "x"
    elif change == "person-not-an-object":
        wire["people"] = ["p0000"]
    elif change == "person-id-empty":
        _person(wire)["person_id"] = " "
    elif change == "person-id-not-a-string":
        _person(wire)["person_id"] = 7
    elif change == "duplicate-person":
        _person(wire, 1)["person_id"] = _person(wire)["person_id"]
    elif change == "embeddings-not-a-list":
        _person(wire)["embeddings"] = embedding_to_b64(np.zeros(EMBEDDING_DIM))
    elif change == "embeddings-empty":
        _person(wire)["embeddings"] = []
    elif change == "embedding-wrong-length":
        _person(wire)["embeddings"] = [embedding_to_b64(np.zeros(EMBEDDING_DIM))[:100]]
    elif change == "embedding-nan":
        raw = np.zeros(EMBEDDING_DIM, dtype="<f4")
        raw[5] = np.nan
        _person(wire)["embeddings"] = [base64.b64encode(raw.tobytes()).decode()]
    elif change == "embedding-not-a-string":
        _person(wire)["embeddings"] = [[0.0] * EMBEDDING_DIM]
    return wire


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ("not-an-object", "JSON object"),
        ("version-missing", "version"),
        ("version-negative", "version"),
        ("version-bool", "version"),
        ("people-not-a-list", "people must be a list"),
        ("extra-field", "unknown fields"),
        ("person-not-an-object", r"people\[0\]"),
        ("person-id-empty", r"people\[0\].person_id"),
        ("person-id-not-a-string", r"people\[0\].person_id"),
        ("duplicate-person", "more than once"),
        ("embeddings-not-a-list", "non-empty list"),
        ("embeddings-empty", "non-empty list"),
        ("embedding-wrong-length", r"embeddings\[0\]"),
        ("embedding-nan", "finite"),
        ("embedding-not-a-string", "base64 string"),
    ],
)
def test_from_wire_refuses_bad_data_and_names_the_field(change: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        Gallery.from_wire(_break(change))


def test_build_refuses_bad_people() -> None:
    with pytest.raises(ValueError, match="non-empty list"):
        Gallery.build(1, {"ann": []})
    with pytest.raises(ValueError, match="'ann', embedding 0"):
        Gallery.build(1, {"ann": [np.zeros(3)]})
    with pytest.raises(ValueError, match="person_id"):
        Gallery.build(1, {"": [np.zeros(EMBEDDING_DIM)]})
    with pytest.raises(ValueError, match="version"):
        Gallery.build(-1, {})


def test_save_and_load_round_trip_and_missing_file_is_none(tmp_path: Path) -> None:
    path = tmp_path / "edge" / "gallery.json"
    assert Gallery.load(path) is None
    gallery = Gallery.build(9, _people(4))
    gallery.save(path)
    loaded = Gallery.load(path)
    assert loaded is not None and loaded.to_wire() == gallery.to_wire()
    Gallery.build(10, _people(1)).save(path)
    replaced = Gallery.load(path)
    assert replaced is not None and replaced.version == 10 and len(replaced) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["gallery.json"], "temporary file left behind"


@pytest.mark.parametrize(
    "content", [b"{not json", b"\xff\xfe\x00", b'{"version": 1, "people": [{"person_id": "a"}]}'], ids=str
)
def test_load_refuses_a_corrupt_file_with_its_path(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "gallery.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"gallery\.json"):
        Gallery.load(path)


def test_margin_is_the_gap_to_the_runner_up() -> None:
    assert Match("ann", 0.3, "bob", 0.55).margin == pytest.approx(0.25)
    assert Match("ann", 0.3, None, math.inf).margin == math.inf
