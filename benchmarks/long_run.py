"""Peak memory of `facetrack track` on a long generated stream vs a short one (constant-memory check).

    python benchmarks/long_run.py --minutes 1 30 [--size 320x240]

The stream is the generated sample clip looped by ffmpeg's lavfi `movie` filter (a face in every frame), so
every stage runs (detector, landmarks, tracker, smoother, CSV writer). Each length runs in its own process;
prints peak RSS (ru_maxrss) and frames/s per length, and the ratio long/short.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 30])
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--fps", type=int, default=25)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    from facetrack.samples import ClipSpec, make_clip
    res = []
    with tempfile.TemporaryDirectory() as td:
        clip = make_clip(Path(td) / "loop.mp4", ClipSpec(width=w, height=h, seconds=8.0, fps=a.fps))
        src = f"lavfi:movie={clip}:loop=0,setpts=N/({a.fps}*TB)"
        for m in a.minutes:
            n = int(m * 60 * a.fps)
            code = ("import resource, json\nfrom facetrack.pipeline import run\nfrom facetrack.sinks import CSVSink\n"
                    f"r = run({src!r}, [CSVSink({td + '/o.csv'!r})], progress=False, max_frames={n})\n"
                    "print(json.dumps({'frames': r['frames'], 'fps': r['fps'], 'faces': r['faces'], "
                    "'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
            if r.returncode:
                print(r.stderr[-1000:], file=sys.stderr)
                return 1
            row = {"minutes": m, **json.loads(r.stdout.strip().splitlines()[-1])}
            print(json.dumps(row), flush=True)
            res.append(row)
    print(json.dumps({"peak_rss_ratio_longest_over_shortest": res[-1]["peak_rss_mb"] / res[0]["peak_rss_mb"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
