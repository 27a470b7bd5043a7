"""Training augmentation with OpenCV/numpy: one affine warp per sample (the crop geometry is in :mod:`geometry`).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import apply_affine, crop_matrix, landmark_box, square_from_box, warp
from .schemes import Scheme


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
