"""Shot cuts: the frame where an edited video jumps to another shot.

Across a cut a tracked face's crop lands on whatever is there in the next shot, and the tracker kept following it:
on the identity benchmark's ``cut`` clips a track that was one person before a cut went on as another person after
it (one ID, two people), its smoother blended the two faces for a few frames, and the people index linked archives
through it. :class:`FaceTracker <facetrack.pipeline.FaceTracker>` asks :class:`ShotCuts` each frame; at a cut every
track ends and the faces after it start new tracks (a person seen again after the cut gets their ID back when
re-identification is on).

A cut where only a face changes (B where A was, on the same background) is no shot cut. For it, with
re-identification on, each face's box is compared with the last frame's (:func:`face_changed`); where it changed all
over, the re-identifier looks at who it is again (:meth:`facetrack.reid.ReIdentifier.doubt`) and, when it is someone
else, the track ends and the face starts a new one.

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
FACE_DIFF, FACE_SPREAD, FACE_BLOCK_DIFF = 20.0, 12, 12.0


def face_patch(frame: np.ndarray, box) -> np.ndarray | None:
    """A 16 x 16 grey thumbnail of the frame inside ``box`` (x0, y0, x1, y1), its mean taken out (a change of light
    is no change of face); None when the box is (nearly) out of the frame."""
    import cv2
    h, w = frame.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(box[2])), min(h, int(box[3]))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    s = max(1, min(x1 - x0, y1 - y0) // 32)  # every s-th pixel first: cheap on large faces
    g = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1:s, x0:x1:s]), cv2.COLOR_BGR2GRAY)
    t = cv2.resize(g, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)
    return t - t.mean()


def face_changed(before: np.ndarray, now: np.ndarray, box) -> bool:
    """Whether what is inside a face's box changed all over from one frame to the next (mean absolute difference
    of :func:`face_patch` >= ``FACE_DIFF`` and >= ``FACE_BLOCK_DIFF`` in ``FACE_SPREAD`` of its 16 blocks): a cut
    from one person to another at the same place, which leaves the rest of the picture as it was, looks like this;
    so do a face that moves fast and one hidden by something, so it only makes the re-identifier look again
    (:meth:`facetrack.reid.ReIdentifier.doubt`)."""
    a, b = face_patch(before, box), face_patch(now, box)
    if a is None or b is None:
        return False
    d = np.abs(a - b)
    if float(d.mean()) < FACE_DIFF:
        return False
    return int((d.reshape(4, 4, 4, 4).mean((1, 3)) >= FACE_BLOCK_DIFF).sum()) >= FACE_SPREAD


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
