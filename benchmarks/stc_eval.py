"""Measure each STC round's model: NME on ytf68 test, NME on the three pts68 fixture faces, and the jitter of
raw (unsmoothed) landmarks on the held-back end of the franck video (frames 3000..4799).

    python benchmarks/stc_eval.py runs/stc [--franck ../shared/videos/franck_talking_face_360x288.mp4]

Jitter: mean over frames and points of |p[t+1] - 2 p[t] + p[t-1]| (the second difference, so steady
motion does not count) divided by the outer-eye-corner distance, in percent.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from facetrack.pipeline import FaceTracker
from facetrack.video import VideoSource
from pipnet_model import load_model
from pipnet_model.datasets import load_dataset
from pipnet_model.inference import evaluate
from pipnet_model.metrics import summary


def jitter(model_path: str, video: str, start: int, stop: int) -> dict:
    ft = FaceTracker(model=model_path, device="cpu", smoother="none", max_faces=1)
    seq = []
    with VideoSource(video) as s:
        for vf in s:
            if vf.index >= stop:
                break
            if vf.index < start - 1:
                continue
            r = ft.update(vf.image, vf.time_s)
            seq.append(r.faces[0].landmarks if r.faces else None)
    ft.close()
    vals = []
    for a, b, c in zip(seq, seq[1:], seq[2:]):
        if a is None or b is None or c is None:
            continue
        iod = np.linalg.norm(b[36] - b[45])
        vals.append(np.linalg.norm(c - 2 * b + a, axis=1).mean() / iod)
    return {"jitter_pct": float(np.mean(vals) * 100), "frames": len(seq), "frames_with_face": sum(x is not None for x in seq)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("stc_dir")
    ap.add_argument("--franck", default=str(ROOT.parent / "shared/videos/franck_talking_face_360x288.mp4"))
    ap.add_argument("--test", default=f"csv:{ROOT.parent / 'shared/data/ytf68/test.csv'}")
    ap.add_argument("--pts", default=f"pts:{ROOT.parent / 'shared/data/formats/pts68'}")
    a = ap.parse_args()
    m = json.loads((Path(a.stc_dir) / "metrics.json").read_text())
    test, pts = load_dataset(a.test), load_dataset(a.pts)
    rows = []
    for r in m["rounds"]:
        model = load_model(r["model"])
        row = {"round": r["round"], "task": r["task"], "train_seconds": r["seconds"],
               "ytf68_test": summary(evaluate(model, test, device="cpu")[0]),
               "pts68": summary(evaluate(model, pts, device="cpu")[0]), **jitter(r["model"], a.franck, 3000, 4800)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("\n| round | task | ytf68 test NME % | FR@0.1 % | pts68 NME % | franck jitter % | train s |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['round']} | {r['task']} | {r['ytf68_test']['nme'] * 100:.2f} | {r['ytf68_test']['fr'] * 100:.2f} | "
              f"{r['pts68']['nme'] * 100:.2f} | {r['jitter_pct']:.3f} | {r['train_seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
