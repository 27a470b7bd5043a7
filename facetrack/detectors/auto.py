"""BlazeFace for the faces near the camera, and RetinaFace for the far ones: ``auto`` and ``fallback``.

BlazeFace (short range) sees a 128 x 128 picture of the frame: 2-5 ms a frame, and blind to faces under ~120 px in a
720p frame (docs/detection.md). RetinaFace MobileNet-0.25 finds faces from ~30 px but costs 15-80 ms a frame.
BlazeFace runs at every detection round; RetinaFace looks at the frame (a "sweep") at most once every ``sweep_s``
seconds of video (and on every still image), and its faces that BlazeFace did not report are added:

- ``auto`` (``sweep="always"``): a sweep every ``sweep_s``, whatever BlazeFace found (mixed near and far faces);
- ``fallback`` (``sweep="empty"``): in video, a sweep every ``sweep_s`` in frames where BlazeFace found no face (a
  lone small face - a far speaker, the start of a zoom - is found within a second), and every ``busy_sweep_s`` (5 s)
  where it found some (a far face beside a near one is found within that, at 1/5 of auto's cost). Detection effort
  follows what the sweeps find: the stream's first frame is swept when the frame can hide faces from BlazeFace
  (640 x 360 and larger; a webcam's 360 x 288 is not) unless BlazeFace found one or two faces near the camera (each
  at least 1.5x the smallest it sees: a short interview or webcam clip never loads RetinaFace); and while the last
  sweep found faces BlazeFace missed (a video call's gallery, a crowd) the sweeps come every ``sweep_s``; when a
  sweep finds none they fall back to ``busy_sweep_s``. Still images (no time) are
  swept every time, as with ``auto``: a photo's far faces count more than ~10-25 ms.

Between sweeps the tracker follows every face it has by its landmarks, so a far face found by a sweep is kept: the
rounds where BlazeFace alone looked do not count against a face smaller than it sees (``last_reach``).
Boxes are reported in BlazeFace's convention (RetinaFace's mapped through both box adapters). RetinaFace's model is
loaded at the first sweep; without it (no network on first use) it is BlazeFace alone, with one warning.
"""
from __future__ import annotations

import sys

import numpy as np

from ..errors import FacetrackError
from ..types import Detection


class AutoDetector:
    name = "auto"

    def __init__(self, model_path=None, min_score: float = 0.5, sweep_s: float = 1.0, sweep: str = "always",
                 busy_sweep_s: float | None = 5.0):
        from .mediapipe import MediaPipeDetector
        if sweep not in ("always", "empty"):
            raise FacetrackError(f"sweep must be 'always' or 'empty', got {sweep!r}")
        self.near = MediaPipeDetector(model_path=model_path, min_score=min_score)
        self.box_adapter = self.near.box_adapter
        self.sweep_s, self.sweep, self.min_score = sweep_s, sweep, min_score
        self.busy_sweep_s = busy_sweep_s  # fallback: the sweep period in frames where BlazeFace found faces (None: never)
        if sweep == "empty":
            self.name = "fallback"
        self._far = None
        self._far_failed = False
        self._last_sweep = -float("inf")
        self._t0 = self._prev_t = None  # the stream's first and latest times
        self._busy = False  # the last sweep found faces BlazeFace did not
        # RetinaFace's sweeps look at frames up to 1440 px wide: on the 1080p street crowd (benchmarks/crowds.py) it
        # finds every face of 40-80 px there (58 ms a sweep) and 69% at its own 960 px (24 ms)
        self.far_width = 1440
        self.last_reach = 0.0
        self.sweeps = 0

    @property
    def far(self):
        """RetinaFace, loaded on first use (None when its model cannot be had: then BlazeFace alone)."""
        if self._far is None and not self._far_failed:
            try:
                from .retinaface import RetinaFaceDetector
                self._far = RetinaFaceDetector(min_score=max(self.min_score, 0.3), detect_width=self.far_width)
            except FacetrackError as e:
                self._far_failed = True
                print(f"facetrack: warning: detector {self.name} runs BlazeFace alone (no far faces): {e}",
                      file=sys.stderr)
        return self._far

    def _sweep_due(self, frame: np.ndarray, time_s: float, near: list[Detection]) -> bool:
        """Whether this video frame gets a RetinaFace sweep (see the module docstring)."""
        since = time_s - self._last_sweep
        if self.sweep == "always" or not near or self._busy:
            return since >= self.sweep_s
        if self._last_sweep == -float("inf"):  # the stream's first look beside faces BlazeFace found
            if self._hides_faces(frame) and not self._near_scene(near):
                return True
            return self.busy_sweep_s is not None and time_s - self._t0 >= self.busy_sweep_s
        return self.busy_sweep_s is not None and since >= self.busy_sweep_s

    def _near_scene(self, near: list[Detection]) -> bool:
        """One or two faces, each at least 1.5x as large as the smallest BlazeFace sees: a face near the camera (a
        webcam, an interview), where a far face beside it waits for the ``busy_sweep_s`` sweep."""
        sure = [d for d in near if d.score >= 0.5]  # weak detections (which may confirm a face, not start one) aside
        sides = [max(d.box[2] - d.box[0], d.box[3] - d.box[1]) for d in sure]
        return 0 < len(sure) <= 2 and min(sides) >= 1.5 * self.near.last_reach

    def _hides_faces(self, frame: np.ndarray) -> bool:
        """A frame large enough that BlazeFace misses faces RetinaFace would find by a factor of two or more (faces
        under a tenth of the longer side; RetinaFace finds ~20 px at the width it sweeps): 640 x 360 and larger, not a
        webcam's 360 x 288."""
        from .retinaface import RetinaFaceDetector
        h, w = frame.shape[:2]
        return self.near.reach * max(h, w) > 2 * RetinaFaceDetector.min_side * max(1.0, w / self.far_width)

    def detect(self, frame: np.ndarray, time_s: float | None = None) -> list[Detection]:
        from ..tracking import iou_matrix
        dets = list(self.near.detect(frame, time_s))
        self.last_reach = self.near.last_reach
        if time_s is not None:  # video (a still image is swept every time)
            if self._prev_t is None or time_s < self._prev_t:  # time going back: a new stream (batch reuses the
                self._t0, self._last_sweep, self._busy = time_s, -float("inf"), False  # detector)
            self._prev_t = time_s
            if not self._sweep_due(frame, time_s, dets):
                return dets
        if self._far_failed:
            return dets
        far = self.far
        if far is None:
            return dets
        if time_s is not None:
            self._last_sweep = time_s
        self.sweeps += 1
        near = self.near.box_adapter.boxes(dets)  # both in the landmark-box convention to compare them
        added = 0
        for d in far.detect(frame, time_s):
            lb = far.box_adapter(d.box)
            if len(near) and iou_matrix(lb[None], near).max() >= 0.3:
                continue
            dets.append(Detection(self.box_adapter.inverse(lb), d.score))
            near = np.vstack([near, lb[None]])
            added += 1
        self.last_reach = min(self.last_reach, far.last_reach)
        self._busy = added > 0  # faces BlazeFace misses are on screen: sweep every sweep_s while they are
        return dets

    def warmup(self) -> None:
        self.near.warmup()
        if self.sweep == "always" and self.far is not None:
            self.far.warmup()  # auto sweeps the first frame anyway; fallback may never need it

    def close(self) -> None:
        self.near.close()
        if self._far is not None:
            self._far.close()
