"""Two installs of facetrack side by side, whole process, as a user runs them: `facetrack track CLIP --csv` with
each install's own `facetrack` command, interleaved runs (medians), on each clip; and how far apart their
landmarks are (same frames, same track ids).

    python benchmarks/install_ab.py --exe dev=.venv/bin/facetrack --exe lean=/tmp/lean/bin/facetrack \
        ../shared/videos/*.mp4 --runs 3
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def run(exe: str, clip: str, out: Path) -> tuple[float, dict]:
    t = time.perf_counter()
    r = subprocess.run([exe, "track", clip, "--csv", str(out), "--quiet"], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{exe} failed on {clip}: {r.stderr[-500:]}")
    return wall, json.loads(r.stdout.strip().splitlines()[-1])


def landmarks(path: Path) -> dict:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {(r["frame"], r["track_id"]): np.array([[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(68)])
            for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--exe", action="append", required=True, help="NAME=PATH of a facetrack command")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    exes = dict(e.split("=", 1) for e in a.exe)
    out = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "runs": a.runs, "clips": {}}
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        for clip in a.clips:
            for n, e in exes.items():  # caches filled and files read once before timing
                run(e, clip, td / f"{n}.csv")
            walls = {n: [] for n in exes}
            frames = {}
            for r in range(a.runs):
                for n in (list(exes) if r % 2 == 0 else list(exes)[::-1]):
                    w, s = run(exes[n], clip, td / f"{n}.csv")
                    walls[n].append(w)
                    frames[n] = s["frames"]
            lms = {n: landmarks(td / f"{n}.csv") for n in exes}
            names = list(exes)
            a0, a1 = lms[names[0]], lms[names[-1]]
            common = sorted(set(a0) & set(a1))
            d = np.array([np.abs(a0[k] - a1[k]).max() for k in common]) if common else np.zeros(0)
            fps = {n: frames[n] / statistics.median(walls[n]) for n in exes}
            out["clips"][Path(clip).name] = {
                "frames": frames, "median_wall_s": {n: round(statistics.median(w), 3) for n, w in walls.items()},
                "fps_whole_process": {n: round(v, 2) for n, v in fps.items()},
                f"{names[-1]}_over_{names[0]}": round(fps[names[-1]] / fps[names[0]], 3),
                "faces": {n: len(v) for n, v in lms.items()}, "faces_in_both": len(common),
                "max_landmark_diff_px": round(float(d.max()), 4) if len(d) else None}
            print(json.dumps({Path(clip).name: out["clips"][Path(clip).name]}), file=sys.stderr)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
