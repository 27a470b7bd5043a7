"""Landmarks on moving video against ground truth: clips made from labelled stills, scored from any tool's CSV.

    python benchmarks/video_truth.py make  --data csv:../shared/data/w300/test.csv --faces 12 --out out/vt
    python benchmarks/video_truth.py score --truth out/vt/CLIP.truth.csv --pred CLIP.csv
    python benchmarks/video_truth.py run   --data csv:../shared/data/w300/test.csv --faces 12 --out out/vt \
        [--systems facetrack_kalman,facetrack_no_smoothing,dlib_hog_68]
    python benchmarks/video_truth.py resmooth --out out/vt --smoother kalman --params move_meas=0.02,turn_meas=0.01

Clips: each labelled still face is placed on a 640 x 360 canvas and moved smoothly (translation up to 5% of the
frame, rotation up to 7 degrees, zoom up to 6%), with Gaussian sensor noise (sigma 3) and H.264 at CRF 28; one clip
with the face ~220 px wide and one ~90 px wide per still, 60 frames at 25 fps. The 68 true points of every frame
are written beside the clip (``CLIP.truth.csv``: ``frame,x0,y0,...``).

Scoring reads a CSV with ``frame`` and ``x0,y0,...,x67,y67`` columns (facetrack's CSV, or any tool's written that
way) and needs neither facetrack nor the clip: per frame the predicted face nearest the true one (centres within
half the face's size) is scored. ``cover``: frames with such a face; NME: mean error over the outer-eye-corner
distance (36, 45); NMF: the RMS over points of the frame-to-frame change of the error, over that distance, x100
(pipnet_model.metrics.nmf), over consecutive covered frames. ``run`` makes the clips, runs ``facetrack batch`` with
the Kalman smoother and without smoothing, and dlib's HOG + 68-point predictor per frame, and prints one JSON
object with every system's totals (overall and by face size). ``resmooth`` applies a smoother (with noise
settings from ``--params``) to the unsmoothed CSVs a ``run`` left in OUT/facetrack_no_smoothing and scores it: a
smoother's setting compared in seconds, without the model. Exact for the pipeline without the led crop (the
raw landmarks do not depend on the smoother then); with it, confirm the choice through ``run``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from facetrack.scenes import make_clip, read_points, write_points
from facetrack.scoring import pool, read_rows as read_tracks, resmooth, score_landmarks as score
from pipnet_model.datasets import load_dataset, read_image
from pipnet_model.metrics import nme_per_face
from pipnet_model.schemes import SCHEMES

ROOT = Path(__file__).resolve().parents[1]



def make_all(specs: list[str], faces: int, out: Path, sizes=(220, 90)) -> list[Path]:
    clips = []
    for spec in specs:
        ds = load_dataset(spec)
        rng = np.random.default_rng(0)
        name = Path(spec.split(":", 1)[-1]).parent.name
        for k in sorted(rng.choice(len(ds), min(faces, len(ds)), replace=False)):
            r = ds.records[k]
            for px in sizes:
                clips.append(make_clip(read_image(r), r.points, px, out / f"{name}_{k:03d}_{px}.mp4", seed=int(k) * 7 + px))
    return clips


def run_dlib(clip: Path, out_csv: Path) -> None:
    import av
    from facetrack.peers import DlibLandmarker
    dl = DlibLandmarker()
    rows = []
    with av.open(str(clip)) as c:
        for i, fr in enumerate(c.decode(video=0)):
            img = fr.to_ndarray(format="bgr24")
            boxes = dl.detect(img)
            if len(boxes):
                for lm in dl.landmarks(img, boxes):
                    rows.append([i, *np.round(lm, 3).reshape(-1)])
    write_points(out_csv, rows, 68)


def run_truth_boxes(clip: Path, out_csv: Path, predictor, refine: int = 0) -> None:
    """Diagnostic: the model alone on every frame, cropped at the true landmark box (no detector, no tracking, no
    smoothing): what the frames themselves (motion, noise, compression, size) cost against the stills."""
    import av
    from pipnet_model.geometry import landmark_box
    truth = {k: v[0] for k, v in read_points(Path(str(clip) + ".truth.csv")).items()}
    rows = []
    with av.open(str(clip)) as c:
        for i, fr in enumerate(c.decode(video=0)):
            if i not in truth:
                continue
            lm, _ = predictor.predict(fr.to_ndarray(format="bgr24"), [landmark_box(truth[i])], refine=refine)
            rows.append([i, *np.round(lm[0], 3).reshape(-1)])
    write_points(out_csv, rows, 68)


def still_nme(specs: list[str], faces: int, predictor) -> float:
    """The same faces as stills (their original images), cropped at the label box: the reference for the clips."""
    from pipnet_model.geometry import landmark_box
    errs = []
    for spec in specs:
        ds = load_dataset(spec)
        rng = np.random.default_rng(0)
        for k in sorted(rng.choice(len(ds), min(faces, len(ds)), replace=False)):
            r = ds.records[k]
            lm, _ = predictor.predict(read_image(r), [landmark_box(r.points)])
            errs.append(float(nme_per_face(lm, r.points[None], SCHEMES["68"])[0]))
    return round(100 * float(np.mean(errs)), 3)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["make", "score", "run", "resmooth"])
    ap.add_argument("--data", action="append", default=[])
    ap.add_argument("--faces", type=int, default=12, help="still faces per dataset (two clips each)")
    ap.add_argument("--out", default="out/video_truth")
    ap.add_argument("--truth")
    ap.add_argument("--pred")
    ap.add_argument("--model", default="default")
    ap.add_argument("--systems", default="facetrack_kalman,facetrack_no_smoothing",
                    help="comma-separated: facetrack_kalman, facetrack_kalman_points, facetrack_no_smoothing, dlib_hog_68 (needs "
                         "pip install 'facetrack[peers]'); diagnostics: truth_boxes (every frame cropped at the true "
                         "landmark box), still_label_boxes (the same faces as stills)")
    ap.add_argument("--extra", default="", help="extra arguments for facetrack track, e.g. '--detect-every 1'")
    ap.add_argument("--smoother", default="kalman", choices=["kalman", "kalman-points"], help="resmooth: which smoother")
    ap.add_argument("--params", default="", help="resmooth: its noise settings, e.g. move_meas=0.02,face_meas=0.024")
    a = ap.parse_args()
    if a.cmd == "resmooth":
        from facetrack.smoothing import KalmanSmoother, PointKalmanSmoother
        kw = {k: float(v) for k, v in (x.split("=") for x in a.params.split(",") if x)}
        cls = KalmanSmoother if a.smoother == "kalman" else PointKalmanSmoother
        raw, per = Path(a.out) / "facetrack_no_smoothing", []
        if not raw.is_dir():
            raise SystemExit(f"no unsmoothed outputs in {raw}: run with --systems facetrack_no_smoothing first")
        for t in sorted(Path(a.out).glob("*.mp4.truth.csv")):
            stem = t.name.removesuffix(".mp4.truth.csv")
            rows = read_tracks(raw / f"{stem}.csv") if (raw / f"{stem}.csv").is_file() else []
            per.append({"clip": f"{stem}.mp4", **score(resmooth(rows, lambda: cls(**kw)), t)})
        print(json.dumps({"smoother": a.smoother, "params": kw, **pool(per),
                          "by_size": {px: pool([q for q in per if q["clip"].endswith(f"_{px}.mp4")]) for px in (220, 90)}}))
        return 0
    if a.cmd == "score":
        s = score(Path(a.pred), Path(a.truth))
        print(json.dumps({k: v for k, v in s.items() if not k.startswith("_")}))
        return 0
    out = Path(a.out)
    clips = make_all(a.data, a.faces, out)
    if a.cmd == "make":
        print(json.dumps({"clips": [str(c) for c in clips]}))
        return 0
    wanted = a.systems.split(",")
    systems = {k: v for k, v in (("facetrack_kalman", ["--smoother", "kalman"]),
                                 ("facetrack_kalman_points", ["--smoother", "kalman-points"]),
                                 ("facetrack_no_smoothing", ["--smoother", "none"])) if k in wanted}
    res: dict = {"data": a.data, "model": a.model, "clips": len(clips), "extra": a.extra, "systems": {}}
    for name, args in systems.items():
        t0 = time.time()
        res_dir = out / name  # one `facetrack batch` over the clips: the model loads once
        r = subprocess.run([sys.executable, "-m", "facetrack", "batch", *map(str, clips), "--out", str(res_dir), "--csv",
                            "--workers", "1", "--quiet", "--model", a.model, *args, *a.extra.split()],
                           capture_output=True, text=True, cwd=ROOT, env=os.environ)
        if r.returncode:  # batch says why per video in its manifest (stderr is empty with --quiet)
            failed = [ln for ln in (res_dir / "manifest.jsonl").read_text().splitlines() if '"failed"' in ln] \
                if (res_dir / "manifest.jsonl").is_file() else []
            raise SystemExit(f"facetrack batch failed ({name}): {r.stderr[-800:] or r.stdout[-400:]}"
                             + "".join(f"\n  {ln[:300]}" for ln in failed[:5]))
        per = [{"clip": c.name, **score(res_dir / f"{c.stem}.csv", Path(str(c) + ".truth.csv"))} for c in clips]
        res["systems"][name] = {**pool(per), "seconds": round(time.time() - t0, 1),
                                "by_size": {px: pool([q for q in per if q["clip"].endswith(f"_{px}.mp4")])
                                            for px in (220, 90)}}
        print(name, res["systems"][name], file=sys.stderr, flush=True)
    if "truth_boxes" in wanted or "still_label_boxes" in wanted:
        from facetrack.landmarks import LandmarkPredictor
        lp = LandmarkPredictor(a.model, "cpu")
        if "still_label_boxes" in wanted:
            res["systems"]["still_label_boxes"] = {"nme_pct": still_nme(a.data, a.faces, lp)}
            print("still_label_boxes", res["systems"]["still_label_boxes"], file=sys.stderr, flush=True)
        if "truth_boxes" in wanted:
            per, t0 = [], time.time()
            for c in clips:
                p = out / "truth_boxes" / f"{c.stem}.csv"
                p.parent.mkdir(parents=True, exist_ok=True)
                run_truth_boxes(c, p, lp)
                per.append({"clip": c.name, **score(p, Path(str(c) + ".truth.csv"))})
            res["systems"]["truth_boxes"] = {**pool(per), "seconds": round(time.time() - t0, 1),
                                             "by_size": {px: pool([q for q in per if q["clip"].endswith(f"_{px}.mp4")])
                                                         for px in (220, 90)}}
            print("truth_boxes", res["systems"]["truth_boxes"], file=sys.stderr, flush=True)
    if "dlib_hog_68" in wanted:
        per, t0 = [], time.time()
        for c in clips:
            p = out / f"{c.stem}.dlib.csv"
            run_dlib(c, p)
            per.append({"clip": c.name, **score(p, Path(str(c) + ".truth.csv"))})
        res["systems"]["dlib_hog_68"] = {**pool(per), "seconds": round(time.time() - t0, 1),
                                         "by_size": {px: pool([q for q in per if q["clip"].endswith(f"_{px}.mp4")])
                                                     for px in (220, 90)}}
        print("dlib_hog_68", res["systems"]["dlib_hog_68"], file=sys.stderr, flush=True)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
