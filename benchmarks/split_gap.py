"""Train split against test split, per image source: how much worse is each system on the faces it did not see, and
do the labels of one split sit differently from the other's?

    python benchmarks/split_gap.py --model default --model ytf_only=OLD.safetensors --dlib \
        csv:../shared/data/w300/train.csv csv:../shared/data/w300/test.csv \
        csv:../shared/data/lfpw/train.csv csv:../shared/data/lfpw/test.csv

Faces are grouped by the source in their file name (helen_..., afw_..., lfpw_...). For every facetrack model (label
boxes, torch fp32, as `facetrack eval`) and, with --dlib, dlib's 68-point predictor on its own HOG boxes (faces it
finds; the `peers` extra), prints per dataset and source: faces, mean NME (outer eye corners, percent) and the
mean signed residual (label - prediction) in x and y, in percent of the inter-ocular distance. A system trained on
the train split reads it better than the test split, beyond what a system that saw neither split shows.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facetrack.landmarks import load_model
from pipnet_model.datasets import load_dataset, read_image
from pipnet_model.inference import evaluate
from pipnet_model.metrics import nme_per_face, normalizers


def report(system: str, spec: str, groups: np.ndarray, nme: np.ndarray, resid: np.ndarray) -> None:
    for g in sorted(set(groups)):
        k = groups == g
        dx, dy = 100 * resid[k].mean(0)
        print(f"{system:>12} {spec:<40} {g:<6} faces {k.sum():5d}  NME {100 * nme[k].mean():5.2f}  "
              f"dx {dx:+.2f} dy {dy:+.2f} (% of inter-ocular)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="+", help="dataset specs (csv:PATH)")
    ap.add_argument("--model", action="append", default=[], help="[NAME=]MODEL ('default', a file or run folder)")
    ap.add_argument("--dlib", action="store_true", help="also dlib's 68-point predictor on its own HOG boxes")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    models = [(m.split("=", 1) if "=" in m else (Path(m).stem, m)) for m in a.model]
    models = [(name, load_model(path)) for name, path in models]
    dl = None
    if a.dlib:
        from facetrack.evaluate import match
        from facetrack.peers import DlibLandmarker
        dl = DlibLandmarker()
    for spec in a.data:
        ds = load_dataset(spec)
        gt = np.stack([r.points for r in ds.records]).astype(np.float64)
        norm = normalizers(gt, ds.scheme)[:, None]
        groups = np.array([Path(r.name).name.split("_")[0] for r in ds.records])
        for name, model in models:
            nme, pred = evaluate(model, ds, 64, "cpu")
            report(name, spec, groups, nme, (gt - pred).mean(1) / norm)
        if dl is not None:
            found, nme, resid = [], [], []
            for i, r in enumerate(ds.records):
                img = read_image(r)
                b = match(dl.detect(img), r.points)
                if b is None:
                    continue
                p = dl.landmarks(img, b[None])
                found.append(i)
                nme.append(nme_per_face(p, gt[i:i + 1], ds.scheme)[0])
                resid.append((gt[i] - p[0]).mean(0) / norm[i])
            report("dlib", spec, groups[found], np.array(nme), np.array(resid))


if __name__ == "__main__":
    main()
