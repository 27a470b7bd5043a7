"""Face detectors behind one small protocol, and the registry that names them.

A detector is an object with ``detect(frame_bgr, time_s=None) -> list[Detection]`` (best first), a
``box_adapter`` (how its boxes map onto the landmark-box convention of the PIPNet crops) and ``close()``.
Adding a detector is one module plus one ``register(...)`` line below; everything that offers a choice of
detectors (the CLI, ``predict``, harvest, batch) reads the names from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ..errors import FacetrackError
from ..types import Detection


@dataclass(frozen=True)
class BoxAdapter:
    """A detector's (x0, y0, x1, y1) box in the landmark-box convention: grown by ``scale`` about its centre and
    moved down by ``shift`` x its height."""
    scale: float = 1.0
    shift: float = 0.0

    def __call__(self, box) -> np.ndarray:
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = x1 - x0, y1 - y0
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + self.shift * h
        return np.array([cx - w * self.scale / 2, cy - h * self.scale / 2, cx + w * self.scale / 2,
                         cy + h * self.scale / 2])

    def inverse(self, box) -> np.ndarray:
        """The detector's box whose adapted box is ``box`` (landmark-box convention -> this detector's)."""
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = (x1 - x0) / self.scale, (y1 - y0) / self.scale
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - self.shift * h
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])

    def boxes(self, detections: list[Detection]) -> np.ndarray:
        return np.array([self(d.box) for d in detections], dtype=np.float64).reshape(-1, 4)


IDENTITY = BoxAdapter()


class Detector(Protocol):
    name: str
    box_adapter: BoxAdapter
    # the smallest face (side of its landmark box, frame pixels) the last ``detect`` could have found: a tracked face
    # smaller than that was not looked for, so its track does not count that round as a miss (0: every size)
    last_reach: float

    def detect(self, frame: np.ndarray, time_s: float | None = None) -> list[Detection]:
        """Faces in an H x W x 3 uint8 BGR frame, best first (``time_s``: the frame's time, for detectors that
        track or replay; most ignore it)."""
        ...

    def warmup(self) -> None:
        """Pay the first run's lazy set-up now (a no-op for most)."""
        ...

    def close(self) -> None:
        ...


@dataclass(frozen=True)
class DetectorEntry:
    name: str
    factory: Callable[..., Detector]   # factory(model_path=None, min_score=0.5) -> Detector
    help: str


_REGISTRY: dict[str, DetectorEntry] = {}


def register(name: str, factory: Callable[..., Detector], help: str) -> None:
    _REGISTRY[name] = DetectorEntry(name, factory, help)


def detector_names() -> list[str]:
    return list(_REGISTRY)


DEFAULT_DETECTOR = "fallback"


class ShrunkDetector:
    """Runs a detector on the frame shrunk to ``detect_width`` pixels wide (wider frames only) and maps its boxes
    back: far less work on large frames, at the cost of the smallest faces."""

    def __init__(self, inner: Detector, detect_width: int):
        self.inner, self.detect_width = inner, int(detect_width)
        self.name, self.box_adapter = inner.name, inner.box_adapter
        self.last_reach = 0.0

    def detect(self, frame: np.ndarray, time_s: float | None = None) -> list[Detection]:
        import cv2
        h, w = frame.shape[:2]
        s = self.detect_width / max(w, 1)
        if s >= 1.0:
            dets = self.inner.detect(frame, time_s)
            self.last_reach = self.inner.last_reach
            return dets
        small = cv2.resize(frame, (self.detect_width, max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        dets = [Detection(np.asarray(d.box, np.float64) / s, d.score) for d in self.inner.detect(small, time_s)]
        self.last_reach = self.inner.last_reach / s
        return dets

    def warmup(self) -> None:
        self.inner.warmup()

    def close(self) -> None:
        self.inner.close()


def create_detector(name: str = DEFAULT_DETECTOR, model_path=None, min_score: float = 0.5,
                    detect_width: int | None = None) -> Detector:
    """A detector by registered name. ``model_path``: its model file where it takes one; ``min_score``: the
    lowest score it should report; ``detect_width``: frames wider than this are shrunk to it for detection (a
    detector with its own ``detect_width``, RetinaFace, takes it; others are wrapped in :class:`ShrunkDetector`)."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise FacetrackError(f"unknown detector {name!r} (choose {', '.join(detector_names())})")
    if detect_width is not None and detect_width < 32:
        raise FacetrackError(f"--detect-width must be at least 32 pixels, got {detect_width}")
    det = entry.factory(model_path=model_path, min_score=min_score)
    if detect_width is None:
        return det
    if hasattr(det, "detect_width"):
        det.detect_width = int(detect_width)
        return det
    return ShrunkDetector(det, detect_width)


def detect_boxes(detector: Detector, frame: np.ndarray, time_s: float | None = None, min_score: float = 0.0,
                 max_faces: int | None = None) -> tuple[list[Detection], np.ndarray]:
    """Run a detector and adapt its boxes: (detections scoring >= min_score, best first; their boxes in the
    landmark-box convention (K, 4))."""
    dets = [d for d in detector.detect(frame, time_s) if d.score >= min_score][:max_faces]
    return dets, detector.box_adapter.boxes(dets)


def _mediapipe(model_path=None, min_score=0.5):
    from .mediapipe import MediaPipeDetector
    return MediaPipeDetector(model_path=model_path, min_score=min_score)


def _opencv(model_path=None, min_score=0.5):
    if model_path is not None:
        raise FacetrackError("the opencv detector takes no model file (its Haar cascade ships with OpenCV)")
    from .opencv import HaarDetector
    return HaarDetector()


def _retinaface(model_path=None, min_score=0.5):
    from .retinaface import RetinaFaceDetector
    return RetinaFaceDetector(model_path=model_path, min_score=max(min_score, 0.3))


def _auto(model_path=None, min_score=0.5):
    from .auto import AutoDetector
    return AutoDetector(model_path=model_path, min_score=min_score)


def _fallback(model_path=None, min_score=0.5):
    from .auto import AutoDetector
    return AutoDetector(model_path=model_path, min_score=min_score, sweep="empty")


def _truth(model_path=None, min_score=0.5):
    from .truth import TruthDetector
    return TruthDetector(model_path)


register("mediapipe", _mediapipe, "MediaPipe BlazeFace short range (model fetched with pip, cached)")
register("opencv", _opencv, "OpenCV Haar cascade (ships with OpenCV; a fallback)")
register("retinaface", _retinaface, "RetinaFace MobileNet-0.25: far and small faces (model fetched with pip, cached)")
register("auto", _auto, "BlazeFace every detection round, RetinaFace sweeping for far faces once a second")
register("fallback", _fallback, "BlazeFace, and RetinaFace once a second in frames where BlazeFace finds no face, every 5 s where it finds some, and on every still image")
register("truth", _truth, "boxes from a clip's known path (the sample clip's .json): tests and benchmarks")
