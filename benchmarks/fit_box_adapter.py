"""Fit a detector's box adapter (scale about the centre, downward shift in box heights) to the landmark-box
convention of the PIPNet crops: medians over labelled faces, each matched to the detection nearest its centre.

    python benchmarks/fit_box_adapter.py --detector mediapipe --data csv:../shared/data/w300/train.csv \
        --data csv:../shared/data/ytf68/train.csv --n 600

Prints one JSON object: the fit per dataset and over all of them, with the share of faces found. With
``--eval SPEC`` it also measures, on that held-out set, the NME of ``--model`` from the detector's boxes adapted by
the current and by the fitted adapter, straight (refine 0) and after 1-3 re-crops on the landmarks (refine 2 is what
``predict`` and a new track do).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy_peers import adapter_from, match  # noqa: E402
from facetrack.detectors import create_detector  # noqa: E402
from facetrack.landmarks import LandmarkPredictor  # noqa: E402
from pipnet_model.metrics import nme_per_face, summary  # noqa: E402
from pipnet_model.datasets import load_dataset, read_image  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--detector", default="mediapipe")
    ap.add_argument("--detector-model")
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--n", type=int, default=600, help="faces per dataset (random, seed 0)")
    ap.add_argument("--eval", help="held-out set to compare the adapters on")
    ap.add_argument("--model", default="default")
    a = ap.parse_args()
    det = create_detector(a.detector, model_path=a.detector_model, min_score=0.3)
    out: dict = {"detector": a.detector, "current": {"scale": det.box_adapter.scale, "shift": det.box_adapter.shift}}
    every = []
    for spec in a.data:
        ds = load_dataset(spec)
        rng = np.random.default_rng(0)
        pairs = []
        idx = rng.choice(len(ds), min(a.n, len(ds)), replace=False)
        for i in idx:
            r = ds.records[i]
            boxes = np.array([d.box for d in det.detect(read_image(r))]).reshape(-1, 4)
            b = match(boxes, r.points)
            if b is not None:
                pairs.append((b, r.points))
        fit = adapter_from(pairs)
        out[spec] = {"faces": len(idx), "found": len(pairs), "scale": round(fit.scale, 4), "shift": round(fit.shift, 4)}
        every += pairs
    fit = adapter_from(every)
    out["all"] = {"found": len(every), "scale": round(fit.scale, 4), "shift": round(fit.shift, 4)}
    if a.eval:
        ds = load_dataset(a.eval)
        preds = {k: LandmarkPredictor(a.model, "cpu", box_adapter=ad, backend="torch")
                 for k, ad in (("current", det.box_adapter), ("fitted", fit))}
        errs: dict[str, list] = {f"{k}_refine{r}": [] for k in preds for r in (0, 1, 2, 3)}
        for r in ds.records:
            img = read_image(r)
            b = match(np.array([d.box for d in det.detect(img)]).reshape(-1, 4), r.points)
            if b is None:
                continue
            for k, p in preds.items():
                for ref in (0, 1, 2, 3):
                    lm, _ = p.predict(img, b[None], refine=ref)
                    errs[f"{k}_refine{ref}"].append(nme_per_face(lm, r.points[None], ds.scheme)[0])
        out["eval"] = {"data": a.eval, "model": a.model, "faces": len(ds),
                       **{k: summary(np.array(v)) for k, v in errs.items()}}
    det.close()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
