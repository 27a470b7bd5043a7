"""End-to-end speed of `facetrack track` on the shared videos: the default (int8 on OpenVINO when available),
fp32, and the default with annotated-video output.

    python benchmarks/track_speed.py [--videos ../shared/videos] [--only obama] [--repeat 5]

Each run is a fresh `facetrack track` process writing CSV (and the annotated video when asked). frames/s is
the pipeline's own figure: frames over the processing time, first frame requested to outputs closed; the
set-up before it (opening the source, loading and compiling the models, one warm-up inference) is reported
apart, with the whole process's wall time. Runs of a configuration are interleaved with the others' and the
median is reported (this VM's speed drifts by +-20% from minute to minute). Prints a markdown table and one
JSON line per run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = (("default", False, []), ("fp32", False, ["--precision", "fp32"]), ("default", True, []))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", default=str(ROOT.parent / "shared" / "videos"))
    ap.add_argument("--only", help="only videos whose name contains this")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--extra", nargs="*", default=[], help="extra arguments for facetrack track")
    a = ap.parse_args()
    vids = [v for v in sorted(Path(a.videos).glob("*.mp4")) if not a.only or a.only in v.name]
    runs: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory() as td:
        for v in vids:
            for _ in range(a.repeat):
                for name, video_out, extra in CONFIGS:
                    cmd = [sys.executable, "-m", "facetrack", "track", str(v), "--csv", f"{td}/o.csv", "--quiet",
                           *extra, *a.extra]
                    if video_out:
                        cmd += ["--out-video", f"{td}/o.mp4"]
                    t = time.perf_counter()
                    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                    wall = time.perf_counter() - t
                    if r.returncode:
                        print(r.stderr[-500:], file=sys.stderr)
                        return 1
                    s = json.loads(r.stdout.strip().splitlines()[-1])
                    s.update(video=v.name, config=name, video_out=video_out, wall_s=round(wall, 2))
                    print(json.dumps(s), flush=True)
                    runs.setdefault((v.name, name, video_out), []).append(s)
    print(f"\n| video | frames | faces | precision | annotated video | frames/s (median of {a.repeat}) | runs | "
          "set-up s | process wall s |")
    print("| --- | ---: | ---: | --- | --- | ---: | --- | ---: | ---: |")
    for (video, name, video_out), ss in runs.items():
        fps = [s["fps"] for s in ss]
        print(f"| {video} | {ss[0]['frames']} | {ss[0]['faces']} | {name} | {'yes' if video_out else 'no'} | "
              f"{statistics.median(fps):.1f} | {', '.join(f'{x:.0f}' for x in fps)} | "
              f"{statistics.median(s['setup_seconds'] for s in ss):.1f} | {statistics.median(s['wall_s'] for s in ss):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
