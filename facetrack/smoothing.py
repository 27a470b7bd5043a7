"""Landmark smoothing per track: a vectorised constant-velocity Kalman filter bank, and the One Euro filter.

Both work in units of the face's size, so a small and a large face are smoothed alike. Each smoother object is one
track's (a :class:`~facetrack.interfaces.Smoother`): the pipeline makes one per track (:func:`smoother_factory`) and
the track's state ends with it; :class:`SmootherBank` keeps one per track id for code that smooths rows by id.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from .interfaces import Smoother


class KalmanBank:
    """K independent 1-D constant-velocity Kalman filters (state: position, velocity), updated together.

    Same model and arithmetic as filterpy's ``KalmanFilter`` with F = [[1, dt], [0, 1]], H = [[1, 0]],
    Q = Q_discrete_white_noise(2, dt, q) = q [[dt^4/4, dt^3/2], [dt^3/2, dt^2]], R = r and the Joseph-form
    covariance update; q, r and dt may differ per filter."""

    def __init__(self, x0: np.ndarray, p0_pos: float | np.ndarray, p0_vel: float | np.ndarray):
        x0 = np.asarray(x0, dtype=np.float64).reshape(-1)
        k = len(x0)
        self.x = np.zeros((k, 2))
        self.x[:, 0] = x0
        # the covariances, kept as their four entries (elementwise arithmetic: 2x2 matrix products over K
        # filters cost more in numpy's per-call overhead than the arithmetic itself)
        self.p00 = np.broadcast_to(np.asarray(p0_pos, dtype=np.float64), (k,)).copy()
        self.p01, self.p10 = np.zeros(k), np.zeros(k)
        self.p11 = np.broadcast_to(np.asarray(p0_vel, dtype=np.float64), (k,)).copy()

    @property
    def P(self) -> np.ndarray:
        """The covariances (K, 2, 2)."""
        return np.stack([np.stack([self.p00, self.p01], -1), np.stack([self.p10, self.p11], -1)], -2)

    def predict(self, dt: float | np.ndarray, q: float | np.ndarray) -> None:
        dt = np.asarray(dt, dtype=np.float64)
        q = np.asarray(q, dtype=np.float64)
        self.x[:, 0] += dt * self.x[:, 1]
        p00, p01, p10, p11 = self.p00, self.p01, self.p10, self.p11
        # F P F^T + Q
        self.p00 = p00 + dt * p10 + dt * (p01 + dt * p11) + q * dt ** 4 / 4
        self.p01 = p01 + dt * p11 + q * dt ** 3 / 2
        self.p10 = p10 + dt * p11 + q * dt ** 3 / 2
        self.p11 = p11 + q * dt ** 2

    def update(self, z: np.ndarray, r: float | np.ndarray) -> None:
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        r = np.asarray(r, dtype=np.float64)
        p00, p01, p10, p11 = self.p00, self.p01, self.p10, self.p11
        s = p00 + r
        k0, k1 = p00 / s, p10 / s
        y = z - self.x[:, 0]
        self.x[:, 0] += k0 * y
        self.x[:, 1] += k1 * y
        # Joseph form: A P A^T + K R K^T with A = I - K H = [[1 - k0, 0], [-k1, 1]], written out
        a = 1 - k0
        m00, m01 = a * p00, a * p01
        m10, m11 = p10 - k1 * p00, p11 - k1 * p01
        self.p00 = m00 * a + r * k0 * k0
        self.p01 = m01 - k1 * m00 + r * k0 * k1
        self.p10 = m10 * a + r * k1 * k0
        self.p11 = m11 - k1 * m10 + r * k1 * k1


def face_size(landmarks: np.ndarray) -> float:
    p = np.asarray(landmarks)
    return float(max(np.ptp(p[:, 0]), np.ptp(p[:, 1]), 1.0))


def similarity_to(points: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Least-squares similarity ``points ~ s R(theta) ref + c`` for a centred ``ref``: returns (c, s, theta)."""
    c = points.mean(0)
    x = points - c
    a = float((x * ref).sum())
    b = float((x[:, 1] * ref[:, 0] - x[:, 0] * ref[:, 1]).sum())
    return c, float(np.hypot(a, b) / max(float((ref * ref).sum()), 1e-9)), float(np.arctan2(b, a))


