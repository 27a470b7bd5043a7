"""Peer landmarkers for comparisons (optional extras): dlib's HOG detector + 68-point shape predictor."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .errors import FacetrackError


def face_recognition_model(name: str, extra: str = "peers") -> Path:
    """A model file of the PyPI package face_recognition_models (found without importing it: its __init__ needs
    pkg_resources, which new setuptools no longer ships); ``extra`` names the facetrack extra that installs it."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FacetrackError(f"this needs: pip install 'facetrack[{extra}]' (dlib-bin, face_recognition_models)")
    p = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not p.is_file():
        raise FacetrackError(f"dlib model not found at {p}")
    return p


def dlib_model_path() -> Path:
    """dlib's 68-point shape predictor (the peer)."""
    return face_recognition_model("shape_predictor_68_face_landmarks.dat")


class DlibLandmarker:
    """dlib's frontal face detector (HOG) and 68-point shape predictor (iBUG order, like facetrack's default)."""

    def __init__(self, upsample: int = 1):
        try:
            import dlib
        except ImportError:
            raise FacetrackError("dlib peer needs: pip install 'facetrack[peers]'") from None
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_path()))
        self.upsample = upsample

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        rects = self.detector(rgb, self.upsample)
        return np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], dtype=np.float64).reshape(-1, 4)

    def landmarks(self, image_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        out = []
        for x0, y0, x1, y1 in np.asarray(boxes).reshape(-1, 4):
            s = self.predictor(rgb, self.dlib.rectangle(int(x0), int(y0), int(x1), int(y1)))
            out.append([(p.x, p.y) for p in s.parts()])
        return np.asarray(out, dtype=np.float64).reshape(-1, 68, 2)


def find_landmarker_task() -> Path:
    """MediaPipe's Face Landmarker bundle: $FACETRACK_LANDMARKER_TASK, ../shared beside the project, or the cache."""
    import os
    env = os.environ.get("FACETRACK_LANDMARKER_TASK")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "face_landmarker.task"
    if here.is_file():
        return here
    from .assets import cache_dir
    c = cache_dir() / "face_landmarker.task"
    if c.is_file():
        return c
    raise FacetrackError("the MediaPipe peer needs face_landmarker.task (set FACETRACK_LANDMARKER_TASK)")


class MediaPipeLandmarker:
    """MediaPipe Face Landmarker (478 points) in VIDEO mode, as its users run it: BGR frame + time -> faces."""

    # num_faces: MediaPipe's own default is 1, and a user sets it to the faces in their clip; at 10 on a one-face clip
    # it runs its face detector on every frame (it only tracks once it holds num_faces faces): peers are compared in
    # the setting a user would choose (issue 41)
    def __init__(self, task: str | Path | None = None, num_faces: int = 1, blendshapes: bool = False):
        from .detectors.mediapipe import import_mediapipe, quiet_native_stderr
        mp, BaseOptions, vision = import_mediapipe()
        self.mp, self.task = mp, Path(task or find_landmarker_task())
        opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(self.task)),
                                            running_mode=vision.RunningMode.VIDEO, num_faces=num_faces,
                                            output_face_blendshapes=blendshapes)
        with quiet_native_stderr():
            self.lm = vision.FaceLandmarker.create_from_options(opts)
        self._last_ms = -1

    def detect(self, frame_bgr: np.ndarray, time_s: float):
        """MediaPipe's own result for a frame (landmarks, and blendshapes when asked for)."""
        im = self.mp.Image(image_format=self.mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame_bgr[..., ::-1]))
        ms = max(int(time_s * 1000), self._last_ms + 1)  # VIDEO mode needs strictly increasing timestamps
        self._last_ms = ms
        return self.lm.detect_for_video(im, ms)

    def __call__(self, frame_bgr: np.ndarray, time_s: float) -> list[np.ndarray]:
        """-> one (478, 2) array of pixel coordinates per face."""
        r = self.detect(frame_bgr, time_s)
        h, w = frame_bgr.shape[:2]
        return [np.array([(p.x * w, p.y * h) for p in f], np.float32) for f in r.face_landmarks]

    def close(self) -> None:
        from .detectors.mediapipe import quiet_native_stderr
        with quiet_native_stderr():
            self.lm.close()


def run_mediapipe(source: str, csv_path: str | Path, max_frames: int | None = None,
                  defer_matplotlib: bool = False, num_faces: int = 1) -> dict:
    """MediaPipe Face Landmarker over a video as a user scripts it: ``import mediapipe``, the same PyAV decode as
    facetrack (:class:`VideoSource`), VIDEO mode with ``num_faces`` (the faces in the clip), one CSV row per face per
    frame (frame, time, 478 x, y), flushed per frame. ``defer_matplotlib``: give it facetrack's import-time saving too
    (a plain script does not have it)."""
    import csv
    import time
    t0 = time.perf_counter()
    if not defer_matplotlib:
        import mediapipe  # noqa: F401 - as a user's script does: its drawing helpers import matplotlib

    from .video import VideoSource
    lm = MediaPipeLandmarker(num_faces=num_faces)
    frames = faces = 0
    with VideoSource(source) as src, open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "time_s"] + [f"{a}{i}" for i in range(478) for a in "xy"])
        for vf in src:
            for pts in lm(vf.image, vf.time_s):
                w.writerow([vf.index, f"{vf.time_s:.4f}"] + [f"{v:.2f}" for v in pts.reshape(-1)])
                faces += 1
            f.flush()
            frames += 1
            if max_frames and frames >= max_frames:
                break
    lm.close()
    return {"source": str(source), "frames": frames, "faces": faces, "seconds": round(time.perf_counter() - t0, 3)}


if __name__ == "__main__":  # python -m facetrack.peers mediapipe VIDEO --csv OUT: the peer in a process of its own
    import argparse
    import json
    ap = argparse.ArgumentParser(prog="python -m facetrack.peers")
    ap.add_argument("peer", choices=["mediapipe"])
    ap.add_argument("source")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--max-frames", type=int)
    ap.add_argument("--defer-matplotlib", action="store_true", help="facetrack's import-time saving, for MediaPipe too")
    ap.add_argument("--num-faces", type=int, default=1, help="MediaPipe's num_faces: the faces in the clip (default 1)")
    a = ap.parse_args()
    print(json.dumps(run_mediapipe(a.source, a.csv, a.max_frames, a.defer_matplotlib, a.num_faces)))
