"""Accuracy of facetrack's model vs dlib's 68-point predictor on a labelled set, same images, one run.

    python benchmarks/accuracy_peers.py --data csv:../shared/data/ytf68/test.csv --model default [--plot ced.png]

Protocols (all on the same faces):
  * facetrack, GT boxes: crops from the labelled landmarks (the reference evaluation protocol);
  * dlib, own HOG boxes: dlib's detector (upsample 1); a face counts as found when a detection's centre lies
    within 30% of the face size from the labelled face's centre; NME over found faces;
  * facetrack, dlib's HOG boxes: the same detections adapted to facetrack's box convention (median scale and
    shift measured on the training set, printed below) - an end-to-end comparison with identical boxes;
  * facetrack, Haar boxes: facetrack's own fallback detector, faces it finds.
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


from facetrack.detectors import BoxAdapter
from facetrack.detectors.opencv import HaarDetector
from facetrack.evaluate import match
from facetrack.landmarks import LandmarkPredictor
from facetrack.peers import DlibLandmarker
from pipnet_model.datasets import load_dataset, read_image
from pipnet_model.evaluation import evaluate
from pipnet_model.metrics import ced_plot, nme_per_face, summary


def adapter_from(boxes_and_gts) -> BoxAdapter:
    s, dy = [], []
    for b, gt in boxes_and_gts:
        w, h = b[2] - b[0], b[3] - b[1]
        s.append(max(np.ptp(gt[:, 0]), np.ptp(gt[:, 1])) / max(w, h))
        dy.append(((gt[:, 1].min() + gt[:, 1].max()) / 2 - (b[1] + b[3]) / 2) / h)
    return BoxAdapter(float(np.median(s)), float(np.median(dy)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="csv:../shared/data/ytf68/test.csv")
    ap.add_argument("--calib", default="csv:../shared/data/ytf68/train.csv", help="set to fit dlib-box adapter on")
    ap.add_argument("--model", default="default")
    ap.add_argument("--calib-n", type=int, default=600, help="faces of --calib used to fit the dlib-box adapter")
    ap.add_argument("--backend", default="torch", help="facetrack's engine (torch = fp32 reference)")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--plot")
    a = ap.parse_args()
    ds = load_dataset(a.data)
    out: dict = {"data": a.data, "model": a.model, "faces": len(ds)}

    t = time.perf_counter()
    pred = LandmarkPredictor(a.model, "cpu", backend=a.backend, precision=a.precision)
    out["facetrack_engine"] = f"{pred.backend} {pred.precision}"
    nm_ft, _ = evaluate(pred.meta, ds, pred.predict_crops)
    out["facetrack_gt_boxes"] = summary(nm_ft) | {"seconds": time.perf_counter() - t}

    dl = DlibLandmarker()
    calib = load_dataset(a.calib)
    rng = np.random.default_rng(0)
    pairs = []
    for i in rng.choice(len(calib), min(a.calib_n, len(calib)), replace=False):
        r = calib.records[i]
        b = match(dl.detect(read_image(r)), r.points)
        if b is not None:
            pairs.append((b, r.points))
    dlib_adapter = adapter_from(pairs)
    out["dlib_box_adapter"] = {"scale": dlib_adapter.scale, "shift": dlib_adapter.shift}

    haar = HaarDetector()
    pred_dlibbox = LandmarkPredictor(a.model, "cpu", box_adapter=dlib_adapter, backend=a.backend, precision=a.precision)
    pred_haar = LandmarkPredictor(a.model, "cpu", box_adapter=haar.box_adapter, backend=a.backend, precision=a.precision)
    e_dlib, e_ft_dlibbox, e_ft_refined, e_haar, idx_dlib = [], [], [], [], []
    t_dlib = t_ft = 0.0
    for i, r in enumerate(ds.records):
        img = read_image(r)
        t0 = time.perf_counter()
        b = match(dl.detect(img), r.points)
        if b is not None:
            lm = dl.landmarks(img, b[None])
            t_dlib += time.perf_counter() - t0
            e_dlib.append(nme_per_face(lm, r.points[None], ds.scheme)[0])
            idx_dlib.append(i)
            t0 = time.perf_counter()
            lm2, _ = pred_dlibbox.predict(img, b[None])
            t_ft += time.perf_counter() - t0
            e_ft_dlibbox.append(nme_per_face(lm2, r.points[None], ds.scheme)[0])
            lm4, _ = pred_dlibbox.predict(img, b[None], refine=2)  # facetrack predict's default
            e_ft_refined.append(nme_per_face(lm4, r.points[None], ds.scheme)[0])
        hb = match(np.array([d.box for d in haar.detect(img)]).reshape(-1, 4), r.points)
        if hb is not None:
            lm3, _ = pred_haar.predict(img, hb[None])
            e_haar.append(nme_per_face(lm3, r.points[None], ds.scheme)[0])
    out["dlib_own_hog_boxes"] = summary(np.array(e_dlib)) | {"found": len(e_dlib), "landmark_seconds_incl_detect": t_dlib}
    out["facetrack_on_dlib_hog_boxes"] = summary(np.array(e_ft_dlibbox)) | {"found": len(e_ft_dlibbox),
                                                                             "landmark_seconds": t_ft}
    out["facetrack_on_dlib_hog_boxes_refine2"] = summary(np.array(e_ft_refined))
    out["facetrack_gt_boxes_on_dlib_found_faces"] = summary(nm_ft[idx_dlib])
    out["facetrack_on_haar_boxes"] = summary(np.array(e_haar)) | {"found": len(e_haar)}
    out["ratio_nme_dlib_over_facetrack_same_boxes"] = out["dlib_own_hog_boxes"]["nme"] / out["facetrack_on_dlib_hog_boxes"]["nme"]
    if a.plot:
        ced_plot({"facetrack (GT boxes)": nm_ft, "facetrack (dlib HOG boxes, refine 2)": np.array(e_ft_refined),
                  "dlib 68 (own HOG boxes)": np.array(e_dlib)}, a.plot, title=f"CED on {Path(a.data.split(':', 1)[-1]).name}")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
