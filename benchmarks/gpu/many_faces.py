"""One 1920x1080 frame holding many faces (the astronaut photograph's face tiled at several sizes): time of the
landmark stage per frame on each device and precision (crops, network, decode), and faces/s.

    python benchmarks/gpu/many_faces.py --faces 48 --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import cv2
import numpy as np
import torch


def many_face_frame(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from facetrack.samples import FACE_BOX_IN_PATCH, PATCH_BOX, astronaut_bgr
    img = astronaut_bgr()
    x0, y0, x1, y1 = PATCH_BOX
    patch = img[y0:y1, x0:x1]
    fb = np.array(FACE_BOX_IN_PATCH, np.float64)
    cols = int(np.ceil(np.sqrt(n * 16 / 9)))
    rows = int(np.ceil(n / cols))
    cw, ch = 1920 // cols, 1080 // rows
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    rng = np.random.default_rng(seed)
    boxes = []
    for k in range(n):
        r, c = divmod(k, cols)
        s = min(cw / patch.shape[1], ch / patch.shape[0]) * rng.uniform(0.6, 1.0)
        p = cv2.resize(patch, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        ox, oy = c * cw + (cw - p.shape[1]) // 2, r * ch + (ch - p.shape[0]) // 2
        frame[oy:oy + p.shape[0], ox:ox + p.shape[1]] = p
        boxes.append(fb * s + [ox, oy, ox, oy])
    return frame, np.array(boxes)


def time_stage(pred, frame, boxes, seconds: float) -> dict:
    pred.predict(frame, boxes)
    for k in pred.timings:
        pred.timings[k] = 0
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds or n < 3:
        pred.predict(frame, boxes)
        n += 1
    dt = (time.perf_counter() - t) / n
    tm = pred.timings
    return {"ms_per_frame": round(dt * 1e3, 2), "faces_per_s": round(len(boxes) / dt, 1),
            "crop_ms": round(tm["crop"] / n * 1e3, 2), "network_ms": round(tm["network"] / n * 1e3, 2),
            "decode_ms": round(tm["decode_nrm"] / n * 1e3, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=48)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    from facetrack import LandmarkPredictor
    frame, boxes = many_face_frame(a.faces)
    runs = [("cpu", "torch", "fp32")]
    if torch.cuda.is_available():
        runs += [("cuda", "torch", p) for p in ("fp32", "fp16", "bf16")]
    out = {"faces": a.faces, "frame": "1920x1080", "cpu_threads": torch.get_num_threads(),
           "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None, "rows": []}
    ref = None
    for dev, backend, prec in runs:
        p = LandmarkPredictor("default", device=dev, backend=backend, precision=prec)
        row = {"device": dev, "backend": backend, "precision": prec, **time_stage(p, frame, boxes, a.seconds)}
        lm, _ = p.predict(frame, boxes)
        if ref is None:
            ref = lm
        row["mean_px_from_cpu_fp32"] = round(float(np.linalg.norm(lm - ref, axis=-1).mean()), 4)
        out["rows"].append(row)
        print(json.dumps(row), file=sys.stderr)
    if a.json:
        open(a.json, "w").write(json.dumps(out, indent=1))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
