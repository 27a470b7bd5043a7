"""Does averaging a face's landmarks with those of its mirrored crop pay? (Test-time flip, a common trick: one
more network pass a face.)

    python benchmarks/mirror_average.py --precision int8 csv:../shared/data/w300/test.csv csv:../shared/data/lfpw/test.csv \
        csv:../shared/data/ytf68/test.csv

For every labelled face: the crop from its label box (as `facetrack eval`), the same crop mirrored left-right; the
mirrored crop's points are mirrored back (u -> 1 - u in crop units) and renumbered by the scheme's flip permutation,
then averaged with the plain crop's. NME (outer eye corners) and FR@0.1 of one pass and of the average.
"""
from __future__ import annotations

import argparse

import numpy as np

from facetrack.landmarks import LandmarkPredictor
from pipnet_model.augment import Augmenter, apply_affine, from_unit, invert_affine
from pipnet_model.datasets import load_dataset, read_image
from pipnet_model.metrics import nme_per_face


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="+", help="dataset specs (csv:PATH)")
    ap.add_argument("--model", default="default")
    ap.add_argument("--precision", default="auto")
    a = ap.parse_args()
    pred = LandmarkPredictor(a.model, device="cpu", precision=a.precision)
    perm = np.asarray(pred.meta.scheme.flip_perm)
    print(f"model {a.model}, {pred.backend} {pred.precision}")
    for spec in a.data:
        ds = load_dataset(spec)
        aug = Augmenter(ds.scheme, pred.meta.input_size, pred.meta.crop_scale)
        one, avg, truth = [], [], []
        for r in ds.records:
            crop, _, m = aug.plain(read_image(r), r.points)
            pts, _ = pred.predict_crops(np.stack([crop, np.ascontiguousarray(crop[:, ::-1])]))
            mirrored = pts[1].copy()
            mirrored[:, 0] = 1.0 - mirrored[:, 0]
            mirrored = mirrored[perm]
            inv = invert_affine(m)
            one.append(apply_affine(from_unit(pts[0], pred.size), inv))
            avg.append(apply_affine(from_unit((pts[0] + mirrored) / 2, pred.size), inv))
            truth.append(r.points)
        n1 = nme_per_face(np.array(one), np.array(truth), ds.scheme)
        n2 = nme_per_face(np.array(avg), np.array(truth), ds.scheme)
        print(f"{spec}: {len(n1)} faces, NME one pass {100 * n1.mean():.2f}%, mirrored average {100 * n2.mean():.2f}%; "
              f"FR@0.1 {100 * np.mean(n1 > 0.1):.2f}% / {100 * np.mean(n2 > 0.1):.2f}%")


if __name__ == "__main__":
    main()
