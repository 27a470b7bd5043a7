"""Shot cuts: the frame where an edited video jumps to another shot.

Across a cut a tracked face's crop lands on whatever is there in the next shot, and the tracker kept following it:
on the identity benchmark's ``cut`` clips a track that was one person before a cut went on as another person after
it (one ID, two people), its smoother blended the two faces for a few frames, and the people index linked archives
through it. :class:`FaceTracker <facetrack.pipeline.FaceTracker>` asks :class:`ShotCuts` each frame; at a cut every
track ends and the faces after it start new tracks (a person seen again after the cut gets their ID back when
re-identification is on).

A cut is a frame that differs from the one before by at least ``min_diff`` (mean absolute difference of a 32 x 18
colour thumbnail, 0-255), by ``ratio`` times the usual difference of the frames before it (the median of the last
``history``: a scene that changes this much every frame has no cuts in it), and all over the frame: in at least
``spread`` of its 12 blocks (3 x 4) by ``BLOCK_DIFF`` or more (a large thing that appears in one part of the picture
is not a cut). Measured (``benchmarks/cuts.py``, docs/tracking.md): the identity clips' 24 cuts differ by 24-61 in
all 12 blocks, hamilton's three by 26-29 in 9-12; franck's 4,800 frames at most 6.6, walking people at most 9 in at
most 6 blocks, a patch that suddenly hides a person 18-26 in 6 blocks.
"""
from __future__ import annotations

from collections import deque

import numpy as np

MIN_DIFF, RATIO, HISTORY, SPREAD, BLOCK_DIFF = 20.0, 3.0, 25, 8, 8.0
THUMB = (32, 18)  # 3 x 4 blocks of 6 x 8 cells


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A 32 x 18 colour thumbnail of a BGR frame (every ``w // 128``-th pixel first: cheap on 4K frames)."""
    import cv2
    s = max(1, frame.shape[1] // 128)
    return cv2.resize(frame[::s, ::s], THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


class ShotCuts:
    """``cuts(frame) -> bool``: whether ``frame`` starts a new shot (see the module docstring). ``last_diff`` holds
    the frame's difference from the one before."""

    def __init__(self, min_diff: float = MIN_DIFF, ratio: float = RATIO, history: int = HISTORY,
                 spread: int = SPREAD):
        self.min_diff, self.ratio, self.spread = min_diff, ratio, spread
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
        diff = np.abs(t - self.prev).mean(-1)
        d = float(diff.mean())
        self.prev, self.last_diff = t, d
        usual = float(np.median(self.diffs)) if self.diffs else 0.0
        self.diffs.append(d)
        if d < self.min_diff or d < self.ratio * usual:
            return False
        blocks = diff.reshape(3, 6, 4, 8).mean((1, 3))
        return int((blocks >= BLOCK_DIFF).sum()) >= self.spread
