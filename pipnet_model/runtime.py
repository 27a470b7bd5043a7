"""The torch-free half of inference: input scaling and the NRM decode, in numpy (evaluation on a labelled dataset:
:mod:`evaluation`). Engines that take numpy arrays (ONNX Runtime, OpenVINO) run the network; everything around it is here,
so a product that only predicts never imports torch. :mod:`codec` and :mod:`inference` are the torch twins
(tested equal).
"""
from __future__ import annotations

import numpy as np

from .errors import PIPNetError
from .meta import ModelMeta


def reverse_index_np(nb_idx, mode: str = "cyclic") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Invert the neighbour table (N x C): who predicts point i. Returns (src, slot, weight), each (N, L):
    ``(src[i, k], slot[i, k])`` means point src predicts i as its neighbour number slot; ``weight[i, k]`` is 1
    for a counted vote, 0 for padding. ``cyclic`` pads every list to the longest by cyclic repetition, as the
    reference code does (some votes count more than once); ``exact`` counts each vote once."""
    if mode not in ("cyclic", "exact"):
        raise ValueError(f"mode must be 'cyclic' or 'exact', got {mode!r}")
    nb = np.asarray(nb_idx, dtype=np.int64).tolist()
    n = len(nb)
    lists: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i, row in enumerate(nb):
        for j, t in enumerate(row):
            lists[t].append((i, j))
    L = max(1, max(len(v) for v in lists))
    src = np.zeros((n, L), np.int64)
    slot = np.zeros((n, L), np.int64)
    w = np.zeros((n, L), np.float32)
    for i, v in enumerate(lists):
        if not v:
            continue
        for k in range(L):
            if k < len(v) or mode == "cyclic":
                s, j = v[k % len(v)]
                src[i, k], slot[i, k], w[i, k] = s, j, 1.0
            else:
                src[i, k], slot[i, k] = v[0]
    return src, slot, w


def decode_np(outputs, src: np.ndarray | None = None, slot: np.ndarray | None = None,
              weight: np.ndarray | None = None, nrm: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Five output maps (numpy) -> (points (B, N, 2) normalised, confidence (B, N)); the numpy twin of
    :func:`codec.decode` (same arithmetic, tested equal). The reverse index comes from :func:`reverse_index_np`."""
    score, ox, oy, nbx, nby = (np.asarray(o, dtype=np.float32) for o in outputs)
    b, n, h, w = score.shape
    flat = score.reshape(b * n, h * w)
    k = flat.argmax(1)  # each point's peak cell; ties take the first cell, as torch's max does on CPU
    r = np.arange(b * n)
    best = flat[r, k].reshape(b, n)  # plain fancy indexing: a third of take_along_axis's cost at batch 1
    idx = k.reshape(b, n)
    col = (idx % w).astype(np.float32)
    row = (idx // w).astype(np.float32)
    px = (col + ox.reshape(b * n, h * w)[r, k].reshape(b, n)) / w
    py = (row + oy.reshape(b * n, h * w)[r, k].reshape(b, n)) / h
    conf = np.clip(best, 0, 1)
    if not nrm:
        return np.stack([px, py], -1), conf
    c = nbx.shape[1] // n  # channel i * C + j: point i's neighbour j, read at point i's peak
    qx = ((np.repeat(col, c, 1) + nbx.reshape(b * n, c, h * w)[r, :, k].reshape(b, n * c)) / w).reshape(b, n, c)
    qy = ((np.repeat(row, c, 1) + nby.reshape(b * n, c, h * w)[r, :, k].reshape(b, n * c)) / h).reshape(b, n, c)
    wt = weight.astype(np.float32)
    vx, vy = qx[:, src, slot], qy[:, src, slot]  # (B, N, L)
    denom = 1.0 + wt.sum(1)
    x = (px + (vx * wt).sum(-1)) / denom
    y = (py + (vy * wt).sum(-1)) / denom
    return np.stack([x, y], -1), conf


def to_input_np(crops: np.ndarray, meta: ModelMeta, bgr: bool = True) -> np.ndarray:
    """uint8 crops (B, S, S, 3) -> float32 (B, 3, S, S) in the model's colour order, normalised: the numpy twin of
    :func:`inference.to_input`. One pass of OpenCV's blob maker ((x - 255 mean) / (255 std), channel swap and
    layout at once: 0.05 ms a 192 px crop against 0.52 ms for the same steps in numpy, within 1e-6 of them)."""
    x = np.asarray(crops)
    swap = bgr == (meta.color == "RGB")
    if x.dtype == np.uint8 and x.ndim == 4 and x.shape[-1] == 3 and len(x):
        import cv2
        p = cv2.dnn.Image2BlobParams(scalefactor=tuple(1.0 / (255.0 * s) for s in meta.std),
                                     size=(x.shape[2], x.shape[1]), mean=tuple(255.0 * m for m in meta.mean),
                                     swapRB=swap, ddepth=cv2.CV_32F)
        return cv2.dnn.blobFromImagesWithParams(list(x), p)
    if swap:
        x = x[..., ::-1]
    mean = np.asarray(meta.mean, np.float32)
    std = np.asarray(meta.std, np.float32)
    x = (x.astype(np.float32) / np.float32(255.0) - mean) / std
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def reverse_index_of(meta: ModelMeta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A model's reverse neighbour index as numpy arrays (src, slot, weight) for :func:`decode_np`."""
    return reverse_index_np(meta.nb_idx, "cyclic" if meta.nrm == "none" else meta.nrm)
