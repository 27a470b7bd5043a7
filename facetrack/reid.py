"""Re-identification: a person who comes back gets their ID back.

An analyser stage: when a track is first reported its face is described by dlib's ResNet face descriptor
(128 numbers; the model ships in the PyPI package ``face_recognition_models``, dlib in ``dlib-bin``: the ``reid``
extra), computed from facetrack's own 68 landmarks, and refreshed every ``refresh_s`` seconds of video, never every
frame, and only for faces whose mean landmark score is at least ``min_quality`` (profiles, blur and non-faces give
descriptors that match anyone). When a track ends, its last descriptor is kept for ``memory_s`` seconds of video. A new track whose face is
within ``threshold`` (Euclidean; dlib's own same-person rule is 0.6) of a kept one takes that ID back; only IDs of
tracks that ended can be taken, so two people on screen at once never share one. Output IDs are the tracker's own
numbers (never reused), so a returned ID cannot collide with a new one. Tracker events keep the tracker's numbers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import FacetrackError
from .types import Face


def descriptor_model_path() -> Path:
    from .peers import face_recognition_model
    return face_recognition_model("dlib_face_recognition_resnet_model_v1.dat", extra="reid")


def available() -> bool:
    try:
        import dlib  # noqa: F401
        descriptor_model_path()
        return True
    except (ImportError, FacetrackError):
        return False


class ReIdentifier:
    """Maps the tracker's track numbers to identities (see the module docstring)."""

    def __init__(self, threshold: float = 0.45, memory_s: float = 60.0, refresh_s: float = 2.0,
                 min_quality: float = 0.45):
        try:
            import dlib
        except ImportError:
            raise FacetrackError("re-identification needs: pip install 'facetrack[reid]' (dlib-bin, "
                                 "face_recognition_models)") from None
        self.dlib = dlib
        self.model = dlib.face_recognition_model_v1(str(descriptor_model_path()))
        self.threshold, self.memory_s, self.refresh_s = threshold, memory_s, refresh_s
        self.min_quality = min_quality  # mean landmark score a face needs to be described (profiles, blur: not)
        self.reset()

    def reset(self) -> None:
        self.identity: dict[int, int] = {}                  # track number -> identity
        self.active: dict[int, tuple[np.ndarray, float, float]] = {}   # track -> (descriptor, computed at, last seen)
        self.memory: dict[int, tuple[np.ndarray, float]] = {}          # identity -> (descriptor, ended at)
        self.returns = 0
        self.descriptors = 0

    def describe(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        d = self.dlib
        p = np.asarray(landmarks, dtype=np.float64)
        (x0, y0), (x1, y1) = p.min(0), p.max(0)
        shape = d.full_object_detection(d.rectangle(int(x0), int(y0), int(x1), int(y1)),
                                        [d.point(int(round(x)), int(round(y))) for x, y in p])
        self.descriptors += 1
        return np.array(self.model.compute_face_descriptor(np.ascontiguousarray(frame[..., ::-1]), shape))

    def __call__(self, face: Face, track=None, frame=None, time_s: float = 0.0) -> Face:
        tid = face.track_id
        if len(face.landmarks) != 68 or frame is None:
            return face
        good = float(np.mean(face.scores)) >= self.min_quality
        if tid not in self.identity:
            if not good:  # a poor view: no match attempted, the track keeps its own number and no descriptor
                self.identity[tid] = tid
                return face
            desc = self.describe(frame, face.landmarks)
            present = set(self.identity.values())
            best, best_d = None, self.threshold
            for ident, (m, ended) in self.memory.items():
                if ident in present or time_s - ended > self.memory_s:
                    continue
                dist = float(np.linalg.norm(m - desc))
                if dist < best_d:
                    best, best_d = ident, dist
            if best is not None:
                self.memory.pop(best)
                self.returns += 1
            self.identity[tid] = best if best is not None else tid
            self.active[tid] = (desc, time_s, time_s)
        elif tid in self.active:
            desc, at, _ = self.active[tid]
            if good and time_s - at >= self.refresh_s:
                desc, at = self.describe(frame, face.landmarks), time_s
            self.active[tid] = (desc, at, time_s)
        elif good:  # first described once it looks good
            d = self.describe(frame, face.landmarks)
            self.active[tid] = (d, time_s, time_s)
        face.track_id = self.identity[tid]
        return face

    def drop(self, track_id: int) -> None:
        ident = self.identity.pop(track_id, None)
        st = self.active.pop(track_id, None)
        if ident is not None and st is not None:
            self.memory[ident] = (st[0], st[2])
        self.memory = {k: v for k, v in self.memory.items() if st is None or st[2] - v[1] <= self.memory_s}

    def summary(self) -> dict:
        return {"reid": {"returns": self.returns, "descriptors": self.descriptors}}
