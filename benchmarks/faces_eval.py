"""Face recognition benchmark: accuracy on the test photos, gate latency, 1:N match time.

    .venv/bin/python benchmarks/faces_eval.py [--faces-dir DIR] [--frames 60] [--probes 300]

1. Accuracy: enrol each person from one photo (obama.jpg, biden.jpg), probe every labelled face
   in every other photo once at the default MatchPolicy; print true accepts, false accepts
   (unknown faces included) and false rejects per person, with distances and margins. Probes are
   taken twice: from the full photos (every face) and from 640-wide frames with the gate's
   FaceEncoder defaults (only faces a gate would act on).
2. Detector settings on 640-wide frames: time and faces found per (detect_width, upsample).
3. Per-frame decision latency at 640×480: FaceEncoder.observe (detect + encode) + Gallery.match
   against a 1k gallery, p50/p95.
4. 1:N match time for synthetic galleries of 10k and 100k embeddings, p50/p95.

Synthetic embeddings look like real ones: a real embedding from the photos plus Gaussian noise,
σ = 0.05 per dimension between people (≈ 0.8 apart, like obama vs biden) and σ = 0.02 within a
person (≈ 0.3 apart, like two photos of one person); two embeddings per person.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devices.vision.decision import RECOGNISED, MatchPolicy
from devices.vision.faces import FaceEncoder, _detect, enrolment_embedding
from devices.vision.gallery import Gallery

warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

DEFAULT_FACES_DIR = Path(__file__).resolve().parents[2] / "shared" / "faces"
ENROLMENT = {"obama": "obama.jpg", "biden": "biden.jpg"}
BETWEEN_PEOPLE_SIGMA = 0.05
WITHIN_PERSON_SIGMA = 0.02


def percentiles(samples_s: list[float]) -> str:
    ordered = sorted(samples_s)
    p50 = statistics.median(ordered) * 1000
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000
    return f"p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  (n={len(ordered)})"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path} as an image")
    return np.asarray(image, dtype=np.uint8)


def fit_width(image: np.ndarray, width: int) -> np.ndarray:
    height = round(image.shape[0] * width / image.shape[1])
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))


def gate_frame(image: np.ndarray, face_px: int) -> np.ndarray:
    """A 640×480 frame of the photo's largest face, scaled so the face is ``face_px`` across,
    as a camera at the gate would see a visitor (grey where the photo ends)."""
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    boxes = _detect(rgb, min(1.0, 1600 / max(rgb.shape[:2])), 1)
    top, right, bottom, left = max(boxes, key=lambda b: b[2] - b[0])
    scale = face_px / (bottom - top)
    centre_x, centre_y = (left + right) / 2 * scale, (top + bottom) / 2 * scale
    matrix = np.array([[scale, 0, 320 - centre_x], [0, scale, 240 - centre_y]], dtype=np.float32)
    warped = cv2.warpAffine(image, matrix, (640, 480), flags=cv2.INTER_AREA, borderValue=(90, 90, 90))
    return np.asarray(warped, dtype=np.uint8)


def accuracy(
    faces_dir: Path, labels: dict[str, list[str]], gallery: Gallery, encoder: FaceEncoder, width: int | None
) -> list[np.ndarray]:
    policy = MatchPolicy()
    outcome: Counter[tuple[str, str]] = Counter()
    probes = []
    print(f"  {'photo':24} {'label':8} {'verdict':10} {'nearest':8} {'dist':>5} {'margin':>6}")
    for name, people in sorted(labels.items()):
        if name in ENROLMENT.values():
            continue
        image = read_image(faces_dir / name)
        if width is not None:
            image = fit_width(image, width)
        observations = sorted(encoder.observe(image), key=lambda o: o.box[3])
        if len(observations) != len(people):
            print(f"  {name:24} labelled {len(people)} faces, found {len(observations)}: not scored")
            for person in people:
                outcome[(person, "not_found")] += 1
            continue
        for person, observation in zip(people, observations, strict=True):
            probes.append(observation.embedding)
            match = gallery.match(observation.embedding)
            assert match is not None
            verdict = policy.classify(match)
            if verdict == RECOGNISED:
                kind = "true_accept" if match.person_id == person else "false_accept"
            else:
                kind = "true_reject" if person == "unknown" else "false_reject"
            outcome[(person, kind)] += 1
            print(
                f"  {name:24} {person:8} {verdict:10} {match.person_id:8} {match.distance:5.3f} "
                f"{match.margin:6.3f}"
            )
    for person in [*ENROLMENT, "unknown"]:
        counts = {kind: outcome[(person, kind)] for _, kind in outcome if _ == person}
        print(f"  {person:8} " + ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items())))
    false_accepts = sum(count for (_, kind), count in outcome.items() if kind == "false_accept")
    print(f"  false accepts in total: {false_accepts}")
    return probes


def synthetic_gallery(real: list[np.ndarray], people: int, rng: np.random.Generator) -> Gallery:
    bases = np.asarray(real, dtype=np.float32)[rng.integers(0, len(real), people)]
    centres = bases + rng.normal(0, BETWEEN_PEOPLE_SIGMA, bases.shape).astype(np.float32)
    first = centres + rng.normal(0, WITHIN_PERSON_SIGMA, centres.shape).astype(np.float32)
    second = centres + rng.normal(0, WITHIN_PERSON_SIGMA, centres.shape).astype(np.float32)
    return Gallery.build(1, {f"p{i:06d}": [first[i], second[i]] for i in range(people)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = Path(os.environ.get("HALL_FACES_DIR", DEFAULT_FACES_DIR))
    parser.add_argument("--faces-dir", type=Path, default=default_dir)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--probes", type=int, default=300)
    args = parser.parse_args()
    faces_dir: Path = args.faces_dir
    labels: dict[str, list[str]] = json.loads((faces_dir / "labels.json").read_text())
    rng = np.random.default_rng(2026)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"python {platform.python_version()}, numpy {np.__version__}, opencv {cv2.__version__}, "
        f"dlib-bin {importlib.metadata.version('dlib-bin')}, "
        f"face_recognition {importlib.metadata.version('face_recognition')}"
    )
    print(f"load average at start (other work on these cores slows every figure): {load_average()}")
    enrolled = {
        person: enrolment_embedding((faces_dir / name).read_bytes()) for person, name in ENROLMENT.items()
    }
    gallery = Gallery.build(1, {person: [e] for person, e in enrolled.items()})

    print("\n1a. accuracy, full photos (FaceEncoder(detect_width=1600, upsample=1, min_face_px=40))")
    photo_encoder = FaceEncoder(detect_width=1600, upsample=1, min_face_px=40, max_faces=10)
    real = accuracy(faces_dir, labels, gallery, photo_encoder, None) + list(enrolled.values())
    print("\n1b. accuracy, photos scaled to 640 wide, gate defaults (FaceEncoder())")
    accuracy(faces_dir, labels, gallery, FaceEncoder(max_faces=10), 640)

    single_face = [
        read_image(faces_dir / name) for name, people in sorted(labels.items()) if len(people) == 1
    ]
    print(f"\n2. HOG detection on 640×480 gate frames of {len(single_face)} photos, by face size (ms, found)")
    sizes = (70, 90, 110, 160, 240)
    frames_by_size = {size: [gate_frame(image, size) for image in single_face] for size in sizes}
    for detect_width, upsample in [(320, 0), (320, 1), (480, 0), (640, 0)]:
        times, found = [], []
        for size in sizes:
            hits = 0
            for frame in frames_by_size[size]:
                rgb = np.ascontiguousarray(frame[:, :, ::-1])
                started = time.perf_counter()
                hits += bool(_detect(rgb, min(1.0, detect_width / 640), upsample))
                times.append(time.perf_counter() - started)
            found.append(f"{size}px {hits}/{len(single_face)}")
        print(f"  detect_width {detect_width} upsample {upsample}: {percentiles(times)}; " + ", ".join(found))

    print("\n3. per-frame decision at 640×480: observe (detect + encode largest face) + match, 1k gallery")
    gallery_1k = synthetic_gallery(real, 500, rng)
    encoder = FaceEncoder()
    encoder.observe(frames_by_size[160][0])  # warm-up: the first call loads the models
    gate_frames = [frame for size in (110, 160, 240) for frame in frames_by_size[size]]
    empty_frame = np.full((480, 640, 3), 90, np.uint8)
    for label, frames in [("visitor in frame", gate_frames), ("empty frame", [empty_frame])]:
        decisions, faces_seen = [], 0
        for index in range(args.frames):
            frame = frames[index % len(frames)]
            started = time.perf_counter()
            observations = encoder.observe(frame)
            if observations:
                gallery_1k.match(observations[0].embedding)
            decisions.append(time.perf_counter() - started)
            faces_seen += bool(observations)
        print(f"  {label:17} {percentiles(decisions)}; frames with a face {faces_seen}/{args.frames}")

    print("\n4. 1:N match, synthetic galleries (2 embeddings per person)")
    for people in (5_000, 50_000):
        big = synthetic_gallery(real, people, rng)
        probes = [
            real[int(rng.integers(len(real)))] + rng.normal(0, BETWEEN_PEOPLE_SIGMA, 128).astype(np.float32)
            for _ in range(args.probes)
        ]
        big.match(probes[0])
        times = []
        for probe in probes:
            started = time.perf_counter()
            big.match(probe)
            times.append(time.perf_counter() - started)
        sample = big.match(probes[0])
        assert sample is not None
        print(
            f"  {big.embedding_count:>7} embeddings ({people} people): {percentiles(times)}; "
            f"sample nearest {sample.distance:.2f}, runner-up {sample.runner_up_distance:.2f}"
        )


    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
