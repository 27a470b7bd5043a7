"""Accuracy as users get it on still images: the product's own path from a detector's box to landmarks.

``evaluate_with_detector`` runs the detector on every labelled image, takes the detection that belongs to the
labelled face (its centre within 30% of the face's size of the labels' centre), adapts its box with the detector's
box adapter and predicts with ``refine`` re-crops, as ``facetrack predict`` does. Faces the detector misses are
reported apart (and count as failures in ``fr_with_misses``)."""
from __future__ import annotations

import numpy as np

from pipnet_model.datasets import LandmarkSet, read_image
from pipnet_model.metrics import nme_per_face, summary

from .detectors import Detector
from .landmarks import LandmarkPredictor


def match(boxes: np.ndarray, gt: np.ndarray, tolerance: float = 0.3) -> np.ndarray | None:
    """The box whose centre is nearest the labelled face's centre, if within ``tolerance`` x the face's size."""
    c = np.array([(gt[:, 0].min() + gt[:, 0].max()) / 2, (gt[:, 1].min() + gt[:, 1].max()) / 2])
    size = max(np.ptp(gt[:, 0]), np.ptp(gt[:, 1]))
    best, bd = None, tolerance * size
    for b in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        d = np.abs(np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) - c).max()
        if d < bd:
            best, bd = b, d
    return best


def evaluate_with_detector(predictor: LandmarkPredictor, detector: Detector, ds: LandmarkSet, refine: int = 2,
                           threshold: float = 0.1) -> tuple[dict, np.ndarray]:
    """-> (summary over the faces found, plus ``faces``, ``missed`` and ``fr_with_misses``; per-face NME with NaN
    for the missed faces)."""
    nmes = np.full(len(ds), np.nan)
    for i, r in enumerate(ds.records):
        img = read_image(r)
        dets = detector.detect(img)
        b = match(np.array([d.box for d in dets]).reshape(-1, 4), r.points)
        if b is None:
            continue
        lm, _ = predictor.predict(img, detector.box_adapter(b)[None], refine=refine)
        nmes[i] = nme_per_face(lm, r.points[None], ds.scheme)[0]
    found = nmes[np.isfinite(nmes)]
    s = summary(found, threshold)
    missed = int(np.isnan(nmes).sum())
    s.update(faces=len(ds), missed=missed,
             fr_with_misses=float((np.sum(found > threshold) + missed) / max(len(ds), 1)))
    return s, nmes
