"""Overlays: landmarks, boxes, track ids."""
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
