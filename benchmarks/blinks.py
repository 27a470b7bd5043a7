"""Blink events: facetrack's per-track blink flag against MediaPipe Face Landmarker's eyeBlinkLeft/Right
blendshapes on the same frames (the franck talking-face clip by default).

A MediaPipe blink is a run of frames where the mean of eyeBlinkLeft and eyeBlinkRight is >= --mp-threshold; a
facetrack blink a run of frames with ``blink`` = 1 (its CSV). Events match when their runs overlap or their starts
are within --tolerance frames; precision and recall are taken against MediaPipe's events (a peer, not ground truth).

    python benchmarks/blinks.py [VIDEO] [--json out.json]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end inclusive) of each run of True."""
    out, start = [], None
    for i, f in enumerate(flags):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


def match(a: list[tuple[int, int]], b: list[tuple[int, int]], tol: int) -> int:
    """Events of ``a`` with a partner in ``b`` (overlap, or starts within ``tol`` frames); each b used once."""
    used, hit = set(), 0
    for s, e in a:
        for k, (s2, e2) in enumerate(b):
            if k not in used and (min(e, e2) >= max(s, s2) or abs(s - s2) <= tol):
                used.add(k)
                hit += 1
                break
    return hit


def mediapipe_blinks(video: str, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: mean of eyeBlinkLeft/Right, and jawOpen, of the largest face (NaN without a face)."""
    import av
    from facetrack.peers import MediaPipeLandmarker
    lm = MediaPipeLandmarker(task, num_faces=1, blendshapes=True)
    vals, jaw = [], []
    with av.open(video) as c:
        for i, fr in enumerate(c.decode(video=0)):
            r = lm.detect(fr.to_ndarray(format="bgr24"), i * 0.04)
            if r.face_blendshapes:
                d = {b.category_name: b.score for b in r.face_blendshapes[0]}
                vals.append((d["eyeBlinkLeft"] + d["eyeBlinkRight"]) / 2)
                jaw.append(d["jawOpen"])
            else:
                vals.append(np.nan)
                jaw.append(np.nan)
    lm.close()
    return np.array(vals), np.array(jaw)


def facetrack_blinks(video: str, n: int, smoother: str = "kalman") -> tuple[np.ndarray, np.ndarray, dict]:
    """Per frame: the blink flag and mouth openness of facetrack's first track on the frame (NaN without)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "f.csv"
        r = subprocess.run([sys.executable, "-m", "facetrack", "track", video, "--csv", str(out), "--quiet",
                            "--smoother", smoother],
                           capture_output=True, text=True, cwd=ROOT, env=os.environ)
        if r.returncode:
            raise SystemExit(r.stderr[-800:])
        flags, mouth = np.zeros(n, bool), np.full(n, np.nan)
        for row in csv.DictReader(open(out)):
            i = int(row["frame"])
            if i < n and np.isnan(mouth[i]):
                mouth[i] = float(row["mouth_open"])
            if row["blink"] == "1":
                flags[i] = True
        return flags, mouth, json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", default=str(ROOT.parent / "shared" / "videos" / "franck_talking_face_360x288.mp4"))
    ap.add_argument("--task", default=str(ROOT.parent / "shared" / "models" / "face_landmarker.task"))
    ap.add_argument("--mp-threshold", type=float, default=0.5)
    ap.add_argument("--tolerance", type=int, default=3)
    ap.add_argument("--smoothers", default="kalman",
                    help="comma-separated facetrack smoothers to compare (kalman, kalman-points, one-euro, none)")
    ap.add_argument("--json")
    a = ap.parse_args()
    mpv, jaw = mediapipe_blinks(a.video, a.task)
    mp_ev = runs(np.nan_to_num(mpv) >= a.mp_threshold)
    res = {"video": a.video, "frames": len(mpv), "mediapipe_frames_with_face": int(np.isfinite(mpv).sum()),
           "mediapipe_blinks": len(mp_ev), "mp_threshold": a.mp_threshold, "tolerance_frames": a.tolerance}
    for sm in a.smoothers.split(","):
        ft, mouth, summary = facetrack_blinks(a.video, len(mpv), sm)
        ft_ev = runs(ft)
        both = np.isfinite(mouth) & np.isfinite(jaw)
        got = {"facetrack_blinks": len(ft_ev), "facetrack_blinks_summary": summary.get("blinks"),
               "recall_vs_mediapipe": round(match(mp_ev, ft_ev, a.tolerance) / max(len(mp_ev), 1), 3),
               "precision_vs_mediapipe": round(match(ft_ev, mp_ev, a.tolerance) / max(len(ft_ev), 1), 3),
               # how well the mouth's opening follows speech: correlation with MediaPipe's jawOpen per frame
               "mouth_open_corr_jawOpen": round(float(np.corrcoef(mouth[both], jaw[both])[0, 1]), 3)}
        if len(a.smoothers.split(",")) == 1:
            res.update(got)
        else:
            res.setdefault("smoothers", {})[sm] = got
    print(json.dumps(res, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
