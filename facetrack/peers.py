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
