"""NME, failure rate, AUC and the CED plot."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .schemes import Scheme


def normalizers(gt: np.ndarray, scheme: Scheme) -> np.ndarray:
    """Per-face normalising distance: outer eye corners (68/98/COFW) or sqrt(box area) (AFLW)."""
    gt = np.asarray(gt, dtype=np.float64)
    if scheme.norm == "eyes":
        a, b = scheme.eye_corners
        return np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
    w = gt[..., 0].max(1) - gt[..., 0].min(1)
    h = gt[..., 1].max(1) - gt[..., 1].min(1)
    return np.sqrt(w * h)


def nme_per_face(pred: np.ndarray, gt: np.ndarray, scheme: Scheme) -> np.ndarray:
    """Mean point-to-point error over points divided by the normaliser, one value per face (fractions)."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    err = np.linalg.norm(pred - gt, axis=-1).mean(-1)
    return err / np.maximum(normalizers(gt, scheme), 1e-9)


def failure_rate(nmes: np.ndarray, threshold: float = 0.1) -> float:
    return float(np.mean(np.asarray(nmes) > threshold)) if len(nmes) else float("nan")


def auc(nmes: np.ndarray, threshold: float = 0.1) -> float:
    """Area under the CED curve up to threshold, divided by threshold (1 = every error is zero).
    Exact: the integral of the empirical CDF from 0 to t equals mean(max(0, t - e))."""
    e = np.asarray(nmes, dtype=np.float64)
    return float(np.mean(np.clip(threshold - e, 0, None)) / threshold) if len(e) else float("nan")


def nmf(pred: np.ndarray, gt: np.ndarray, scheme: Scheme) -> np.ndarray:
    """Normalised mean flicker per frame transition (LDEQ, CVPR 2023), in percent: the RMS over points of the
    frame-to-frame change of the error (pred - gt), over the normalising distance of the later frame, x100.
    ``pred``/``gt``: (T, N, 2) of consecutive frames -> (T - 1,). A constant error has no flicker."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    d = np.diff(pred - gt, axis=0)
    rms = np.sqrt((d ** 2).sum(-1).mean(-1))
    return 100 * rms / np.maximum(normalizers(gt[1:], scheme), 1e-9)


def summary(nmes: np.ndarray, threshold: float = 0.1) -> dict:
    e = np.asarray(nmes, dtype=np.float64)
    return {"nme": float(e.mean()) if len(e) else float("nan"), "fr": failure_rate(e, threshold),
            "auc": auc(e, threshold), "count": int(len(e)), "threshold": threshold}


def ced_plot(curves: dict[str, np.ndarray], path: str | Path, threshold: float = 0.1, title: str = "") -> Path:
    """Cumulative error distribution of one or more NME arrays, written as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    xs = np.linspace(0, threshold, 201)
    for name, e in curves.items():
        e = np.sort(np.asarray(e))
        ys = np.searchsorted(e, xs, side="right") / max(len(e), 1)
        s = summary(e, threshold)
        ax.plot(xs * 100, ys * 100, label=f"{name} (NME {s['nme'] * 100:.2f}%, AUC {s['auc']:.3f})")
    ax.set_xlabel("NME (%)")
    ax.set_ylabel("faces (%)")
    ax.set_xlim(0, threshold * 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or "Cumulative error distribution")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(p)
    plt.close(fig)
    return p
