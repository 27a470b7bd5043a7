"""The parts a :class:`~facetrack.pipeline.FaceTracker` is made of, declared once.

- :class:`~facetrack.detectors.Detector` (``detect``, ``box_adapter``, ``close``; ``warmup`` optional): where faces are.
- :class:`Predictor`: landmarks from crops (:class:`~facetrack.landmarks.LandmarkPredictor`).
- :class:`Smoother`: one track's landmark filter, made per track by a factory (:func:`~facetrack.smoothing.smoother_factory`).
- :class:`Analyser`: per-face values (head pose, openness); each track holds the state ``start`` made for it.
- The identifier (:class:`~facetrack.reid.ReIdentifier`): an :class:`Analyser` that runs last and gives a face the ID
  of the person it is (``face.track_id``); its per-track state lives on the track too.
- :class:`~facetrack.sinks.Sink`: where results go (``start``, ``write``, ``end``, ``close``).
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .detectors import Detector  # noqa: F401  (declared with the detector registry)
from .types import Face


class Predictor(Protocol):
    num_points: int
    upright: bool  # crops around landmarks are turned level by the eye line (``landmark_crops``)

    def predict(self, frame: np.ndarray, boxes: np.ndarray, refine: int = 0,
                angles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """-> landmarks (F, N, 2) in frame pixels, confidences (F, N), from crops of ``boxes`` turned by ``angles``."""
        ...

    def landmark_crops(self, lms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(boxes, angles) to crop again around landmarks (F, N, 2)."""
        ...


class Smoother(Protocol):
    """One track's filter: ``smoother(landmarks, time_s)`` -> smoothed landmarks."""

    def __call__(self, landmarks: np.ndarray, time_s: float) -> np.ndarray:
        ...

    def velocity(self) -> np.ndarray | None:
        """The head's smoothed velocity (pixels per second), None where the filter has none."""
        ...


class Analyser:
    """Adds per-face values. Each track gets the state :meth:`start` makes (None by default); every frame the track
    is reported, ``analyser(face, state, frame, time_s)`` fills the face and returns it; :meth:`end` is told when
    the track ends. :meth:`summary` reports over the run from every track's state, grouped by the person (ID) the
    tracks' rows carry. Subclass and override what you need."""

    def start(self, track_id: int) -> Any:
        return None

    def __call__(self, face: Face, state: Any = None, frame: np.ndarray | None = None, time_s: float = 0.0) -> Face:
        return face

    def end(self, state: Any) -> None:
        pass

    def reset(self) -> None:
        """A new video: forget what is kept across tracks."""

    def summary(self, people: dict[int, list]) -> dict:
        """``people``: person ID -> the states of their tracks (ended and live), in track order."""
        return {}

    # the identification step's (``FaceTracker(identifier=...)``) part in a face changing at once (facetrack.cuts)
    def doubts(self, state: Any, time_s: float) -> bool:
        """Whether it would look again at this track now if its face changed (the pipeline then compares the
        face's box with the last frame's; False: no such look, and no comparison)."""
        return False

    def doubt(self, state: Any, time_s: float) -> None:
        """What is in the track's box changed all over since the last frame: look at who it is again."""

    def changed(self, state: Any) -> bool:
        """The track's face is someone else's now: the pipeline ends the track (the face starts a new one)."""
        return False
