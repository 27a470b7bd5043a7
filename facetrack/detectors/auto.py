"""``auto``: BlazeFace for the faces near the camera, and RetinaFace sweeping the frame now and then for the far ones.

BlazeFace (short range) sees a 128 x 128 picture of the frame: 2-5 ms a frame, and blind to faces under ~120 px in a
720p frame (docs/detection.md). RetinaFace MobileNet-0.25 finds faces from ~30 px but costs 15-80 ms a frame. Here
BlazeFace runs at every detection round and RetinaFace once every ``sweep_s`` seconds of video (and on every still
image); its faces that BlazeFace did not report are added. Between sweeps the tracker follows every face it has by
its landmarks, so a far face found by a sweep is kept. Boxes are reported in BlazeFace's convention (RetinaFace's
mapped through both box adapters). Without RetinaFace's model (no network on first use) it is BlazeFace alone, with
one warning.
"""
from __future__ import annotations

import sys

import numpy as np

from ..errors import FacetrackError
from ..types import Detection


class AutoDetector:
    name = "auto"

    def __init__(self, model_path=None, min_score: float = 0.5, sweep_s: float = 1.0):
        from .mediapipe import MediaPipeDetector
        self.near = MediaPipeDetector(model_path=model_path, min_score=min_score)
        self.box_adapter = self.near.box_adapter
        self.sweep_s = sweep_s
        self.far = None
        try:
            from .retinaface import RetinaFaceDetector
            self.far = RetinaFaceDetector(min_score=max(min_score, 0.3))
        except FacetrackError as e:
            print(f"facetrack: warning: detector auto runs BlazeFace alone (no far faces): {e}", file=sys.stderr)
        self._last_sweep = -float("inf")
        self.sweeps = 0

    def detect(self, frame: np.ndarray, time_s: float | None = None) -> list[Detection]:
        from ..tracking import iou_matrix
        dets = list(self.near.detect(frame, time_s))
        # time going back means a new stream (batch reuses the detector): sweep its first frame too
        if self.far is None or (time_s is not None and 0 <= time_s - self._last_sweep < self.sweep_s):
            return dets
        if time_s is not None:
            self._last_sweep = time_s
        self.sweeps += 1
        near = self.near.box_adapter.boxes(dets)  # both in the landmark-box convention to compare them
        for d in self.far.detect(frame, time_s):
            lb = self.far.box_adapter(d.box)
            if len(near) and iou_matrix(lb[None], near).max() >= 0.3:
                continue
            dets.append(Detection(self.box_adapter.inverse(lb), d.score))
            near = np.vstack([near, lb[None]])
        return dets

    def warmup(self) -> None:
        self.near.warmup()
        if self.far is not None and hasattr(self.far, "warmup"):
            self.far.warmup()

    def close(self) -> None:
        self.near.close()
        if self.far is not None:
            self.far.close()
