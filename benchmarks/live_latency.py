"""Latency of a live source that runs faster than the pipeline, measured from outside and inside.

    python benchmarks/live_latency.py --clip ../shared/videos/franck_talking_face_360x288.mp4 --frames 1000 \
        --speeds 1,2,4,8 [--code-dir /path/to/another/checkout]

The first --frames frames of the clip are cut into a temporary file, then played as a camera by ffmpeg's
``realtime`` filter (``lavfi:movie=CLIP,setpts=PTS/SPEED,realtime``: SPEED x its frame rate) into
``facetrack camera --headless --csv``. Outside: this process watches the CSV (rows are flushed per frame) and
takes, for each frame, the moment its row appeared minus the moment the source delivered it (its timestamp after
``setpts``, counted from the first frame); reported above the best frame (the smallest such delay: the constant
start-up offset between the two clocks cancels). Inside: the summary's ``latency_ms`` (delivery to result) and
``dropped_frames``. ``--code-dir`` runs another checkout's code in the same way (e.g. the version before this
policy), interleaved with this one. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def cut(clip: str, frames: int, out: Path) -> Path:
    from facetrack.video import VideoSource, VideoWriter
    with VideoSource(clip) as src:
        w = None
        for vf in src:
            if vf.index >= frames:
                break
            if w is None:
                w = VideoWriter(out, src.info.fps, vf.image.shape[1], vf.image.shape[0], crf=18)
            w.write(vf.image, vf.time_s)
        w.close()
    return out


def run_once(code_dir: Path, clip: Path, speed: float, csv: Path) -> dict:
    src = f"lavfi:movie={clip},setpts=PTS/{speed:g},realtime"
    cmd = [sys.executable, "-m", "facetrack", "camera", "--headless", "--source", src, "--csv", str(csv)]
    # that checkout's library and its CLI (the package facetrack_cli lives in its cli/ folder)
    shim = csv.parent / f"shim_{abs(hash(str(code_dir)))}"
    shim.mkdir(exist_ok=True)
    if not (shim / "facetrack_cli").exists():
        (shim / "facetrack_cli").symlink_to(code_dir / "cli")
    env = {**os.environ, "PYTHONPATH": f"{code_dir}{os.pathsep}{shim}"}
    p = subprocess.Popen(cmd, cwd=code_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: dict[int, float] = {}
    times: dict[int, float] = {}
    pos, buf = 0, ""
    while p.poll() is None:
        if csv.exists():
            with open(csv) as f:
                f.seek(pos)
                chunk = f.read()
                pos = f.tell()
            now = time.monotonic()
            buf += chunk
            *lines, buf = buf.split("\n")
            for ln in lines:
                if ln and not ln.startswith("frame"):
                    fr, t = ln.split(",", 2)[:2]
                    seen.setdefault(int(fr), now)
                    times[int(fr)] = float(t)
        time.sleep(0.002)
    out, err = p.communicate()
    if p.returncode:
        raise SystemExit(f"{cmd} failed: {err[-800:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    d = np.array([seen[k] - times[k] for k in sorted(seen)])
    d -= d.min()
    return {"frames_out": summary["frames"], "dropped": summary.get("dropped_frames"),
            "inside_latency_ms": summary.get("latency_ms"),
            "outside_delay_above_best_ms": {"p50": round(float(np.percentile(d, 50)) * 1000, 1),
                                            "p95": round(float(np.percentile(d, 95)) * 1000, 1),
                                            "max": round(float(d.max()) * 1000, 1)},
            "rows_seen": len(seen)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default=str(ROOT.parent / "shared/videos/franck_talking_face_360x288.mp4"))
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--speeds", default="1,2,4,8")
    ap.add_argument("--code-dir", action="append", default=[], help="another checkout to run the same way")
    a = ap.parse_args()
    dirs = [ROOT] + [Path(d).resolve() for d in a.code_dir]
    res: dict = {"clip": a.clip, "frames": a.frames, "runs": {}}
    with tempfile.TemporaryDirectory() as td:
        clip = cut(a.clip, a.frames, Path(td) / "clip.mp4")
        for speed in [float(s) for s in a.speeds.split(",")]:
            for d in dirs:
                r = run_once(d, clip, speed, Path(td) / "o.csv")
                res["runs"].setdefault(f"{speed:g}x", {})[str(d)] = r
                print(f"{speed:g}x {d}: {r}", file=sys.stderr, flush=True)
                (Path(td) / "o.csv").unlink(missing_ok=True)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
