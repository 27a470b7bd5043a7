"""Lag of the smoothers on a sudden head movement, without a model: a 100 px face (the default model's mean face) still
for 1 s, moving sideways at SPEED px/s for 0.3 s, then still again, at 30 frames/s, no noise. Reports the largest
mean error of the smoothed points during and after the move, and how long after the stop they are back within
1 px: the lag that noise settings tuned on smoothly moving clips (benchmarks/video_truth.py) do not show.

    python benchmarks/smoother_lag.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facetrack.assets import resolve_model_path  # noqa: E402
from facetrack.smoothing import KalmanSmoother, PointKalmanSmoother  # noqa: E402
from pipnet_model.meta import read_meta  # noqa: E402


def run(smoother, face: np.ndarray, speed: float, move_s: float = 0.3, fps: int = 30) -> tuple[float, float]:
    errs = []
    for i in range(int(2.5 * fps)):
        ts = i / fps
        truth = face + [speed * min(max(ts - 1.0, 0.0), move_s), 0.0]
        errs.append(float(np.abs(smoother(1, truth, ts) - truth).mean()))
    e, start, stop = np.array(errs), fps, fps + int(move_s * fps)
    settled = next((j for j in range(stop, len(e)) if e[j:].max() < 1.0), len(e))
    return float(e[start:].max()), (settled - stop) / fps * 1000


def main() -> None:
    systems = [("per-point Kalman (--smoother kalman-points)", PointKalmanSmoother),
               ("motion and shape apart, first setting (0.006 / 0.003 / 0.012)",
                lambda: KalmanSmoother(move_meas=0.006, turn_meas=0.003, face_meas=0.012)),
               ("motion and shape apart, default", KalmanSmoother)]
    face = np.asarray(read_meta(resolve_model_path("default")).mean_face, np.float64)
    face = (face - face.min(0)) / np.ptp(face, 0) * 100 + 200
    print("| smoother | speed px/s | max error px | back within 1 px, ms after the stop |")
    print("| --- | ---: | ---: | ---: |")
    for name, make in systems:
        for speed in (100, 300, 600):
            m, s = run(make(), face, speed)
            print(f"| {name} | {speed} | {m:.2f} | {s:.0f} |")


if __name__ == "__main__":
    main()
