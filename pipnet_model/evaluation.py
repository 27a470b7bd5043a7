"""Evaluation on a labelled dataset without torch: crops from the labels, any engine's predictions mapped back to
image pixels, NME per face. :func:`inference.evaluate` runs it with the torch model."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .augment import Augmenter
from .datasets import LandmarkSet, read_image
from .errors import PIPNetError
from .geometry import apply_affine, from_unit, invert_affine
from .meta import ModelMeta
from .metrics import nme_per_face

# uint8 crops (B, S, S, 3) BGR -> (points normalised to the crop (B, N, 2), confidence (B, N))
CropFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def predict_dataset(meta: ModelMeta, ds: LandmarkSet, predict: CropFn, batch_size: int = 32) -> np.ndarray:
    """Predictions in source-image pixels for every record, crops from the labelled landmarks."""
    aug = Augmenter(ds.scheme, meta.input_size, meta.crop_scale)
    out = []
    for i in range(0, len(ds), batch_size):
        crops, mats = [], []
        for r in ds.records[i:i + batch_size]:
            c, _, m = aug.plain(read_image(r), r.points)
            crops.append(c)
            mats.append(m)
        pts, _ = predict(np.stack(crops))
        for p, m in zip(pts, mats):
            out.append(apply_affine(from_unit(p.astype(np.float64), meta.input_size), invert_affine(m)))
    return np.stack(out)


def evaluate(meta: ModelMeta, ds: LandmarkSet, predict: CropFn, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(per-face NME, predictions in pixels) with boxes from the labels; ``predict`` runs the engine."""
    if ds.scheme.num_points != meta.num_points:
        raise PIPNetError(f"model predicts {meta.num_points} points but the dataset has {ds.scheme.num_points}")
    pred = predict_dataset(meta, ds, predict, batch_size)
    gt = np.stack([r.points for r in ds.records])
    return nme_per_face(pred, gt, ds.scheme), pred
