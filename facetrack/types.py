"""Result dataclasses."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detection:
    """A face box (x0, y0, x1, y1) in frame pixels with a detector score in [0, 1]."""
    box: np.ndarray
    score: float = 1.0

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        if not (self.box[2] > self.box[0] and self.box[3] > self.box[1]):
            raise ValueError(f"degenerate box {self.box.tolist()}")


@dataclass
class Face:
    """One face in one frame: track id (-1 when untracked), box, landmarks (N, 2) and per-point scores (N,)."""
    box: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray
    track_id: int = -1
    det_score: float = float("nan")

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if self.landmarks.ndim != 2 or self.landmarks.shape[1] != 2 or self.scores.shape != self.landmarks.shape[:1]:
            raise ValueError("landmarks must be (N, 2) with scores (N,)")


@dataclass
class FrameResult:
    """One frame: its index, time in seconds, faces; ``image`` (BGR) only when asked for."""
    index: int
    time_s: float
    faces: list[Face] = field(default_factory=list)
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
