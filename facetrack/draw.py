"""Overlays: landmarks, boxes, track ids, head axes."""
from __future__ import annotations

import cv2
import numpy as np


def color_for(track_id: int) -> tuple[int, int, int]:
    if track_id < 0:
        return (0, 255, 0)
    h = (track_id * 47) % 180
    hsv = np.uint8([[[h, 220, 255]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_landmarks(img: np.ndarray, landmarks: np.ndarray, box=None, track_id: int = -1, label: str | None = None) -> np.ndarray:
    """Draw in place on a BGR image and return it."""
    col = color_for(track_id)
    r = max(1, int(round(min(img.shape[:2]) / 360)))
    for x, y in np.asarray(landmarks):
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(img, (int(round(x)), int(round(y))), r, col, -1, cv2.LINE_AA)
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(img, (x0, y0), (x1, y1), col, 1, cv2.LINE_AA)
        text = label if label is not None else (f"#{track_id}" if track_id >= 0 else None)
        if text:
            cv2.putText(img, text, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, col, 1, cv2.LINE_AA)
    return img


def draw_head_axes(img: np.ndarray, landmarks: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The head's axes from the nose tip (point 30 of 68), half a face long: x (the subject's left) red, y (down)
    green, z (out of the face, towards the camera when frontal) blue; orthographic, from the pose angles."""
    if not all(np.isfinite(v) for v in (yaw, pitch, roll)) or len(landmarks) != 68:
        return img
    from .pose import rotation_from_angles
    lm = np.asarray(landmarks, dtype=np.float64)
    size = float(np.ptp(lm, 0).max()) * 0.5
    r = rotation_from_angles(yaw, pitch, roll)
    o = lm[30]
    t = max(1, int(round(min(img.shape[:2]) / 360)))
    for axis, col in ((np.array([1.0, 0, 0]), (0, 0, 255)), (np.array([0, 1.0, 0]), (0, 200, 0)),
                      (np.array([0, 0, -1.0]), (255, 80, 0))):
        d = (r @ axis)[:2] * size
        cv2.line(img, (int(round(o[0])), int(round(o[1]))), (int(round(o[0] + d[0])), int(round(o[1] + d[1]))),
                 col, t, cv2.LINE_AA)
    return img


def draw_face(img: np.ndarray, face, label: str | None = None) -> np.ndarray:
    """Landmarks, box and id of a :class:`facetrack.types.Face`, and its head axes when it has a pose."""
    draw_landmarks(img, face.landmarks, face.box, face.track_id, label)
    return draw_head_axes(img, face.landmarks, face.yaw, face.pitch, face.roll)
