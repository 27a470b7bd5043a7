"""Per-frame times of FaceTracker.update on one device (the GPU lease's question: is the CUDA landmark stage in the
pipeline slow in steady state or only in its first frames?). Frames decoded first; two passes over the clip with
one tracker (reset between them: the second pass starts warm), the predictor's network time per frame reported per pass.

    python benchmarks/gpu/frame_times.py CLIP --device cuda --detector truth --detector-model CLIP.json
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from facetrack.bench import read_frames
from facetrack.pipeline import FaceTracker, TrackOptions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--detector", default="truth")
    ap.add_argument("--detector-model")
    ap.add_argument("--frames", type=int, default=200)
    a = ap.parse_args()
    frames, _ = read_frames(a.clip, a.frames)
    ft = FaceTracker(TrackOptions(device=a.device, backend=a.backend, precision=a.precision, detector=a.detector,
                                  detector_model=a.detector_model))
    out = {"device": a.device, "precision": ft.predictor.precision, "frames": len(frames), "passes": []}
    for p in range(2):
        ft.reset()
        ts, net0 = [], ft.predictor.timings["network"]
        for img, t in frames:
            t0 = time.perf_counter()
            ft.update(img, t)
            ts.append((time.perf_counter() - t0) * 1000)
        ts = np.array(ts)
        out["passes"].append({"first5_ms": [round(x, 2) for x in ts[:5]], "median_ms": round(float(np.median(ts)), 2),
                              "median_after10_ms": round(float(np.median(ts[10:])), 2), "mean_ms": round(float(ts.mean()), 2),
                              "network_ms_per_frame": round((ft.predictor.timings["network"] - net0) / len(ts) * 1000, 2)})
    ft.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