def rotation(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


class KalmanSmoother:
    """Per track, the head's motion and the face's shape smoothed apart (the default, ``--smoother kalman``).

    Each frame's landmarks are split into a similarity (centre, log scale, in-plane angle: least squares against
    the track's first shape) and the shape left in the face's own frame. Constant-velocity Kalman filters, one bank
    per track, smooth the 4 motion values lightly (they average all the points, so their noise is small and a
    moving head is followed with little lag) and the shape's coordinates more (its noise is the flicker), except
    the eyes and the mouth (``face_*``: blinks and speech are fast; with other point schemes than 68 the whole
    shape gets that setting). Noise is in face-size units, so small and large faces are smoothed alike:
    ``move_*`` for the centre, ``turn_*`` for log scale and angle (unitless), ``shape_*`` for the shape;
    ``*_meas`` measurement std, ``*_accel`` acceleration std per second. On the video ground-truth clips
    (docs/accuracy.md) it removed the per-point filter's lag (2026-11-30 model: NME 4.41 -> 4.32%, NMF 0.49 with
    the pipeline's led crop) and keeps the blinks on franck (benchmarks/blinks.py). The 2026-12-01 model is more
    accurate but its raw landmarks flicker more (NMF 1.20 vs 0.91 unsmoothed), so the motion and the eyes and
    mouth are smoothed harder than first chosen (move 0.006 -> 0.02, turn 0.003 -> 0.01, face 0.012 -> 0.024):
    NMF 0.71 -> 0.53 for 0.04 points of NME (4.10% with the shipped int8 copy). ``velocity`` gives the head's
    smoothed velocity, which the crop policy uses to lead the next crop. One object per track."""

    def __init__(self, move_meas: float = 0.02, move_accel: float = 4.0, turn_meas: float = 0.01,
                 turn_accel: float = 2.0, shape_meas: float = 0.02, shape_accel: float = 0.3,
                 face_meas: float = 0.024, face_accel: float = 2.0):
        self.move = (move_meas, move_accel)
        self.turn = (turn_meas, turn_accel)
        self.shape = (shape_meas, shape_accel)
        self.face = (face_meas, face_accel)
        self.state: list | None = None  # [first shape, bank, last time, r, q] after the first frame

    def _noise(self, size0: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        """A new track's (r, q): all but the centre's two entries (which follow the face's size each frame) are
        fixed for the track's life."""
        r, q = np.empty(4 + n), np.empty(4 + n)
        r[2:4], q[2:4] = self.turn[0] ** 2, self.turn[1] ** 2
        r[4:], q[4:] = (self.shape[0] * size0) ** 2, (self.shape[1] * size0) ** 2
        fast = 4 + 2 * 36 if n == 136 else 4  # 68 points: eyes and mouth are points 36-67; others: all points
        r[fast:], q[fast:] = (self.face[0] * size0) ** 2, (self.face[1] * size0) ** 2
        return r, q

    def __call__(self, landmarks: np.ndarray, time_s: float) -> np.ndarray:
        lm = np.asarray(landmarks, dtype=np.float64)
        size = face_size(lm)
        st = self.state
        if st is None:
            ref = lm - lm.mean(0)
            r, q = self._noise(size, lm.size)
            r[:2] = (self.move[0] * size) ** 2
            p0_vel = np.full_like(r, (5 * size) ** 2)
            p0_vel[2:4] = 25.0
            bank = KalmanBank(np.concatenate([lm.mean(0), [0.0, 0.0], ref.reshape(-1)]), r.copy(), p0_vel)
            self.state = [ref, bank, time_s, r, q]
            return lm.astype(np.float32)
        ref, bank, t_prev, r, q = st
        c, s, th = similarity_to(lm, ref)
        th_prev = bank.x[3, 0]
        th = th_prev + (th - th_prev + np.pi) % (2 * np.pi) - np.pi  # no jump at +-180 degrees
        shape = (lm - c) @ rotation(th) / max(s, 1e-9)  # R^T (lm - c) / s, in the first frame's pixels
        r[:2], q[:2] = (self.move[0] * size) ** 2, (self.move[1] * size) ** 2
        bank.predict(max(time_s - t_prev, 1e-3), q)
        bank.update(np.concatenate([c, [np.log(max(s, 1e-9)), th], shape.reshape(-1)]), r)
        st[2] = time_s
        x = bank.x[:, 0]
        out = np.exp(x[2]) * x[4:].reshape(lm.shape) @ rotation(x[3]).T + x[:2]
        return out.astype(np.float32)

    def velocity(self) -> np.ndarray | None:
        """The smoothed velocity of the track's centre (pixels per second), or None before its first frame."""
        return None if self.state is None else self.state[1].x[:2, 1].copy()


class PointKalmanSmoother:
    """Per-track Kalman bank over every landmark coordinate, each on its own (``--smoother kalman-points``; the
    default before 2026-12-01). Noise in face-size units:
    ``meas_std`` (measurement noise std) and ``accel_std`` (acceleration std per second) are fractions of the
    face size, so q and r scale with the face size squared. accel_std 2.0 (was 1.5) from the video ground-truth
    benchmark: NME 4.49 -> 4.41%, NMF 0.47 -> 0.49 (0.32x dlib's); 3.0 gave 4.36% but NMF 0.53 and no longer
    halved the jitter of a still face (docs/accuracy.md, "Where the chain lost accuracy")."""

    def __init__(self, meas_std: float = 0.012, accel_std: float = 2.0):
        self.meas_std, self.accel_std = meas_std, accel_std
        self.state: tuple[KalmanBank, float] | None = None

    def __call__(self, landmarks: np.ndarray, time_s: float) -> np.ndarray:
        lm = np.asarray(landmarks, dtype=np.float64)
        s = face_size(lm)
        r = (self.meas_std * s) ** 2
        q = (self.accel_std * s) ** 2
        if self.state is None:
            self.state = (KalmanBank(lm.reshape(-1), r, (5 * s) ** 2), time_s)
            return lm.astype(np.float32)
        bank, t_prev = self.state
        dt = max(time_s - t_prev, 1e-3)
        bank.predict(dt, q)
        bank.update(lm.reshape(-1), r)
        self.state = (bank, time_s)
        return bank.x[:, 0].reshape(lm.shape).astype(np.float32)

    def velocity(self) -> None:
        return None


class OneEuroSmoother:
    """One Euro filter (Casiez et al. 2012) per coordinate. Positions are filtered in pixels; the speed that
    opens the cutoff is measured in face sizes per second, so small and large faces are smoothed alike."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 1.0, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.state: tuple[np.ndarray, np.ndarray, float] | None = None

    @staticmethod
    def _alpha(cutoff, dt):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, landmarks: np.ndarray, time_s: float) -> np.ndarray:
        x = np.asarray(landmarks, dtype=np.float64)
        if self.state is None:
            self.state = (x, np.zeros_like(x), time_s)
            return x.astype(np.float32)
        x_prev, dx_prev, t_prev = self.state
        dt = max(time_s - t_prev, 1e-3)
        dx = (x - x_prev) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        dx_hat = a_d * dx + (1 - a_d) * dx_prev
        cutoff = self.min_cutoff + self.beta * np.abs(dx_hat) / face_size(x)
        a = self._alpha(cutoff, dt)
        x_hat = a * x + (1 - a) * x_prev
        self.state = (x_hat, dx_hat, time_s)
        return x_hat.astype(np.float32)

    def velocity(self) -> None:
        return None


class NoSmoother:
    """The landmarks as predicted (``--smoother none``)."""

    def __call__(self, landmarks: np.ndarray, time_s: float) -> np.ndarray:
        return np.asarray(landmarks, dtype=np.float32)

    def velocity(self) -> None:
        return None


# the smoothers by name (the CLI's choices come from here); aliases are accepted, not listed
SMOOTHERS = {"kalman": KalmanSmoother, "kalman-points": PointKalmanSmoother, "one-euro": OneEuroSmoother,
             "none": NoSmoother}
_ALIASES = {"kalman_points": "kalman-points", "oneeuro": "one-euro", "one_euro": "one-euro"}


def smoother_factory(name: str, **kw) -> Callable[[], "Smoother"]:
    """A factory of one-track smoothers (:class:`~facetrack.interfaces.Smoother`): each track gets its own."""
    from .errors import FacetrackError
    cls = SMOOTHERS.get(_ALIASES.get(name, name))
    if cls is None:
        raise FacetrackError(f"unknown smoother {name!r} (choose {', '.join(SMOOTHERS)})")
    return functools.partial(cls, **kw)


class SmootherBank:
    """One smoother per track id, for code that smooths many tracks' rows by id (benchmarks re-smoothing a CSV):
    ``bank(track_id, landmarks, time_s)``, ``bank.velocity(track_id)``, ``bank.drop(track_id)``."""

    def __init__(self, make: Callable[[], "Smoother"]):
        self.make, self.tracks = make, {}

    def __call__(self, track_id: int, landmarks: np.ndarray, time_s: float) -> np.ndarray:
        sm = self.tracks.get(track_id)
        if sm is None:
            sm = self.tracks[track_id] = self.make()
        return sm(landmarks, time_s)

    def velocity(self, track_id: int) -> np.ndarray | None:
        sm = self.tracks.get(track_id)
        return None if sm is None else sm.velocity()

    def drop(self, track_id: int) -> None:
        self.tracks.pop(track_id, None)


def create_smoother(name: str, **kw) -> SmootherBank:
    """The named smoother for many tracks (a :class:`SmootherBank`)."""
    return SmootherBank(smoother_factory(name, **kw))
