"""Per-face analysers on the 68 points: head pose; eye and mouth openness, and blinks per track.

Head pose: yaw, pitch and roll in degrees, in AFLW2000-3D's convention (its labels' signs; docs/pose.md): the
rotation from a frontal face to the face seen is R = Rx(-pitch) Ry(yaw) Rz(roll) in OpenCV's camera axes (x right,
y down, z away from the camera). Seen from the camera: yaw > 0 turns the face towards the image's left (the
subject's right), pitch > 0 raises the chin (face looks up), roll > 0 tilts the head clockwise in the image (the
labels' signs; tests/test_pose.py checks them on projections, and on a rotated and a mirrored photograph). Solved with
OpenCV's PnP of the 51 inner points against a 3D mean face (``models/face3d_68.json``, fitted by
benchmarks/pose_fit.py to half of AFLW2000-3D), on the track's smoothed landmarks, each frame seeded with the track's
previous pose. The angles are then calibrated for the default model's landmarks (fitted on the same half; the
face3d file's ``calibration``): its landmarks turn less than the face (yaw x gain) and sit where AFLW2000-3D's
labels put a face a few degrees more chin-down (pitch - offset). ``HeadPose(calibrate=False)`` gives the plain PnP.

Openness is scale-free: the eye aspect ratio (Soukupova and Cech, 2016) of each eye's six points, the vertical
lid distances over the eye's width, and the same for the inner lips over the mouth's width. Left and right are
the subject's own (``eye_open_left`` is the eye on the image's right, points 42-47). A blink is a dip of the mean
eye openness below ``blink_ratio`` x the track's own open-eye level (a high percentile of its recent values), so
people with narrow or wide eyes are judged against themselves; each dip counts once per track.
"""
from __future__ import annotations

import json
import math
from collections import deque
from pathlib import Path

import numpy as np

from .interfaces import Analyser
from .types import Face

# iBUG 68: each eye's corners and lids, the inner lips (corners 60/64, upper 61-63, lower 67-65)
RIGHT_EYE = (36, 37, 38, 39, 40, 41)
LEFT_EYE = (42, 43, 44, 45, 46, 47)


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3x3 rotation (camera axes) of a face at (yaw, pitch, roll) degrees, AFLW2000-3D's convention."""
    return _rx(math.radians(-pitch)) @ _ry(math.radians(yaw)) @ _rz(math.radians(roll))


