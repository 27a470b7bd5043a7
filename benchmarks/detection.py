"""Face detectors against face size: recall and false positives on frames built from labelled faces, and speed.

    python benchmarks/detection.py --data csv:../shared/data/w300/test.csv --data csv:../shared/data/ytf68/test.csv \
        --frames 60 --detectors mediapipe,retinaface,opencv

Frames: 1280 x 720 backgrounds from scikit-image's photographs without people (brick, grass, gravel, coffee,
rocket, page, text, coins, horse), each with three labelled faces (a soft-edged crop of 1.6x their landmark box)
pasted at random places, with the face's landmark box 20-400 px wide. A face is found when a detection's box,
adapted by that detector's own box adapter, overlaps its landmark box with IoU >= 0.3; detections matching no face
are false positives. Speed: ms per frame on the same frames shrunk to 640 x 360 and kept at 1280 x 720, and on
1920 x 1080 (upscaled). Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import cv2
import numpy as np

from facetrack.detectors import create_detector
from facetrack.scenes import backgrounds, paste
from facetrack.tracking import iou_matrix
from pipnet_model.datasets import load_dataset, read_image

SIZES = (20, 28, 40, 56, 80, 113, 160, 226, 320, 400)
W, H = 1280, 720


def make_frames(specs: list[str], n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    faces = [r for spec in specs for r in load_dataset(spec).records]
    bgs = backgrounds(W, H)
    out = []
    for i in range(n):
        frame = bgs[i % len(bgs)].copy()
        boxes, sizes = [], []
        for _ in range(3):
            size = SIZES[rng.integers(len(SIZES))] * rng.uniform(0.9, 1.1)
            for _ in range(50):  # a free place
                at = (rng.uniform(0.6 * size, W - 0.6 * size), rng.uniform(0.7 * size, H - 0.7 * size))
                cand = np.array([at[0] - size, at[1] - size, at[0] + size, at[1] + size])
                if not boxes or iou_matrix(cand, np.array(boxes)).max() == 0:
                    break
            r = faces[rng.integers(len(faces))]
            box = paste(frame, read_image(r), r.points, size, at)
            boxes.append(box)
            sizes.append(box[2] - box[0])
        out.append((frame, np.array(boxes), np.array(sizes)))
    return out


def bucket(w: float) -> str:
    for lo, hi in ((0, 32), (32, 64), (64, 128), (128, 256), (256, 1e9)):
        if lo <= w < hi:
            return f"{lo}-{hi if hi < 1e9 else ''}px"
    return "?"


def evaluate(name: str, frames, widths=(640, 1280, 1920)) -> dict:
    det = create_detector(name, min_score=0.5)
    found: dict[str, list[int]] = {}
    fp = 0
    for frame, boxes, sizes in frames:
        dets = det.detect(frame)
        adapted = det.box_adapter.boxes(dets)
        iou = iou_matrix(boxes, adapted) if len(adapted) else np.zeros((len(boxes), 0))
        for k, w in enumerate(sizes):
            found.setdefault(bucket(w), []).append(int(iou.shape[1] > 0 and iou[k].max() >= 0.3))
        fp += int((iou.max(0) < 0.3).sum()) if iou.shape[1] else 0
    speed = {}
    for w in widths:
        imgs = [cv2.resize(f, (w, w * 9 // 16), interpolation=cv2.INTER_AREA if w < W else cv2.INTER_LINEAR)
                for f, _, _ in frames[:20]]
        det.detect(imgs[0])
        t = time.perf_counter()
        for im in imgs:
            det.detect(im)
        speed[f"{w}x{w * 9 // 16}"] = round((time.perf_counter() - t) / len(imgs) * 1000, 1)
    det.close()
    order = sorted(found, key=lambda b: int(b.split("-")[0]))
    return {"recall_by_face_width": {b: {"faces": len(found[b]), "recall": round(float(np.mean(found[b])), 3)}
                                     for b in order},
            "recall": round(float(np.mean([v for b in found.values() for v in b])), 3),
            "false_positives_per_frame": round(fp / len(frames), 3), "ms_per_frame": speed}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--detectors", default="mediapipe,retinaface,opencv")
    a = ap.parse_args()
    frames = make_frames(a.data, a.frames)
    res = {"data": a.data, "frames": len(frames), "faces": 3 * len(frames), "frame_size": f"{W}x{H}",
           "detectors": {}}
    for name in a.detectors.split(","):
        res["detectors"][name] = evaluate(name, frames)
        print(name, res["detectors"][name], file=sys.stderr, flush=True)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
