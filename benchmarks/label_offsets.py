"""Where does a data set's labels' pixel origin sit? Evidence for the coordinate conventions in pipnet_model/datasets.py.

    python benchmarks/label_offsets.py --dlib csv:../shared/data/w300/train.csv?offset=0 \
        csv:../shared/data/lfpw/train.csv?offset=0 csv:../shared/data/ytf68/train.csv?offset=0 \
        csv:../shared/data/aflw2000/landmarks.csv?offset=0

For every labelled face, each instrument (a facetrack model on the label-box crop, as `facetrack eval`; with --dlib,
dlib's 68-point predictor on its own HOG box) predicts the face and its mirror image; the mirrored prediction is
mapped back (x -> W - 1 - x, 0-based pixel centres) and renumbered, and the two are averaged. A mirror-averaged
prediction has no x bias of its own, so the mean x residual (label - prediction) is where the labels sit against the
0-based pixel centres of the pixels they mark, plus whatever the annotators and the instrument disagree on about
where a point is.

The two are told apart by size: an instrument works in units of the face (a crop, a normalised shape), so its
disagreement with a labelling style grows with the face; a pixel-origin convention (1-based coordinates, pixel
corners at integers) is the same number of pixels on every face. Per data set and axis the residual (source pixels,
mean over the points used) is fitted as ``r = c + a x IOD`` over the faces: ``c`` is the constant in pixels (the
origin's offset), ``a`` the part that scales with the face (% of the inter-ocular distance). In y there is no
mirror: the fit alone separates the two there.

Labels are read as given (``?offset=0``: no conversion) unless a spec says otherwise; --points inner uses the 51
points without the jaw (AFLW2000-3D draws the jaw differently).
"""
from __future__ import annotations

import argparse

import numpy as np

from facetrack.evaluate import match
from facetrack.landmarks import LandmarkPredictor
from pipnet_model.augment import Augmenter
from pipnet_model.geometry import apply_affine, from_unit, invert_affine
from pipnet_model.datasets import load_dataset, read_image
from pipnet_model.metrics import normalizers


def fit(r: np.ndarray, iod: np.ndarray) -> tuple[float, float, float]:
    """(c px, a % IOD, standard error of c) of r = c + a * iod by least squares."""
    A = np.stack([np.ones_like(iod), iod], 1)
    coef, *_ = np.linalg.lstsq(A, r, rcond=None)
    res = r - A @ coef
    cov = np.linalg.inv(A.T @ A) * (res @ res) / max(len(r) - 2, 1)
    return float(coef[0]), 100 * float(coef[1]), float(np.sqrt(cov[0, 0]))


def facetrack_pairs(pred: LandmarkPredictor, ds, perm: np.ndarray):
    aug = Augmenter(ds.scheme, pred.meta.input_size, pred.meta.crop_scale)
    for r in ds.records:
        crop, _, m = aug.plain(read_image(r), r.points)
        pts, _ = pred.predict_crops(np.stack([crop, np.ascontiguousarray(crop[:, ::-1])]))
        back = pts[1].copy()
        back[:, 0] = 1.0 - back[:, 0]
        inv = invert_affine(m)
        yield r.points, apply_affine(from_unit((pts[0] + back[perm]) / 2, pred.size), inv)


def dlib_pairs(dl, ds, perm: np.ndarray):
    for r in ds.records:
        img = read_image(r)
        w = img.shape[1]
        flipped = np.ascontiguousarray(img[:, ::-1])
        fpts = r.points.astype(np.float64).copy()
        fpts[:, 0] = w - 1 - fpts[:, 0]
        b0 = match(dl.detect(img), r.points)
        b1 = match(dl.detect(flipped), fpts)
        if b0 is None or b1 is None:
            continue
        p0 = dl.landmarks(img, b0[None])[0]
        p1 = dl.landmarks(flipped, b1[None])[0]
        p1[:, 0] = w - 1 - p1[:, 0]
        yield r.points, (p0 + p1[perm]) / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="+", help="dataset specs (csv:PATH?offset=0 for the raw labels)")
    ap.add_argument("--model", action="append", default=[], help="facetrack model(s) (default: the default model; 'none': none)")
    ap.add_argument("--dlib", action="store_true", help="also dlib's 68-point predictor (the peers extra)")
    ap.add_argument("--points", choices=("inner", "all"), default="inner")
    ap.add_argument("--limit", type=int, default=0, help="at most this many faces a data set (0: all)")
    a = ap.parse_args()
    instruments = [(m, LandmarkPredictor(m, device="cpu", precision="fp32")) for m in (a.model or ["default"]) if m != "none"]
    if a.dlib:
        from facetrack.peers import DlibLandmarker
        instruments.append(("dlib", DlibLandmarker()))
    print("instrument        data set                                          faces  mean x px  mean y px "
          " x %IOD  y %IOD |  c_x px (se)    a_x %   c_y px (se)    a_y %")
    for spec in a.data:
        ds = load_dataset(spec)
        if a.limit:
            ds.records = ds.records[:a.limit]
        perm = np.asarray(ds.scheme.flip_perm)
        use = np.arange(17, 68) if a.points == "inner" and ds.scheme.num_points == 68 else np.arange(ds.scheme.num_points)
        for name, inst in instruments:
            pairs = dlib_pairs(inst, ds, perm) if name == "dlib" else facetrack_pairs(inst, ds, perm)
            gts, preds = zip(*pairs)
            gt, pr = np.asarray(gts, np.float64), np.asarray(preds, np.float64)
            iod = normalizers(gt, ds.scheme)
            r = (gt - pr)[:, use].mean(1)
            cx, ax, sx = fit(r[:, 0], iod)
            cy, ay, sy = fit(r[:, 1], iod)
            rel = 100 * (r / iod[:, None]).mean(0)
            print(f"{name:<17} {spec:<49} {len(gt):5d}  {r[:, 0].mean():+9.2f}  {r[:, 1].mean():+9.2f} "
                  f"{rel[0]:+7.2f} {rel[1]:+7.2f} | {cx:+6.2f} ({sx:.2f}) {ax:+7.2f}  {cy:+6.2f} ({sy:.2f}) {ay:+7.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
