"""Throughput of `facetrack batch` on this machine: 1 and 2 workers, local process pool vs local Ray.

    python benchmarks/scaling.py [--clips 6] [--seconds 8]

Generates N sample clips (640x360, 25 fps), runs each configuration into a fresh output folder, and prints
videos/hour and frames/s (wall clock of the whole batch, model loading included).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from facetrack.batch import BatchOptions, run_batch
    from facetrack.pipeline import TrackOptions
    from facetrack.samples import ClipSpec, make_clip
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=8.0)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as td:
        src = Path(td) / "clips"
        src.mkdir()
        for i in range(a.clips):
            make_clip(src / f"clip{i}.mp4", ClipSpec(seconds=a.seconds, seed=i))
        for mode in ("local", "ray"):
            for workers in (1, 2):
                out = Path(td) / f"out_{mode}_{workers}"
                t = time.perf_counter()
                res = run_batch([str(src)], BatchOptions(out=str(out), workers=workers, ray="local" if mode == "ray" else None,
                                                         track=TrackOptions(device="cpu")), progress=False)
                dt = time.perf_counter() - t
                row = {"mode": mode, "workers": workers, "videos": res["done"], "frames": res["frames"],
                       "seconds": round(dt, 1), "videos_per_hour": round(res["done"] / dt * 3600, 1),
                       "frames_per_s": round(res["frames"] / dt, 1)}
                print(json.dumps(row), flush=True)
                rows.append(row)
                shutil.rmtree(out)
    print("\n| mode | workers | videos | frames | wall s | videos/hour | frames/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['mode']} | {r['workers']} | {r['videos']} | {r['frames']} | {r['seconds']} | {r['videos_per_hour']} | "
              f"{r['frames_per_s']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
