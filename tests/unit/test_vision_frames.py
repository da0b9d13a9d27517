"""Frame sources: a folder of images and a real video file written here, and bad specs."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.vision.frames import FrameSource, open_source


def _frame(value: int, width: int = 1280, height: int = 720) -> np.ndarray:
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[:, :, 1] = value  # green level tells the frames apart, even after JPEG/MJPG
    return frame


def _drain(source: FrameSource, limit: int = 100) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    while len(frames) < limit and (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def test_a_folder_yields_its_images_in_name_order_scaled_to_max_width(tmp_path: Path) -> None:
    for name, value in [("b.png", 100), ("a.jpg", 50), ("c.jpeg", 200)]:
        assert cv2.imwrite(str(tmp_path / name), _frame(value))
    (tmp_path / "notes.txt").write_text("not a frame")
    source = open_source(str(tmp_path), max_width=640)
    frames = _drain(source)
    source.close()
    assert [f.shape for f in frames] == [(360, 640, 3)] * 3
    assert [round(float(f[:, :, 1].mean()) / 10) * 10 for f in frames] == [50, 100, 200]


def test_a_folder_skips_an_unreadable_image_and_can_loop(tmp_path: Path) -> None:
    assert cv2.imwrite(str(tmp_path / "1.png"), _frame(10, 320, 240))
    (tmp_path / "2.jpg").write_bytes(b"truncated, not a jpeg")
    with contextlib.closing(open_source(str(tmp_path), loop=True)) as source:
        frames = [source.read() for _ in range(3)]
    assert all(f is not None and f.shape == (240, 320, 3) for f in frames)


def test_a_video_file_yields_every_frame_then_none_or_loops(tmp_path: Path) -> None:
    path = tmp_path / "gate.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (1280, 720))
    assert writer.isOpened()
    for index in range(12):
        writer.write(_frame(20 * index))
    writer.release()
    source = open_source(str(path))
    frames = _drain(source)
    assert source.read() is None
    source.close()
    assert len(frames) == 12
    assert {f.shape for f in frames} == {(360, 640, 3)}
    assert [round(float(f[:, :, 1].mean()) / 20) for f in frames] == list(range(12))
    looping = open_source(str(path), max_width=1280, loop=True)
    frames = _drain(looping, limit=30)
    looping.close()
    assert len(frames) == 30 and frames[0].shape == (720, 1280, 3)


@pytest.mark.parametrize(
    ("spec", "error", "complaint"),
    [
        ("", ValueError, "non-empty"),
        ("/no/such/place", ValueError, "is not a camera index"),
        ("97", OSError, "cannot open the camera"),
        ("rtsp://127.0.0.1:9/none", OSError, "cannot open the stream"),
    ],
)
def test_a_bad_spec_errors_with_the_spec(spec: str, error: type[Exception], complaint: str) -> None:
    started = time.monotonic()
    with pytest.raises(error, match=complaint) as caught:
        open_source(spec)
    assert repr(spec) in str(caught.value) or not spec
    assert time.monotonic() - started < 10


def test_a_file_that_is_not_a_video_or_an_empty_folder_errors(tmp_path: Path) -> None:
    text = tmp_path / "readme.txt"
    text.write_text("hello")
    with pytest.raises(OSError, match="cannot open the video file"):
        open_source(str(text))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OSError, match="no images"):
        open_source(str(empty))
