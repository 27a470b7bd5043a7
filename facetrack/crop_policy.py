"""Where each face is cropped next: the one home of the crop policy.

- A track's crop is its detector's box, cut level, until its landmarks are good; after a good frame it is the box
  of those landmarks (the model's training convention), turned upright by their eye line when the predictor is
  ``upright`` (:func:`crops_around`). The tracker says which holds: ``Track.box_source``.
- A new track starts from a detector box, which can sit far from that convention (small faces especially): it is
  cropped again on its own landmarks ``refine_new`` + 1 times, and on until the crop stops moving (box change under
  2% of its side) or ``refine_new_max`` passes. On the video ground-truth clips a fixed 4 passes in all left a
  90 px face unconverged for ~9 frames (NME 12% on that clip). ``refine`` re-crops every face every frame.
- The next crop is led by the head's smoothed velocity over one frame interval: the crop from this frame's
  landmarks lags a moving head by a frame, and the model reads a face best centred (video ground-truth clips:
  NME 4.34 -> 4.32%, docs/accuracy.md). Smoothers without a velocity: no lead.

:func:`recrop` is the one refinement loop: the pipeline's and ``LandmarkPredictor.predict(refine=N)``'s (N passes
exactly) are the same code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from pipnet_model.geometry import landmark_box, upright_box


def crops_around(lms: np.ndarray, eye_corners: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (F, 4), angles (F,)) to crop again around landmarks (F, N, 2): with ``eye_corners`` the upright box
    and the eye line's angle (degrees, clockwise on screen), else the plain landmark box at angle 0."""
    lms = np.asarray(lms, dtype=np.float64)
    if eye_corners is None:
        return np.array([landmark_box(p) for p in lms]).reshape(-1, 4), np.zeros(len(lms))
    got = [upright_box(p, eye_corners) for p in lms]
    return np.array([b for b, _ in got]).reshape(-1, 4), np.array([a for _, a in got])


Predict = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (boxes, angles) -> (lms, confs)


def recrop(predict_on: Predict, around: Callable, lms: np.ndarray, confs: np.ndarray, least: int, most: int,
           still: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks again from crops around the given ones: ``least`` passes for every face, then on for each face whose
    crop still moved (more than ``still`` of its side) up to ``most`` passes. ``around``: landmarks -> (boxes,
    angles); ``predict_on``: (boxes, angles) -> (landmarks, confidences)."""
    lms, confs = np.array(lms, copy=True), np.array(confs, copy=True)
    todo = np.arange(len(lms))
    for k in range(max(least, most)):
        if not len(todo):
            break
        old, angles = around(lms[todo])
        lm2, cf2 = predict_on(old, angles)
        new_b = around(lm2)[0]
        lms[todo], confs[todo] = lm2, cf2
        side = np.maximum(old[:, 2] - old[:, 0], old[:, 3] - old[:, 1])
        moved = np.abs(new_b - old).max(1) > still * side
        todo = todo[moved | (k + 1 < least)]
    return lms, confs


class CropPolicy:
    """The crops of one frame's tracks, their refinement, and each track's next crop (see the module docstring).

    ``predictor``: a :class:`~facetrack.interfaces.Predictor` (its ``upright`` and ``landmark_crops`` say how a
    crop is cut around landmarks). A track's crop state lives on its :class:`~facetrack.pipeline.FaceTrack`
    (``crop``, ``angle``); the tracker's box moves only through :meth:`Tracker.lead`."""

    def __init__(self, predictor, refine: int = 0, refine_new: int = 2, refine_new_max: int = 8):
        self.predictor = predictor
        self.upright = bool(predictor.upright)
        self.refine, self.refine_new, self.refine_new_max = refine, refine_new, refine_new_max

    def around(self, lms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.upright:
            return self.predictor.landmark_crops(lms)
        return crops_around(lms)

    def crop_of(self, face) -> tuple[np.ndarray, float]:
        """A track's next crop: (box, angle)."""
        t = face.track
        if self.upright and t.box_source == "landmarks" and face.crop is not None:
            return face.crop, face.angle
        return t.box, 0.0

    def landmarks(self, frame: np.ndarray, faces: list, new: set) -> tuple[np.ndarray, np.ndarray]:
        """Every face's landmarks in one batch from its next crop; with ``refine`` all of them cropped again
        that many times; the ``new`` ones (track ids) until converged."""
        crops = [self.crop_of(f) for f in faces]
        lms, confs = self.predictor.predict(frame, np.array([b for b, _ in crops]),
                                            angles=np.array([a for _, a in crops]))
        predict_on = lambda b, a: self.predictor.predict(frame, b, angles=a)  # noqa: E731
        if self.refine > 0:
            lms, confs = recrop(predict_on, self.around, lms, confs, self.refine, self.refine)
        fresh = [i for i, f in enumerate(faces) if f.track.track_id in new]
        if fresh:
            lms, confs = lms.copy(), confs.copy()
            least = self.refine_new + 1
            lms[fresh], confs[fresh] = recrop(predict_on, self.around, lms[fresh], confs[fresh], least,
                                              max(self.refine_new_max, least))
        return lms, confs

    def follow(self, face, landmarks: np.ndarray) -> None:
        """A good frame: the next crop is cut around these landmarks (upright: the tracker's box is their plain
        landmark box, which still matches detections and measures the face)."""
        if self.upright:
            boxes, angles = self.predictor.landmark_crops(np.asarray(landmarks)[None])
            face.crop, face.angle = boxes[0], float(angles[0])

    def lead(self, tracker, face, velocity: np.ndarray | None, dt: float) -> None:
        """Move the track's next crop ahead by ``velocity`` (pixels per second) over ``dt`` seconds."""
        if velocity is not None and 0 < dt < 0.5:
            shift = dt * np.array([velocity[0], velocity[1], velocity[0], velocity[1]])
            tracker.lead(face.track, shift)
            if face.crop is not None:
                face.crop = face.crop + shift
