"""Face gate false accepts and false rejects per probe type, on strangers made from the test photos.

    .venv/bin/python benchmarks/faces_strangers.py [--faces-dir DIR]

The probes and galleries are those of tests/unit/test_vision_strangers.py (built by
tests/support/face_probes.py, which says how): each enrolled person in turn is left out of the
gallery so that every face of theirs is a stranger, the "unknown" faces are strangers to the
full gallery, and every face is also probed mirrored, occluded, downscaled, darker, brighter and
rotated. Everything is decided per frame at the default MatchPolicy (threshold 0.5, margin 0.1).

Prints markdown tables: strangers per probe type (false accepts / probes that reached the
matcher, probes in which no face was found, the nearest stranger's distance), strangers per
source, and known probes per type (accepted as themselves, false rejects, taken for someone else).
Photos: --faces-dir, else HALL_FACES_DIR, else the shared folder, else the face_recognition
1.3.0 photos from PyPI (as the tests find them).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _nearest(values: Iterable[float | None]) -> str:
    present = [v for v in values if v is not None]
    return f"{min(present):.2f}" if present else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--faces-dir", type=Path, help="a folder of photos with a labels.json")
    args = parser.parse_args()
    if args.faces_dir is not None:
        os.environ["HALL_FACES_DIR"] = str(args.faces_dir)

    from _pytest.outcomes import Failed

    from devices.vision.decision import MatchPolicy
    from tests.support.face_probes import (
        GALLERY_KINDS,
        OCCLUSIONS,
        PROBE_TYPES,
        enrolment_photos,
        labelled_faces,
        probe_set,
        trials,
    )
    from tests.support.faces import faces_dir

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}")
    print(f"load average at start (other work on these cores slows the timing): "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    try:
        started = time.perf_counter()
        probes = probe_set()
        built_s = time.perf_counter() - started
        results = list(trials())
    except Failed as failure:
        raise SystemExit(f"cannot build the probes: {failure}") from None
    faces = labelled_faces()
    policy = MatchPolicy()
    enrolled = ", ".join(f"{person} ({photo})" for person, photo in enrolment_photos().items())
    unknown = sum(1 for face in faces if face.person not in enrolment_photos())
    print(f"photos: {faces_dir()}: {len({f.photo for f in faces})} photos, {len(faces)} labelled faces; "
          f"enrolled from one photo each: {enrolled}; faces of nobody enrolled: {unknown}")
    per_probe_ms = built_s / len(probes) * 1000
    print(f"{len(probes)} probes encoded in {built_s:.1f} s ({per_probe_ms:.0f} ms per probe, "
          f"photo detection included)")
    print(f"policy: threshold {policy.threshold}, margin {policy.margin}, decided per frame")

    strangers = [t for t in results if t.kind == "stranger"]
    print("\nStrangers: false accepts / probes that reached the matcher (no face found: not detected)\n")
    print("| probe type | face px | stranger probes | not detected | false accepts, one photo each "
          "| false accepts, every photo | nearest stranger (one / every) |")
    print("|---|---|---|---|---|---|---|")
    for variant in (*PROBE_TYPES, "all"):
        rows = {kind: [t for t in strangers if t.gallery_kind == kind and variant in ("all", t.probe.variant)]
                for kind in GALLERY_KINDS}
        one, every = rows["one_photo"], rows["every_photo"]
        detected = [t for t in one if t.detected]
        name = f"{variant} (occluded)" if variant in OCCLUSIONS else variant
        if variant == "all":
            name = "**all**"
        sizes = [t.probe.face_px for t in detected]
        face_px = f"{min(sizes)}–{max(sizes)}" if sizes else "–"
        print(
            f"| {name} | {face_px} | {len(one)} | {len(one) - len(detected)} "
            f"| {sum(t.false_accept for t in one)} / {len(detected)} "
            f"| {sum(t.false_accept for t in every)} / {sum(t.detected for t in every)} "
            f"| {_nearest(t.distance for t in one)} / {_nearest(t.distance for t in every)} |"
        )

    print("\nStrangers by source (all probe types; galleries enrolled from one photo each / every photo)\n")
    print("| source | gallery | faces | probes | not detected | false accepts (one / every) "
          "| nearest stranger (one / every) |")
    print("|---|---|---|---|---|---|---|")
    for source, gallery in sorted({(t.source, t.gallery) for t in strangers}):
        one, every = (
            [t for t in strangers if (t.source, t.gallery, t.gallery_kind) == (source, gallery, kind)]
            for kind in GALLERY_KINDS
        )
        people = {t.probe.face for t in one}
        print(
            f"| {source} | {gallery} | {len(people)} | {len(one)} | {sum(not t.detected for t in one)} "
            f"| {sum(t.false_accept for t in one)} / {sum(t.false_accept for t in every)} "
            f"| {_nearest(t.distance for t in one)} / {_nearest(t.distance for t in every)} |"
        )

    known = [t for t in results if t.kind == "known"]
    print("\nKnown probes (faces of enrolled people outside their enrolment photo; "
          "gallery: one photo each)\n")
    print("| probe type | known probes | not detected | accepted as themselves | false rejects (refused) "
          "| taken for someone else | farthest own distance |")
    print("|---|---|---|---|---|---|---|")
    for variant in (*PROBE_TYPES, "all"):
        rows = [t for t in known if variant in ("all", t.probe.variant)]
        detected = [t for t in rows if t.detected]
        right = sum(t.accepted_as == t.probe.face.person for t in rows)
        refused = sum(t.accepted_as is None for t in detected)
        own = [t.distance for t in detected if t.nearest == t.probe.face.person]
        name = f"{variant} (occluded)" if variant in OCCLUSIONS else variant
        if variant == "all":
            name = "**all**"
        farthest = f"{max(own):.2f}" if own else "–"
        print(
            f"| {name} | {len(rows)} | {len(rows) - len(detected)} | {right} | {refused} "
            f"| {sum(t.false_accept for t in rows)} | {farthest} |"
        )
    print(f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