def angles_from_rotation(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) degrees of a rotation, the inverse of :func:`rotation_from_angles`."""
    b = math.asin(max(-1.0, min(1.0, float(r[0, 2]))))
    c = math.atan2(-float(r[0, 1]), float(r[0, 0]))
    a = math.atan2(-float(r[1, 2]), float(r[2, 2]))
    return math.degrees(b), -math.degrees(a), math.degrees(c)


FACE3D = Path(__file__).parent / "models" / "face3d_68.json"


def load_face3d(path: str | Path | None = None) -> np.ndarray:
    """The 3D mean face (68 x 3, OpenCV camera axes, face extent 1)."""
    return np.asarray(json.loads(Path(path or FACE3D).read_text())["points"], dtype=np.float64)


def load_calibration(path: str | Path | None = None) -> dict:
    """The angle calibration stored beside the 3D face: ``yaw_gain``, ``pitch_offset`` (identity when absent)."""
    cal = json.loads(Path(path or FACE3D).read_text()).get("calibration") or {}
    return {"yaw_gain": float(cal.get("yaw_gain", 1.0)), "pitch_offset": float(cal.get("pitch_offset", 0.0))}


class HeadPose:
    """Head pose from 68 landmarks (``points``: which of them; default the 51 inner ones) with OpenCV's PnP against
    the 3D mean face; a pinhole camera of focal length
    max(frame width, height) centred on the frame (``frame_size``), or on the points' box when it is unknown.
    ``solve(points, seed)`` -> ((yaw, pitch, roll), (rvec, tvec)); a seed (the previous frame's rvec, tvec)
    starts the iterative solver there. ``calibrate``: the angles corrected for the default model's landmarks (module
    docstring); rvec, tvec are the plain PnP's either way."""

    # the jaw line (points 0-16) is left out: 300-W-style labels (and so the model) put it on the visible contour,
    # the 3D face on the fitted 3D contour; on the AFLW2000-3D half held out, inner points only: MAE yaw 9.8 -> 6.4,
    # pitch 10.5 -> 8.9, roll 4.8 -> 4.3 degrees (docs/pose.md)
    INNER = np.arange(17, 68)

    def __init__(self, face3d: np.ndarray | None = None, points: np.ndarray | None = None, calibrate: bool = True):
        self.idx = self.INNER if points is None else np.asarray(points)
        self.face3d = (load_face3d() if face3d is None else np.asarray(face3d, dtype=np.float64))[self.idx]
        cal = load_calibration() if calibrate else {}
        self.yaw_gain, self.pitch_offset = cal.get("yaw_gain", 1.0), cal.get("pitch_offset", 0.0)

    def solve(self, points: np.ndarray, frame_size: tuple[int, int] | None = None, seed=None):
        import cv2
        p = np.ascontiguousarray(np.asarray(points, dtype=np.float64).reshape(-1, 2)[self.idx])
        if frame_size is None:
            w = h = float(np.ptp(p, 0).max()) * 4
            cx, cy = p.mean(0)
        else:
            w, h = frame_size
            cx, cy = w / 2.0, h / 2.0
        f = float(max(w, h))
        k = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
        try:
            if seed is not None:
                rvec, tvec = seed[0].copy(), seed[1].copy()
                ok, rvec, tvec = cv2.solvePnP(self.face3d, p, k, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE)
            else:
                ok, rvec, tvec = cv2.solvePnP(self.face3d, p, k, None, flags=cv2.SOLVEPNP_SQPNP)
                if ok:
                    ok, rvec, tvec = cv2.solvePnP(self.face3d, p, k, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE)
        except cv2.error:  # SQPnP asserts on points bunched in a small part of a large frame (a ~10 px face)
            return None, None
        if not ok or tvec[2, 0] <= 0:
            return None, None
        r, _ = cv2.Rodrigues(rvec)
        yaw, pitch, roll = angles_from_rotation(r)
        return (yaw * self.yaw_gain, pitch - self.pitch_offset, roll), (rvec, tvec)


class PoseState:
    """One track's head pose: the last solve, which seeds the next."""
    seed: tuple | None = None


class HeadPoseAnalyser(Analyser):
    """Sets ``yaw``, ``pitch``, ``roll`` on 68-point faces from their (smoothed) landmarks, each track's solve
    seeded with its previous pose (a face without a track's state is solved alone)."""

    def __init__(self):
        self.pose = HeadPose()

    def start(self, track_id: int) -> PoseState:
        return PoseState()

    def __call__(self, face: Face, state: PoseState | None = None, frame=None, time_s: float = 0.0) -> Face:
        if len(face.landmarks) != 68:
            return face
        size = None if frame is None else (frame.shape[1], frame.shape[0])
        angles, seed = self.pose.solve(face.landmarks, size, state.seed if state is not None else None)
        if angles is not None:
            face.yaw, face.pitch, face.roll = (round(v, 2) for v in angles)
            if state is not None:
                state.seed = seed
        return face


def eye_aspect_ratio(p: np.ndarray, idx=RIGHT_EYE) -> float:
    """(|p1 p5| + |p2 p4|) / (2 |p0 p3|) over the eye's six points p0..p5 (0 closed, about 0.3 open)."""
    a, b, c, d, e, f = (p[i] for i in idx)
    return float((np.linalg.norm(b - f) + np.linalg.norm(c - e)) / (2 * max(np.linalg.norm(a - d), 1e-9)))


def mouth_aspect_ratio(p: np.ndarray) -> float:
    """Inner-lip opening over the mouth's inner width: mean of |61 67|, |62 66|, |63 65| over |60 64|."""
    v = (np.linalg.norm(p[61] - p[67]) + np.linalg.norm(p[62] - p[66]) + np.linalg.norm(p[63] - p[65])) / 3
    return float(v / max(np.linalg.norm(p[60] - p[64]), 1e-9))


