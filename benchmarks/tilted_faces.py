"""Landmarks on tilted heads: labelled photos turned in-plane, through the product's own still-image path (default
detector, box adapter, 2 re-crops), with level crops and with upright ones (crops turned by the eye line).

    python benchmarks/tilted_faces.py --data csv:../shared/data/w300/test.csv --angles 0,15,30,45
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facetrack.detectors import create_detector  # noqa: E402
from facetrack.evaluate import match  # noqa: E402
from facetrack.landmarks import LandmarkPredictor  # noqa: E402
from pipnet_model.datasets import load_dataset, read_image  # noqa: E402
from pipnet_model.metrics import nme_per_face  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=f"csv:{ROOT.parent / 'shared/data/w300/test.csv'}")
    ap.add_argument("--angles", default="0,15,30,45", help="in-plane turns, degrees counter-clockwise")
    ap.add_argument("--model", default="default")
    a = ap.parse_args()
    ds = load_dataset(a.data)
    det = create_detector("mediapipe", min_score=0.3)
    preds = {"level": LandmarkPredictor(a.model, "cpu", upright=False),
             "upright": LandmarkPredictor(a.model, "cpu", upright=True)}
    out = {}
    for ang in (float(x) for x in a.angles.split(",")):
        nme = {k: [] for k in preds}
        missed = 0
        for r in ds.records:
            img = read_image(r)
            h, w = img.shape[:2]
            m = cv2.getRotationMatrix2D((w / 2, h / 2), ang, 1.0)
            im = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
            gt = r.points @ m[:, :2].T + m[:, 2]
            b = match(np.array([d.box for d in det.detect(im)]).reshape(-1, 4), gt)
            if b is None:
                missed += 1
                continue
            for k, p in preds.items():
                lm, _ = p.predict(im, det.box_adapter(b)[None], refine=2)
                nme[k].append(float(nme_per_face(lm, gt[None], ds.scheme)[0]))
        row = {"faces": len(ds), "missed": missed}
        for k, v in nme.items():
            v = np.array(v)
            row[k] = {"nme_pct": round(float(v.mean()) * 100, 3), "fr_pct": round(float((v > 0.1).mean()) * 100, 2)}
        out[str(ang)] = row
        print(json.dumps({ang: row}), file=sys.stderr, flush=True)
    det.close()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
