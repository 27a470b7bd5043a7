"""Face detectors behind one small protocol: ``detect(frame_bgr) -> list[Detection]``."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from ..types import Detection


# How each detector's boxes map onto the landmark-box convention of the PIPNet crops:
# the box grows by box_scale and moves down by box_shift x its height. Measured as medians over 800
# faces of ytf68/train.csv (detection matched to the box of the labelled landmarks), see docs/accuracy.md.
BOX_ADAPTERS: dict[str, dict[str, float]] = {
    "opencv": {"box_scale": 0.88, "box_shift": 0.16},
    "mediapipe": {"box_scale": 1.0, "box_shift": 0.06},
}


class Detector(Protocol):
    name: str

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Faces in an H x W x 3 uint8 BGR frame, best first."""
        ...


def create_detector(name: str = "opencv", **kwargs) -> Detector:
    if name == "opencv":
        from .opencv import HaarDetector
        return HaarDetector(**kwargs)
    if name == "mediapipe":
        from .mediapipe import MediaPipeDetector
        return MediaPipeDetector(**kwargs)
    from ..errors import FacetrackError
    raise FacetrackError(f"unknown detector {name!r} (choose mediapipe or opencv)")
