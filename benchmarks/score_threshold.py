"""Where to put the landmark-score threshold (TrackOptions.min_landmark_score): the mean PIPNet peak score of
crops that hold a face against crops that do not.

    python benchmarks/score_threshold.py --model default --data csv:../shared/data/w300/test.csv \
        --data csv:../shared/data/ytf68/test.csv

Faces: the labelled faces, cropped from their label boxes and from boxes moved by up to 15% of the face and
scaled by 0.85-1.2 (what tracking hands the model between detections). Not faces: random square crops (60-300 px)
of scikit-image's photographs without people (benchmarks/detection.py's backgrounds, 1280 x 720).
Prints, for a few thresholds, the share of faces kept and of non-faces rejected, and the threshold that keeps
99% of the faces.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from facetrack.landmarks import LandmarkPredictor  # noqa: E402
from pipnet_model.augment import landmark_box  # noqa: E402
from pipnet_model.datasets import load_dataset, read_image  # noqa: E402

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--negatives", type=int, default=600)
    a = ap.parse_args()
    pred = LandmarkPredictor(a.model, "cpu", backend="torch")
    rng = np.random.default_rng(0)
    pos = []
    for spec in a.data:
        for r in load_dataset(spec).records:
            img = read_image(r)
            x0, y0, x1, y1 = landmark_box(r.points)
            w, h = x1 - x0, y1 - y0
            boxes = [[x0, y0, x1, y1]]
            for _ in range(2):
                s = rng.uniform(0.85, 1.2)
                cx, cy = (x0 + x1) / 2 + rng.uniform(-0.15, 0.15) * w, (y0 + y1) / 2 + rng.uniform(-0.15, 0.15) * h
                boxes.append([cx - s * w / 2, cy - s * h / 2, cx + s * w / 2, cy + s * h / 2])
            _, conf = pred.predict(img, boxes)
            pos += conf.mean(1).tolist()
    from detection import backgrounds  # the same photographs without people, 1280 x 720
    neg = []
    imgs = backgrounds()
    for k in range(a.negatives):
        img = imgs[k % len(imgs)]
        hh, ww = img.shape[:2]
        side = rng.uniform(60, min(300, hh, ww))
        x, y = rng.uniform(0, ww - side), rng.uniform(0, hh - side)
        _, conf = pred.predict(img, [[x, y, x + side, y + side]])
        neg.append(float(conf.mean()))
    pos, neg = np.array(pos), np.array(neg)
    rows = {f"{t:.2f}": {"faces_kept": round(float((pos >= t).mean()), 4), "non_faces_rejected": round(float((neg < t).mean()), 4)}
            for t in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)}
    t99 = float(np.quantile(pos, 0.01))
    print(json.dumps({"model": a.model, "faces": len(pos), "non_faces": len(neg),
                      "face_score_p01_p50": [round(t99, 3), round(float(np.median(pos)), 3)],
                      "non_face_score_p50_p99": [round(float(np.median(neg)), 3), round(float(np.quantile(neg, 0.99)), 3)],
                      "threshold_keeping_99pct_faces": round(t99, 3),
                      "non_faces_rejected_there": round(float((neg < t99).mean()), 4), "by_threshold": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
