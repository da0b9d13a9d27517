"""The enrolled people's embeddings and a vectorised 1:N match.

All embeddings sit in one float32 matrix sorted by person, with their squared norms precomputed,
so a match is one matrix-vector product (``|a-b|² = |a|² + |b|² - 2a·b``) and a per-person minimum
(``np.minimum.reduceat``): ≈ 3–5 ms for 100k embeddings on two cores (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from devices.vision.faces import EMBEDDING_DIM, check_embedding, embedding_from_b64, embedding_to_b64

MAX_PERSON_ID_LENGTH = 128


@dataclass(frozen=True)
class Match:
    """The nearest enrolled person and the nearest other one (distances are Euclidean)."""

    person_id: str
    distance: float
    runner_up: str | None
    runner_up_distance: float

    @property
    def margin(self) -> float:
        """How much further the runner-up is; math.inf when only one person is enrolled."""
        if self.runner_up is None:
            return math.inf
        return self.runner_up_distance - self.distance


def _check_person_id(person_id: object) -> str:
    if not isinstance(person_id, str) or not person_id.strip():
        raise ValueError(f"a person_id must be a non-empty string, got {person_id!r}")
    if len(person_id) > MAX_PERSON_ID_LENGTH:
        raise ValueError(f"a person_id is at most {MAX_PERSON_ID_LENGTH} characters, got {len(person_id)}")
    return person_id


class Gallery:
    """An immutable set of people, each with one or more embeddings, and a ``version``."""

    def __init__(
        self,
        version: int,
        person_ids: tuple[str, ...],
        matrix: npt.NDArray[np.float32],
        starts: npt.NDArray[np.intp],
    ) -> None:
        """Use Gallery.build, from_wire or load; this trusts its (already checked) arguments."""
        self.version = version
        self._person_ids = person_ids
        self._matrix = matrix
        self._starts = starts
        self._squared_norms = np.einsum("ij,ij->i", matrix, matrix)
        self._ends = np.append(starts[1:], matrix.shape[0]).astype(np.intp)
        self._index_of = {person_id: index for index, person_id in enumerate(person_ids)}

    @classmethod
    def build(cls, version: int, people: Mapping[str, Sequence[npt.ArrayLike]]) -> Gallery:
        """A gallery from ``{person_id: [embedding, ...]}``; ValueError on any bad value."""
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError(f"a gallery version must be an integer ≥ 0, got {version!r}")
        person_ids: list[str] = []
        rows: list[npt.NDArray[np.float32]] = []
        starts: list[int] = []
        for person_id, embeddings in people.items():
            _check_person_id(person_id)
            if isinstance(embeddings, str | bytes) or len(embeddings) == 0:
                raise ValueError(f"person {person_id!r} needs a non-empty list of embeddings")
            starts.append(len(rows))
            person_ids.append(person_id)
            for index, embedding in enumerate(embeddings):
                try:
                    rows.append(check_embedding(embedding))
                except ValueError as exc:
                    raise ValueError(f"person {person_id!r}, embedding {index}: {exc}") from exc
        matrix = np.vstack(rows) if rows else np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        return cls(version, tuple(person_ids), matrix, np.asarray(starts, dtype=np.intp))

    def __len__(self) -> int:
        return len(self._person_ids)

    @property
    def embedding_count(self) -> int:
        return int(self._matrix.shape[0])

    @property
    def person_ids(self) -> tuple[str, ...]:
        return self._person_ids

    def embeddings_of(self, person_id: str) -> npt.NDArray[np.float32]:
        """A copy of one person's embeddings (KeyError if not enrolled)."""
        return self._rows(self._index_of[person_id]).copy()

    def _rows(self, index: int) -> npt.NDArray[np.float32]:
        return self._matrix[self._starts[index] : self._ends[index]]

    def match(self, embedding: npt.ArrayLike) -> Match | None:
        """The nearest person (min over their embeddings) and the runner-up; None if empty."""
        if not self._person_ids:
            return None
        probe = check_embedding(embedding)
        squared = self._squared_norms + np.float32(probe @ probe) - 2.0 * (self._matrix @ probe)
        per_person = np.minimum.reduceat(squared, self._starts)
        if len(per_person) == 1:
            return Match(self._person_ids[0], _distance(per_person[0]), None, math.inf)
        best_two = np.argpartition(per_person, 1)[:2]
        first, second = sorted(best_two, key=lambda i: per_person[i])
        return Match(
            self._person_ids[first],
            _distance(per_person[first]),
            self._person_ids[second],
            _distance(per_person[second]),
        )

    def to_wire(self) -> dict[str, object]:
        """``{"version": n, "people": [{"person_id": ..., "embeddings": ["<b64>", ...]}]}``."""
        people = []
        for index, person_id in enumerate(self._person_ids):
            encoded = [embedding_to_b64(row) for row in self._rows(index)]
            people.append({"person_id": person_id, "embeddings": encoded})
        return {"version": self.version, "people": people}

    @classmethod
    def from_wire(cls, obj: object) -> Gallery:
        """Inverse of to_wire; ValueError naming the bad field for anything malformed."""
        if not isinstance(obj, dict):
            raise ValueError(f"a gallery must be a JSON object, got {type(obj).__name__}")
        unknown = set(obj) - {"version", "people"}
        if unknown:
            raise ValueError(f"a gallery has unknown fields: {sorted(unknown)}")
        version = obj.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError(f"gallery.version must be an integer ≥ 0, got {version!r}")
        people = obj.get("people")
        if not isinstance(people, list):
            raise ValueError(f"gallery.people must be a list, got {type(people).__name__}")
        decoded: dict[str, list[npt.NDArray[np.float32]]] = {}
        for position, person in enumerate(people):
            where = f"gallery.people[{position}]"
            if not isinstance(person, dict) or set(person) != {"person_id", "embeddings"}:
                raise ValueError(f"{where} must be an object with exactly person_id and embeddings")
            try:
                person_id = _check_person_id(person["person_id"])
            except ValueError as exc:
                raise ValueError(f"{where}.person_id: {exc}") from exc
            if person_id in decoded:
                raise ValueError(f"{where}.person_id: {person_id!r} appears more than once")
            embeddings = person["embeddings"]
            if not isinstance(embeddings, list) or not embeddings:
                raise ValueError(f"{where}.embeddings must be a non-empty list of base64 strings")
            vectors = []
            for index, encoded in enumerate(embeddings):
                try:
                    vectors.append(embedding_from_b64(encoded))
                except ValueError as exc:
                    raise ValueError(f"{where}.embeddings[{index}]: {exc}") from exc
            decoded[person_id] = vectors
        return cls.build(version, decoded)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the wire form as JSON atomically: readers see the old file or the new one."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(self.to_wire(), file, separators=(",", ":"))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Gallery | None:
        """The gallery saved at ``path``; None if there is none; ValueError if it is corrupt."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise ValueError(f"gallery file {path} is not UTF-8 text ({exc})") from exc
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"gallery file {path} is not valid JSON ({exc})") from exc
        try:
            return cls.from_wire(obj)
        except ValueError as exc:
            raise ValueError(f"gallery file {path}: {exc}") from exc


def _distance(squared: np.float32) -> float:
    # Rounding can make |a-b|² slightly negative for (near-)identical vectors.
    return math.sqrt(max(0.0, float(squared)))
