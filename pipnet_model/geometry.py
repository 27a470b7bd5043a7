"""Crop geometry: boxes of landmarks, the square crop around a box, its affine matrix and warp, unit coordinates.

Pixel convention: integer coordinates are pixel centres (OpenCV's). A crop of size S maps to
normalised coordinates ``u = (x + 0.5) / S``, so a horizontal flip is ``u -> 1 - u``.
"""
from __future__ import annotations

import cv2
import numpy as np


def landmark_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the points."""
    p = np.asarray(points, dtype=np.float64)
    return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())


def upright_box(points: np.ndarray, eye_corners: tuple[int, int], max_deg: float = 90.0
                ) -> tuple[tuple[float, float, float, float], float]:
    """The points' box in the face's own upright frame: (box, angle_deg). ``angle_deg`` is the eye line's angle
    (from the image-left outer eye corner to the other; clockwise on screen is positive, image y pointing down),
    clipped to +-``max_deg``; the box has the extents of the points turned upright by it and their centre in frame
    pixels. ``crop_matrix(cx, cy, side, size, angle_deg)`` cuts the crop turned upright."""
    p = np.asarray(points, dtype=np.float64)
    d = p[eye_corners[1]] - p[eye_corners[0]]
    a = float(np.clip(np.degrees(np.arctan2(d[1], d[0])), -max_deg, max_deg))
    c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
    u, v = c * p[:, 0] + s * p[:, 1], -s * p[:, 0] + c * p[:, 1]  # the points turned upright
    uc, vc = (u.min() + u.max()) / 2, (v.min() + v.max()) / 2
    x, y = c * uc - s * vc, s * uc + c * vc
    hw, hh = (u.max() - u.min()) / 2, (v.max() - v.min()) / 2
    return (float(x - hw), float(y - hh), float(x + hw), float(y + hh)), a


def square_from_box(box, scale: float) -> tuple[float, float, float]:
    """(cx, cy, side): the square centred on a box (x0, y0, x1, y1), side = max(w, h) * scale."""
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, max(x1 - x0, y1 - y0, 1.0) * scale


def crop_matrix(cx: float, cy: float, side: float, out_size: int, angle_deg: float = 0.0,
                shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """2x3 affine from source pixels to crop pixels: centre (cx, cy) goes to the crop centre (+shift),
    a span of ``side`` source pixels becomes ``out_size``; rotation by angle_deg (counter-clockwise)."""
    s = out_size / side
    a = np.deg2rad(angle_deg)
    ca, sa = np.cos(a) * s, np.sin(a) * s
    c = (out_size - 1) / 2.0
    m = np.array([[ca, sa, 0.0], [-sa, ca, 0.0]])
    m[:, 2] = np.array([c + shift[0], c + shift[1]]) - m[:, :2] @ np.array([cx, cy])
    return m


def invert_affine(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, dtype=np.float64))


def apply_affine(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]


def warp(image: np.ndarray, m: np.ndarray, out_size: int) -> np.ndarray:
    """The crop; areas outside the image are black."""
    return cv2.warpAffine(image, m, (out_size, out_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def to_unit(points_px: np.ndarray, out_size: int) -> np.ndarray:
    return (np.asarray(points_px, dtype=np.float64) + 0.5) / out_size


def from_unit(points_unit, out_size: int):
    return points_unit * out_size - 0.5
