"""Result dataclasses, and the one flat record of a face that every output writes.

``Face.record()`` is the single place a face becomes columns: the CSV and JSON Lines sinks, the batch chunk
merge and ``facetrack predict --json`` all write it, so a new per-face value (a field of ``Face``) reaches every
output by being added here once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import FacetrackError


@dataclass
class Detection:
    """A face box (x0, y0, x1, y1) in frame pixels with a detector score in [0, 1]."""
    box: np.ndarray
    score: float = 1.0

    def __post_init__(self) -> None:
        try:
            self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        except (TypeError, ValueError):
            raise FacetrackError(f"a detection box must be 4 numbers (x0, y0, x1, y1), got {self.box!r}") from None
        if not (np.isfinite(self.box).all() and self.box[2] > self.box[0] and self.box[3] > self.box[1]):
            raise FacetrackError(f"degenerate detection box {self.box.tolist()} (need x1 > x0 and y1 > y0)")
        self.score = float(self.score)


@dataclass
class Face:
    """One face in one frame: track id (-1 when untracked), box, landmarks (N, 2) and per-point scores (N,);
    eye and mouth openness (aspect ratios, NaN until an analyser sets them) and a blink flag (None: not judged)."""
    box: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray
    track_id: int = -1
    det_score: float = float("nan")
    yaw: float = float("nan")        # head pose, degrees (facetrack.pose; NaN until an analyser sets it)
    pitch: float = float("nan")
    roll: float = float("nan")
    eye_open_left: float = float("nan")
    eye_open_right: float = float("nan")
    mouth_open: float = float("nan")
    blink: bool | None = None

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, dtype=np.float64).reshape(-1)
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if self.box.shape != (4,):
            raise FacetrackError(f"a face box must be 4 numbers (x0, y0, x1, y1), got {self.box.size}")
        if self.landmarks.ndim != 2 or self.landmarks.shape[1] != 2 or self.scores.shape != self.landmarks.shape[:1]:
            raise FacetrackError(f"landmarks must be (N, 2) with scores (N,), got {self.landmarks.shape} and "
                                 f"{self.scores.shape}")

    @property
    def num_points(self) -> int:
        return len(self.landmarks)

    def record(self, point_scores: bool = False) -> dict[str, int | float | None]:
        """The face as one flat dict of typed columns, in output order: ``track_id, det_score, box_x, box_y,
        box_w, box_h, x0, y0, ..., lm_score, yaw, pitch, roll, eye_open_left, eye_open_right, mouth_open, blink``
        (pixels and degrees rounded to 0.01, scores and ratios to 1e-4, blink 0/1; a missing value is None), then ``s0 ... s{N-1}``
        (per-point scores) with ``point_scores``."""
        x0, y0, x1, y1 = (float(v) for v in self.box)
        r: dict[str, int | float | None] = {
            "track_id": int(self.track_id), "det_score": _num(self.det_score, 4),
            "box_x": round(x0, 2), "box_y": round(y0, 2), "box_w": round(x1 - x0, 2), "box_h": round(y1 - y0, 2)}
        r.update(_rounded(_point_keys("x", "y", len(self.landmarks)), self.landmarks, 2))
        r["lm_score"] = _num(float(np.mean(self.scores)) if len(self.scores) else float("nan"), 4)
        r["yaw"], r["pitch"], r["roll"] = _num(self.yaw, 2), _num(self.pitch, 2), _num(self.roll, 2)
        r["eye_open_left"], r["eye_open_right"] = _num(self.eye_open_left, 4), _num(self.eye_open_right, 4)
        r["mouth_open"] = _num(self.mouth_open, 4)
        r["blink"] = None if self.blink is None else int(bool(self.blink))
        if point_scores:
            r.update(_rounded(_point_keys("s", None, len(self.scores)), self.scores, 3))
        return r

    @staticmethod
    def columns(num_points: int, point_scores: bool = False) -> list[str]:
        """The keys of ``record()`` for a face of ``num_points`` points (a header before any face is seen)."""
        blank = Face(np.array([0.0, 0.0, 1.0, 1.0]), np.zeros((num_points, 2)), np.zeros(num_points))
        return list(blank.record(point_scores))


def _num(v: float, digits: int) -> float | None:
    v = float(v)
    return None if not math.isfinite(v) else round(v, digits)


_KEYS: dict[tuple, tuple[str, ...]] = {}


def _point_keys(a: str, b: str | None, n: int) -> tuple[str, ...]:
    """Column names of n points, interleaved (``x0, y0, x1, ...``) or one per point (``s0, s1, ...``), made once."""
    keys = _KEYS.get((a, b, n))
    if keys is None:
        keys = _KEYS[(a, b, n)] = tuple(f"{c}{k}" for k in range(n) for c in ((a, b) if b else (a,)))
    return keys


def _rounded(keys: tuple[str, ...], values: np.ndarray, digits: int):
    """(key, value) pairs as :func:`_num` makes them, for a whole array at once (a face's 136 coordinates one by
    one through ``round`` were half of a CSV row's cost). For float32 values and up to 3 digits numpy's rounding
    is Python's, bit for bit: x * 10**digits is exact in float64 (24 + 10 significant bits at most), ``rint``
    rounds that exact value half to even as ``round`` does, and k / 10**digits is the double nearest the decimal
    (tests/test_outputs.py checks it)."""
    if values.dtype == np.float32 and digits <= 3 and np.isfinite(values).all():
        return zip(keys, np.round(values.ravel().astype(np.float64), digits).tolist())
    return zip(keys, [_num(v, digits) for v in values.ravel().tolist()])


FRAME_COLUMNS = ("frame", "time_s")


@dataclass
class TrackEvent:
    """A track ``started`` (first reported) or ``ended`` (removed) at frame ``index``."""
    kind: str
    track_id: int
    index: int


@dataclass
class FrameResult:
    """One frame: its index, time in seconds, faces, track events; ``image`` (BGR) only when asked for;
    ``read_at``: time.monotonic() when the source delivered the frame (None when unknown)."""
    index: int
    time_s: float
    faces: list[Face] = field(default_factory=list)
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    events: list[TrackEvent] = field(default_factory=list, compare=False)
    read_at: float | None = field(default=None, repr=False, compare=False)

    def records(self, point_scores: bool = False):
        """One flat dict per face: ``frame, time_s`` and the face's ``record()``."""
        for f in self.faces:
            yield {"frame": self.index, "time_s": round(self.time_s, 6), **f.record(point_scores)}


def record_columns(num_points: int, point_scores: bool = False) -> list[str]:
    return [*FRAME_COLUMNS, *Face.columns(num_points, point_scores)]
