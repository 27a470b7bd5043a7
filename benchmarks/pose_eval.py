"""Head pose on the held-out half of AFLW2000-3D (images whose angles are all within 99 degrees; the half that
benchmarks/pose_fit.py did not fit on): mean absolute error of yaw, pitch and roll, and the share of images with a
pose, for facetrack (default detector, landmarks with 2 upright re-crops, PnP against the 3D mean face, calibrated; and
uncalibrated), for PnP on the
labelled landmarks (the 3D face's own ceiling), and for MediaPipe Face Landmarker's facial transformation matrix.

    python benchmarks/pose_eval.py [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from facetrack.pose import HeadPose, angles_from_rotation
from pose_fit import load_aflw, split


def mediapipe_landmarker(task: Path):
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from facetrack.detectors.mediapipe import quiet_native_stderr
    opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(task)),
                                        running_mode=vision.RunningMode.IMAGE, num_faces=5,
                                        output_facial_transformation_matrixes=True)
    with quiet_native_stderr():
        lm = vision.FaceLandmarker.create_from_options(opts)

    def run(img: np.ndarray, truth: np.ndarray):
        r = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(img[..., ::-1])))
        if not r.face_landmarks:
            return None
        h, w = img.shape[:2]
        cents = np.array([[np.mean([p.x for p in f]) * w, np.mean([p.y for p in f]) * h] for f in r.face_landmarks])
        k = int(np.argmin(np.abs(cents - truth.mean(0)).max(1)))
        if np.abs(cents[k] - truth.mean(0)).max() > 0.5 * np.ptp(truth, 0).max():
            return None
        m = np.asarray(r.facial_transformation_matrixes[k])[:3, :3]
        f = np.diag([1.0, -1.0, -1.0])  # MediaPipe's axes (y up, z towards the viewer) -> OpenCV's camera axes
        return angles_from_rotation(f @ m @ f)
    return run


def mae(pred: dict, truth: dict, names: list[str]) -> dict:
    got = [n for n in names if pred.get(n) is not None]
    e = np.array([np.abs(np.array(pred[n]) - truth[n]) for n in got]) if got else np.zeros((0, 3))
    return {"images": len(names), "with_pose": len(got), "share": round(len(got) / len(names), 4),
            "mae_yaw": round(float(e[:, 0].mean()), 2) if got else None,
            "mae_pitch": round(float(e[:, 1].mean()), 2) if got else None,
            "mae_roll": round(float(e[:, 2].mean()), 2) if got else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--aflw", default=str(ROOT.parent / "shared" / "data" / "aflw2000"))
    ap.add_argument("--task", default=str(ROOT.parent / "shared" / "models" / "face_landmarker.task"))
    ap.add_argument("--no-mediapipe", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    folder = Path(a.aflw)
    names, lm, pose = load_aflw(folder)
    _, test = split(names)
    hp, plain = HeadPose(), HeadPose(calibrate=False)  # the calibration is the model's: not for the labels
    res: dict = {}
    res["pnp_on_labelled_landmarks"] = mae({n: plain.solve(lm[n], (450, 450))[0] for n in test}, pose, test)
    from facetrack.detectors import create_detector, detect_boxes
    from facetrack.evaluate import match
    from facetrack.landmarks import LandmarkPredictor
    det = create_detector("mediapipe", min_score=0.5)
    pred = LandmarkPredictor("default", "cpu")
    ours, ours_plain, t_pose = {}, {}, 0.0
    for n in test:
        img = cv2.imread(str(folder / "images" / n))
        _, boxes = detect_boxes(det, img, None, 0.5)
        box = match(boxes, lm[n], tolerance=0.5)
        if box is None:
            continue
        pts, _ = pred.predict(img, box[None], refine=2)
        t0 = time.perf_counter()
        ours[n] = hp.solve(pts[0], (img.shape[1], img.shape[0]))[0]
        t_pose += time.perf_counter() - t0
        ours_plain[n] = plain.solve(pts[0], (img.shape[1], img.shape[0]))[0]
    res["facetrack"] = {**mae(ours, pose, test), "pnp_ms_per_face": round(1e3 * t_pose / max(len(ours), 1), 3)}
    res["facetrack_uncalibrated"] = mae(ours_plain, pose, test)
    if not a.no_mediapipe:
        run = mediapipe_landmarker(Path(a.task))
        res["mediapipe_face_landmarker"] = mae({n: run(cv2.imread(str(folder / "images" / n)), lm[n]) for n in test},
                                               pose, test)
    print(json.dumps(res, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
