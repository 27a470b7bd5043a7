"""OpenCV Haar cascade face detector (fallback; the cascade ships inside the opencv wheel)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import FacetrackError
from ..types import Detection
from . import BoxAdapter


class HaarDetector:
    name = "opencv"
    # measured as medians over 800 faces of ytf68/train.csv (detection matched to the box of the labelled
    # landmarks), see docs/accuracy.md
    box_adapter = BoxAdapter(scale=0.88, shift=0.16)

    def __init__(self, min_size: int = 24, scale_factor: float = 1.1, min_neighbors: int = 5):
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise FacetrackError(f"cannot load the OpenCV Haar cascade at {path}")
        self.min_size, self.scale_factor, self.min_neighbors = min_size, scale_factor, min_neighbors

    @property
    def last_reach(self) -> float:
        return float(self.min_size)

    def detect(self, frame: np.ndarray, time_s: float | None = None) -> list[Detection]:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        boxes, _, weights = self.cascade.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors, minSize=(self.min_size, self.min_size), outputRejectLevels=True)
        dets = []
        for (x, y, w, h), wt in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(weights).reshape(-1)):
            dets.append(Detection((x, y, x + w, y + h), float(1.0 / (1.0 + np.exp(-float(wt))))))
        return sorted(dets, key=lambda d: -d.score)

    def warmup(self) -> None:
        pass

    def close(self) -> None:
        pass