# the ten segments of the three ratios above, in one array, from the same point lists: each eye's |p1 p5|, |p2 p4|,
# |p0 p3| (right, then left), the mouth's three openings and its width
_SEG_A = np.array([e[i] for e in (RIGHT_EYE, LEFT_EYE) for i in (1, 2, 0)] + [61, 62, 63, 60])
_SEG_B = np.array([e[i] for e in (RIGHT_EYE, LEFT_EYE) for i in (5, 4, 3)] + [67, 66, 65, 64])


def openness_ratios(p: np.ndarray) -> tuple[float, float, float]:
    """(right eye, left eye, mouth) aspect ratios of 68 points at once: the numbers of :func:`eye_aspect_ratio`
    and :func:`mouth_aspect_ratio` (tested equal) for a tenth of their time a face."""
    d = (p[_SEG_A] - p[_SEG_B]).tolist()
    n = [math.sqrt(x * x + y * y) for x, y in d]
    right = (n[0] + n[1]) / (2 * max(n[2], 1e-9))
    left = (n[3] + n[4]) / (2 * max(n[5], 1e-9))
    mouth = (n[6] + n[7] + n[8]) / 3 / max(n[9], 1e-9)
    return right, left, mouth


def percentile_linear(values, q: float) -> float:
    """``np.percentile(values, q)`` (its default linear method, the same arithmetic) of a short sequence, without
    numpy's per-call cost (a track's 90 recent eye ratios, every frame)."""
    v = sorted(values)
    idx = (len(v) - 1) * (q / 100)
    lo = math.floor(idx)
    hi = min(lo + 1, len(v) - 1)
    t = idx - lo
    a, b = v[lo], v[hi]
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


class EyeState:
    """One track's eyes: its recent eye openness (its own open level), whether they are closed, blinks counted."""

    def __init__(self, history: int):
        self.ears: deque | None = deque(maxlen=history)
        self.closed = False
        self.blinks = 0


class OpennessAnalyser(Analyser):
    """Sets ``eye_open_left``, ``eye_open_right``, ``mouth_open`` and ``blink`` on 68-point faces; counts blinks
    per track (its :class:`EyeState`) and reports them per person (``summary``). A face without a track's state
    gets its openness and no blink judgement (``blink`` None)."""

    # blink_ratio 0.8 (was 0.65): the model's eye points close only part way on a blink (the eye openness dips to
    # 0.58-0.84 of the open level at MediaPipe's 58 blinks on the franck clip); chosen on that clip's first half
    # against MediaPipe's eyeBlink (F1 0.93), checked on the second half: recall 0.97, precision 0.88 (0.65: recall 0.10)
    def __init__(self, blink_ratio: float = 0.8, history: int = 90, min_history: int = 10):
        self.blink_ratio, self.history, self.min_history = blink_ratio, history, min_history

    def start(self, track_id: int) -> EyeState:
        return EyeState(self.history)

    def __call__(self, face: Face, state: EyeState | None = None, frame=None, time_s: float = 0.0) -> Face:
        p = np.asarray(face.landmarks, dtype=np.float64)
        if len(p) != 68:
            return face
        face.eye_open_right, face.eye_open_left, face.mouth_open = openness_ratios(p)
        if state is None:
            return face
        ear = (face.eye_open_left + face.eye_open_right) / 2
        hist = state.ears
        closed = False
        if len(hist) >= self.min_history:
            closed = ear < self.blink_ratio * percentile_linear(hist, 80)
        if closed and not state.closed:
            state.blinks += 1
        state.closed = closed
        face.blink = closed
        hist.append(ear)
        return face

    def end(self, state: EyeState) -> None:
        state.ears = None  # the count stays for the summary; the history goes

    def summary(self, people: dict[int, list]) -> dict:
        """Blinks per person who blinked (the IDs the rows carry), summed over the person's tracks."""
        per = {k: sum(s.blinks for s in people[k]) for k in sorted(people)}
        return {"blinks": {str(k): n for k, n in per.items() if n}}
