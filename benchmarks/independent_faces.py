"""Accuracy on annotations the model was not tuned to: AFLW2000-3D's held-out half, facetrack and dlib on the same faces.

    python benchmarks/independent_faces.py [--model default --model NAME=OTHER.safetensors] [--json OUT.json]

Faces: the held-out half of ``../shared/data/aflw2000`` (the images whose angles are all within 99 degrees, sorted
by name, every second one from the second on: the half benchmarks/pose_fit.py never fits on, and the one the
default model's last stage does not train on; it trains on the other half's inner points, docs/accuracy.md). Labels read as pipnet_model.datasets converts them (``--offset DX,DY`` to read them otherwise, e.g. 0
for the file's own numbers). Points: the 51 inner ones (brows, nose, eyes, mouth: AFLW2000-3D draws the jaw on the
3D face's outline, not on the visible cheek).

Systems, each on its own path as a user runs it: facetrack as ``facetrack predict`` (the default detector, the box
adapter, two upright re-crops; int8 unless --precision), dlib's 68-point predictor on its own HOG boxes (the
``peers`` extra). Figures are on the faces every system finds. Per subset (|yaw| <= 30 degrees; all poses):
NME (inner points; normalised by the outer eye corners for the frontal subset, by sqrt(label box area) for all
poses, where the eye distance shrinks with yaw), and the mean displacement prediction - label in x (to the image's
right) and y (down) in percent of that normaliser, overall and per point group. Head yaw MAE of facetrack's pose
(calibrated PnP, as the CSV's yaw) beside it.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from pose_fit import load_aflw, split  # the held-out half is defined once, there (benchmarks/ is on the path)

from facetrack.detectors import create_detector
from facetrack.evaluate import match
from facetrack.landmarks import LandmarkPredictor
from pipnet_model.datasets import load_dataset, read_image

ROOT = Path(__file__).resolve().parents[1]

GROUPS = {"brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48), "mouth": range(48, 68)}
INNER = np.arange(17, 68)
DATA = ROOT.parent / "shared" / "data" / "aflw2000"


def held_out(folder: Path = DATA, offset: str | None = None):
    """(records, yaw degrees) of the held-out half, in name order."""
    names, _, pose = load_aflw(folder)
    spec = f"csv:{folder / 'landmarks.csv'}" + (f"?offset={offset}" if offset is not None else "")
    recs = {Path(r.image).name: r for r in load_dataset(spec).records}
    names = split(names)[1]
    return [recs[n] for n in names], np.array([pose[n][0] for n in names])


def scores(pred: np.ndarray, gt: np.ndarray, frontal: bool) -> dict:
    """NME and displacement (percent of the normaliser) over the inner points, per face averaged."""
    if frontal:
        norm = np.linalg.norm(gt[:, 36] - gt[:, 45], axis=-1)
    else:
        norm = np.sqrt(np.ptp(gt[..., 0], 1) * np.ptp(gt[..., 1], 1))
    d = (pred - gt) / norm[:, None, None]
    out = {"faces": int(len(gt)), "nme": 100 * float(np.linalg.norm(d[:, INNER], axis=-1).mean()),
           "dx": 100 * float(d[:, INNER, 0].mean()), "dy": 100 * float(d[:, INNER, 1].mean())}
    for g, idx in GROUPS.items():
        out[g] = [round(100 * float(d[:, list(idx), k].mean()), 2) for k in (0, 1)]
    return out


def run_facetrack(model: str, precision: str, recs) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks (NaN where no face) and calibrated yaw, as `facetrack predict` makes them."""
    from facetrack.pose import HeadPose
    lp = LandmarkPredictor(model, "cpu", precision=precision)
    det = create_detector("fallback", model_path=os.environ.get("FACETRACK_DETECTOR_MODEL"), min_score=0.3)
    pose = HeadPose()
    out = np.full((len(recs), 68, 2), np.nan)
    yaw = np.full(len(recs), np.nan)
    try:
        for i, r in enumerate(recs):
            img = read_image(r)
            b = match(np.array([d.box for d in det.detect(img)]).reshape(-1, 4), r.points)
            if b is None:
                continue
            lm, _ = lp.predict(img, det.box_adapter(b)[None], refine=2)
            out[i] = lm[0]
            angles, _ = pose.solve(lm[0], (img.shape[1], img.shape[0]))
            yaw[i] = angles[0] if angles else np.nan
    finally:
        det.close()
    return out, yaw


def run_dlib(recs) -> np.ndarray:
    from facetrack.peers import DlibLandmarker
    dl = DlibLandmarker()
    out = np.full((len(recs), 68, 2), np.nan)
    for i, r in enumerate(recs):
        img = read_image(r)
        b = match(dl.detect(img), r.points)
        if b is not None:
            out[i] = dl.landmarks(img, b[None])[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", default=[], help="[NAME=]MODEL (default: the default model)")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--no-dlib", action="store_true")
    ap.add_argument("--offset", help="read the labels with this offset (DX[,DY] pixels) instead of their convention")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    recs, yaw = held_out(offset=a.offset)
    gt = np.stack([r.points for r in recs]).astype(np.float64)
    systems, yaws = {}, {}
    for m in a.model or ["default"]:
        name, _, path = m.rpartition("=")
        systems[name or Path(path).stem], yaws[name or Path(path).stem] = run_facetrack(path, a.precision, recs)
    if not a.no_dlib:
        systems["dlib"] = run_dlib(recs)
    found = np.all([np.isfinite(p[:, 0, 0]) for p in systems.values()], 0)
    res: dict = {"faces": len(recs), "found_by_all": int(found.sum()),
                 "found": {k: int(np.isfinite(p[:, 0, 0]).sum()) for k, p in systems.items()}, "subsets": {}}
    for subset, keep in (("yaw<=30", np.abs(yaw) <= 30), ("all", np.ones(len(recs), bool))):
        k = keep & found
        res["subsets"][subset] = {n: scores(p[k], gt[k], subset != "all") for n, p in systems.items()}
        for n, y in yaws.items():
            res["subsets"][subset][n]["yaw_mae"] = float(np.nanmean(np.abs(y[k] - yaw[k])))
    print(f"AFLW2000-3D held-out half: {len(recs)} faces, found by all {found.sum()} "
          f"({', '.join(f'{k} {v}' for k, v in res['found'].items())})")
    for subset, rows in res["subsets"].items():
        norm = "inter-ocular" if subset != "all" else "sqrt(box area)"
        print(f"\n{subset} ({next(iter(rows.values()))['faces']} faces), inner 51 points, % of {norm}; "
              "displacement = prediction - label (x right, y down)")
        print(f"{'system':<14} {'NME':>6} {'dx':>6} {'dy':>6}  " + "  ".join(f"{g + ' dx/dy':>14}" for g in GROUPS)
              + "  yaw MAE")
        for n, s in rows.items():
            print(f"{n:<14} {s['nme']:6.2f} {s['dx']:+6.2f} {s['dy']:+6.2f}  "
                  + "  ".join(f"{s[g][0]:+6.2f}/{s[g][1]:+6.2f}" for g in GROUPS)
                  + (f"  {s['yaw_mae']:.2f}" if "yaw_mae" in s else ""))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
