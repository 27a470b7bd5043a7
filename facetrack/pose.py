"""Per-face analysers on the 68 points: eye and mouth openness, and blinks per track.

Openness is scale-free: the eye aspect ratio (Soukupova and Cech, 2016) of each eye's six points, the vertical
lid distances over the eye's width, and the same for the inner lips over the mouth's width. Left and right are
the subject's own (``eye_open_left`` is the eye on the image's right, points 42-47). A blink is a dip of the mean
eye openness below ``blink_ratio`` x the track's own open-eye level (a high percentile of its recent values), so
people with narrow or wide eyes are judged against themselves; each dip counts once per track.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from .types import Face

# iBUG 68: each eye's corners and lids, the inner lips (corners 60/64, upper 61-63, lower 67-65)
RIGHT_EYE = (36, 37, 38, 39, 40, 41)
LEFT_EYE = (42, 43, 44, 45, 46, 47)


def eye_aspect_ratio(p: np.ndarray, idx=RIGHT_EYE) -> float:
    """(|p1 p5| + |p2 p4|) / (2 |p0 p3|) over the eye's six points p0..p5 (0 closed, about 0.3 open)."""
    a, b, c, d, e, f = (p[i] for i in idx)
    return float((np.linalg.norm(b - f) + np.linalg.norm(c - e)) / (2 * max(np.linalg.norm(a - d), 1e-9)))


def mouth_aspect_ratio(p: np.ndarray) -> float:
    """Inner-lip opening over the mouth's inner width: mean of |61 67|, |62 66|, |63 65| over |60 64|."""
    v = (np.linalg.norm(p[61] - p[67]) + np.linalg.norm(p[62] - p[66]) + np.linalg.norm(p[63] - p[65])) / 3
    return float(v / max(np.linalg.norm(p[60] - p[64]), 1e-9))


class OpennessAnalyser:
    """Sets ``eye_open_left``, ``eye_open_right``, ``mouth_open`` and ``blink`` on 68-point faces; counts blinks
    per track (``blinks``)."""

    def __init__(self, blink_ratio: float = 0.65, history: int = 90, min_history: int = 10):
        self.blink_ratio, self.history, self.min_history = blink_ratio, history, min_history
        self._ears: dict[int, deque] = {}
        self._closed: dict[int, bool] = {}
        self.blinks: dict[int, int] = {}

    def __call__(self, face: Face, track=None, frame=None, time_s: float = 0.0) -> Face:
        p = np.asarray(face.landmarks, dtype=np.float64)
        if len(p) != 68:
            return face
        face.eye_open_right = eye_aspect_ratio(p, RIGHT_EYE)
        face.eye_open_left = eye_aspect_ratio(p, LEFT_EYE)
        face.mouth_open = mouth_aspect_ratio(p)
        ear = (face.eye_open_left + face.eye_open_right) / 2
        tid = face.track_id
        hist = self._ears.setdefault(tid, deque(maxlen=self.history))
        closed = False
        if len(hist) >= self.min_history:
            closed = ear < self.blink_ratio * float(np.percentile(hist, 80))
        if closed and not self._closed.get(tid, False):
            self.blinks[tid] = self.blinks.get(tid, 0) + 1
        self._closed[tid] = closed
        face.blink = closed
        hist.append(ear)
        return face

    def reset(self) -> None:
        self._ears.clear()
        self._closed.clear()
        self.blinks.clear()

    def drop(self, track_id: int) -> None:
        self._ears.pop(track_id, None)
        self._closed.pop(track_id, None)

    def summary(self) -> dict:
        return {"blinks": {str(k): v for k, v in sorted(self.blinks.items())}}
