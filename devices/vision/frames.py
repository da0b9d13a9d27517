"""Frame sources for the face gate: a camera, a stream URL, a video file or a folder of images.

Every source yields BGR uint8 frames no wider than ``max_width`` (detection cost grows with the
frame area; 640 px is plenty for faces at a gate) and ``None`` at the end.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
# A stream that does not answer must not hang the gate agent's start-up or its frame loop.
STREAM_TIMEOUT_MS = 5000

Frame = npt.NDArray[np.uint8]


class FrameSource(Protocol):
    def read(self) -> Frame | None:
        """The next BGR frame, or None when the source has ended."""
        ...

    def close(self) -> None: ...


def _fit_width(frame: Frame, max_width: int) -> Frame:
    height, width = frame.shape[:2]
    if width <= max_width:
        return frame
    size = (max_width, max(1, round(height * max_width / width)))
    return np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


class _ClosingContext:
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> _ClosingContext:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class CaptureSource(_ClosingContext):
    """A cv2.VideoCapture: camera, stream or video file. ``loop`` rewinds a file at its end."""

    def __init__(self, spec: str, capture: cv2.VideoCapture, max_width: int, loop: bool) -> None:
        self.spec = spec
        self._capture = capture
        self._max_width = max_width
        self._loop = loop

    def read(self) -> Frame | None:
        ok, frame = self._capture.read()
        if not ok and self._loop:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._capture.read()
        if not ok or frame is None:
            return None
        return _fit_width(np.asarray(frame, dtype=np.uint8), self._max_width)

    def close(self) -> None:
        self._capture.release()


class ImageFolderSource(_ClosingContext):
    """The images of a folder, sorted by name; unreadable files are logged and skipped."""

    def __init__(self, spec: str, paths: list[Path], max_width: int, loop: bool) -> None:
        self.spec = spec
        self._paths = paths
        self._max_width = max_width
        self._loop = loop
        self._next = 0

    def read(self) -> Frame | None:
        skipped_in_a_row = 0
        while skipped_in_a_row < len(self._paths):
            if self._next >= len(self._paths):
                if not self._loop:
                    return None
                self._next = 0
            path = self._paths[self._next]
            self._next += 1
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is not None:
                return _fit_width(np.asarray(frame, dtype=np.uint8), self._max_width)
            logger.warning("frame source %s: cannot read %s as an image; skipped", self.spec, path)
            skipped_in_a_row += 1
        return None

    def close(self) -> None:
        self._next = len(self._paths)
        self._loop = False


def open_source(spec: str, *, max_width: int = 640, loop: bool = False) -> FrameSource:
    """Open a camera index ("0"), an rtsp/http(s) URL, a video file or a folder of images.

    ValueError for a spec that names none of these, OSError when it cannot be opened.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a frame source must be a non-empty string, got {spec!r}")
    if max_width < 16:
        raise ValueError(f"max_width must be at least 16 px, got {max_width}")
    if spec.isdigit():
        capture = cv2.VideoCapture(int(spec))
        return _opened(spec, capture, max_width, loop=False, what="camera")
    if spec.lower().startswith(STREAM_SCHEMES):
        capture = cv2.VideoCapture(
            spec,
            cv2.CAP_FFMPEG,
            [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
            ],
        )
        return _opened(spec, capture, max_width, loop=False, what="stream")
    path = Path(spec)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise OSError(f"frame source {spec!r}: the folder holds no images ({suffixes})")
        return ImageFolderSource(spec, images, max_width, loop)
    if path.is_file():
        return _opened(spec, cv2.VideoCapture(str(path)), max_width, loop=loop, what="video file")
    raise ValueError(
        f"frame source {spec!r} is not a camera index, an rtsp/http(s) URL, a video file or a folder"
    )


def _opened(spec: str, capture: cv2.VideoCapture, max_width: int, *, loop: bool, what: str) -> CaptureSource:
    if not capture.isOpened():
        capture.release()
        raise OSError(f"frame source {spec!r}: cannot open the {what}")
    return CaptureSource(spec, capture, max_width, loop)
