"""Crops and training augmentation with OpenCV/numpy: one affine warp per sample.

Pixel convention: integer coordinates are pixel centres (OpenCV's). A crop of size S maps to
normalised coordinates ``u = (x + 0.5) / S``, so a horizontal flip is ``u -> 1 - u``.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .schemes import Scheme


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


@dataclass
class AugmentConfig:
    """The paper's augmentation (probabilities and ranges); translation is in pixels of a 256 crop."""
    translate_px: float = 30.0
    p_translate: float = 0.5
    occlusion_frac: float = 0.4
    p_occlusion: float = 0.5
    p_flip: float = 0.5
    # a mirrored crop's x labels + 2 x this x the crop's side: labels that sit a constant offset right of the pixels
    # they mark come out of a mirror that far left of them, and a network trained on both learns neither (issue 12;
    # docs/accuracy.md, twelfth session). 0: the exact mirror.
    flip_shift: float = 0.0
    rotate_deg: float = 30.0
    p_rotate: float = 0.5
    blur_sigma: float = 5.0
    p_blur: float = 0.3
    p_gray: float = 0.2
    # Not in the paper: the face as a camera and a codec deliver it (off unless asked for, ``--degrade P``): the crop
    # shrunk so the face spans degrade_min_px..out_size pixels (log-uniform), sensor noise of sigma up to noise_sigma
    # at that size, JPEG at quality jpeg_quality (as a stand-in for a video codec), then back to out_size.
    p_degrade: float = 0.0
    degrade_min_px: float = 48.0
    noise_sigma: float = 6.0
    jpeg_quality: tuple[int, int] = (20, 85)
    degrade_source: float = 0.0  # only faces whose source crop has at least this x out_size pixels (1: no upscaled ones)


def degrade(crop: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """A low-resolution, noisy, compressed copy of ``crop`` (uint8 BGR), the same size again."""
    s = crop.shape[0]
    lo = min(float(cfg.degrade_min_px), float(s))
    side = int(round(np.exp(rng.uniform(np.log(lo), np.log(s)))))
    small = crop if side >= s else cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
    if cfg.noise_sigma > 0:
        noisy = small.astype(np.float32) + rng.normal(0.0, rng.uniform(0.0, cfg.noise_sigma), small.shape)
        small = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    q = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, q])
    if ok:
        small = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if side >= s:
        return small
    return cv2.resize(small, (s, s), interpolation=cv2.INTER_LINEAR)


class Augmenter:
    """Training crop: landmark box x scale, then translate/rotate (one warp), flip, occlusion, blur, grayscale
    (and, when asked for, degradation: low resolution, noise, compression)."""

    def __init__(self, scheme: Scheme, out_size: int = 256, crop_scale: float = 1.1,
                 cfg: AugmentConfig | None = None):
        self.scheme, self.out_size, self.crop_scale = scheme, out_size, crop_scale
        self.cfg = cfg or AugmentConfig()
        self.perm = np.asarray(scheme.flip_perm)

    def plain(self, image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Evaluation crop, no augmentation: (crop, points in crop pixels, source->crop matrix)."""
        cx, cy, side = square_from_box(landmark_box(points), self.crop_scale)
        m = crop_matrix(cx, cy, side, self.out_size)
        return warp(image, m, self.out_size), apply_affine(points, m), m

    def __call__(self, image: np.ndarray, points: np.ndarray, rng: np.random.Generator,
                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(crop, points in crop pixels); ``mask`` (N,) bool: the labelled points; the others come out NaN (the
        crop is still cut from all of them)."""
        c, s = self.cfg, self.out_size
        cx, cy, side = square_from_box(landmark_box(points), self.crop_scale)
        shift = (0.0, 0.0)
        if rng.random() < c.p_translate:
            t = c.translate_px * s / 256.0
            shift = (rng.uniform(-t, t), rng.uniform(-t, t))
        angle = rng.uniform(-c.rotate_deg, c.rotate_deg) if rng.random() < c.p_rotate else 0.0
        m = crop_matrix(cx, cy, side, s, angle, shift)
        crop = warp(image, m, s)
        pts = apply_affine(points, m)
        if rng.random() < c.p_flip:
            crop = np.ascontiguousarray(crop[:, ::-1])
            pts = pts.copy()
            pts[:, 0] = (s - 1) - pts[:, 0] + 2 * c.flip_shift * s
            pts = pts[self.perm]
            if mask is not None:
                mask = np.asarray(mask)[self.perm]
        if mask is not None:
            pts = pts.copy()
            pts[~np.asarray(mask, dtype=bool)] = np.nan
        if rng.random() < c.p_occlusion:
            ow = int(rng.uniform(0, c.occlusion_frac) * s)
            oh = int(rng.uniform(0, c.occlusion_frac) * s)
            if ow > 0 and oh > 0:
                x0 = int(rng.integers(0, s - ow + 1))
                y0 = int(rng.integers(0, s - oh + 1))
                crop[y0:y0 + oh, x0:x0 + ow] = rng.integers(0, 256, (oh, ow, 3), dtype=np.uint8)
        if c.p_degrade > 0 and side >= s * c.degrade_source and rng.random() < c.p_degrade:
            crop = degrade(crop, rng, c)
        if rng.random() < c.p_blur:
            crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.1, c.blur_sigma))
        if rng.random() < c.p_gray:
            g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
            crop = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
        return crop, pts
