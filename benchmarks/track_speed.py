"""End-to-end speed of `facetrack track` on the shared videos, with and without annotated-video output.

    python benchmarks/track_speed.py [--videos ../shared/videos] [--repeat 1]

Each run is a fresh `facetrack track` process writing CSV (and the annotated video when asked); the reported
frames/s is the pipeline's own (source opened to outputs closed, model loading excluded), plus wall seconds
of the whole process. Prints a markdown table and one JSON line per run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", default=str(ROOT.parent / "shared" / "videos"))
    ap.add_argument("--extra", nargs="*", default=[], help="extra arguments for facetrack track")
    a = ap.parse_args()
    vids = sorted(Path(a.videos).glob("*.mp4"))
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for v in vids:
            for video_out in (False, True):
                cmd = [sys.executable, "-m", "facetrack", "track", str(v), "--csv", f"{td}/o.csv", "--quiet", *a.extra]
                if video_out:
                    cmd += ["--out-video", f"{td}/o.mp4"]
                t = time.perf_counter()
                r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                wall = time.perf_counter() - t
                if r.returncode:
                    print(r.stderr[-500:], file=sys.stderr)
                    return 1
                s = json.loads(r.stdout.strip().splitlines()[-1])
                s.update(video=v.name, video_out=video_out, wall_s=round(wall, 2))
                print(json.dumps(s), flush=True)
                rows.append(s)
    print("\n| video | frames | faces | annotated video | pipeline frames/s | process wall s |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for s in rows:
        print(f"| {s['video']} | {s['frames']} | {s['faces']} | {'yes' if s['video_out'] else 'no'} | "
              f"{s['fps']:.1f} | {s['wall_s']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
