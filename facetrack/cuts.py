"""Shot cuts: the frame where an edited video jumps to another shot.

Across a cut a tracked face's crop lands on whatever is there in the next shot, and the tracker kept following it:
on the identity benchmark's ``cut`` clips a track that was one person before a cut went on as another person after
it (one ID, two people), its smoother blended the two faces for a few frames, and the people index linked archives
through it. :class:`FaceTracker <facetrack.pipeline.FaceTracker>` asks :class:`ShotCuts` each frame; at a cut every
track ends and the faces after it start new tracks (a person seen again after the cut gets their ID back when
re-identification is on).

A cut is a frame that differs from the one before by at least ``min_diff`` (mean absolute difference of a 32 x 18
colour thumbnail, 0-255) and by ``ratio`` times the usual difference of the frames before it (the median of the last
``history``): a pan, a flash of motion or a person walking past changes less, or changes every frame. Measured
(benchmarks/cuts.py, docs/tracking.md): the identity clips' cuts differ by 45-60, hamilton's three by 26-29; franck's
4,800 frames at most 6.6, the identity clips without a cut at most 11 (a patch hiding a person).
"""
from __future__ import annotations

from collections import deque

import numpy as np

MIN_DIFF, RATIO, HISTORY = 20.0, 3.0, 25
THUMB = (32, 18)


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A 32 x 18 colour thumbnail of a BGR frame (every ``w // 128``-th pixel first: cheap on 4K frames)."""
    import cv2
    s = max(1, frame.shape[1] // 128)
    return cv2.resize(frame[::s, ::s], THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


class ShotCuts:
    """``cuts(frame) -> bool``: whether ``frame`` starts a new shot (see the module docstring). ``last_diff`` holds
    the frame's difference from the one before."""

    def __init__(self, min_diff: float = MIN_DIFF, ratio: float = RATIO, history: int = HISTORY):
        self.min_diff, self.ratio = min_diff, ratio
        self.diffs: deque[float] = deque(maxlen=history)
        self.prev: np.ndarray | None = None
        self.last_diff = 0.0

    def reset(self) -> None:
        self.diffs.clear()
        self.prev = None
        self.last_diff = 0.0

    def __call__(self, frame: np.ndarray) -> bool:
        t = thumbnail(frame)
        if self.prev is None or self.prev.shape != t.shape:
            self.prev = t
            return False
        d = float(np.abs(t - self.prev).mean())
        self.prev, self.last_diff = t, d
        usual = float(np.median(self.diffs)) if self.diffs else 0.0
        self.diffs.append(d)
        return d >= self.min_diff and d >= self.ratio * usual
