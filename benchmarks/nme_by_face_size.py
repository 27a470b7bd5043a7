"""NME by the face's size in its source image: does a model read small faces as well as large ones, and does a
smaller network input lose accuracy only on faces that had more pixels than it takes?

    python benchmarks/nme_by_face_size.py --model m192=default --model m128=RUN/last.safetensors \
        csv:../shared/data/ytf68/test.csv csv:../shared/data/w300/test.csv csv:../shared/data/lfpw/test.csv

Each face is cropped from its label box at the model's own input size (as `facetrack eval`, torch fp32) and
binned by the side of its landmark box in source pixels. Prints, per dataset, the faces in each bin and each
model's mean NME (outer eye corners, percent) over all faces and per bin.
"""
from __future__ import annotations

import argparse

import numpy as np

from facetrack.landmarks import load_model
from pipnet_model.augment import landmark_box
from pipnet_model.datasets import load_dataset
from pipnet_model.inference import evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="+", help="dataset specs (csv:PATH)")
    ap.add_argument("--model", action="append", required=True, help="NAME=MODEL ('default', a file or run folder)")
    ap.add_argument("--edges", default="64,96,128,160", help="bin edges, landmark-box side in source pixels")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    models = {}
    for spec in a.model:
        name, _, path = spec.partition("=")
        models[name] = load_model(path or name)
    edges = [0.0] + [float(e) for e in a.edges.split(",")] + [float("inf")]
    labels = [f"<{edges[1]:g}"] + [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[1:-2], edges[2:-1])] + [f">={edges[-2]:g}"]
    for spec in a.data:
        ds = load_dataset(spec, None)
        side = np.array([max(b[2] - b[0], b[3] - b[1]) for b in (landmark_box(r.points) for r in ds.records)])
        bins = np.digitize(side, edges[1:-1])
        print(f"{spec}: {len(ds)} faces; px {' '.join(labels)}; faces {' '.join(str(int((bins == i).sum())) for i in range(len(labels)))}")
        for name, m in models.items():
            nmes, _ = evaluate(m, ds, device="cpu")
            per = " ".join(f"{100 * nmes[bins == i].mean():.2f}" if (bins == i).any() else "-" for i in range(len(labels)))
            print(f"  {name} (input {m.meta.input_size}): all {100 * nmes.mean():.2f} | by size {per}", flush=True)


if __name__ == "__main__":
    main()
