"""How good a round's pseudo-labels are, where the pool's true labels are known (a labelled set used as unlabelled,
as issue 13's setting does with ytf68/train): NME of each round's ``pseudo/labels.csv`` against the labels, in the
pool crops' pixels, normalised by the outer-eye-corner distance. A diagnostic only: STC never reads these labels.

    python benchmarks/stc_pseudo_nme.py ~/runs/stc_e6 --pool ~/runs/stc_pool --labels ../shared/data/ytf68/train.csv
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facetrack.harvest import CROP_SIZE, MARGIN  # noqa: E402
from pipnet_model.augment import apply_affine, crop_matrix, square_from_box  # noqa: E402
from pipnet_model.datasets import read_csv  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--pool", required=True, help="the pool folder the run used (manifest.jsonl)")
    ap.add_argument("--labels", required=True, action="append",
                    help="the true labels of the pool's images (csv; repeat for a pool harvested from several)")
    a = ap.parse_args()
    truth = {str(Path(r.image).resolve()): r.points for f in a.labels for r in read_csv(f).records}
    pool = Path(a.pool).expanduser()
    man = [json.loads(line) for line in (pool / "manifest.jsonl").read_text().splitlines() if line.strip()]
    out = {}
    for labels in sorted(Path(a.run).expanduser().glob("round*/pseudo/labels.csv")):
        with open(labels, newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        nmes = []
        for d, r in zip(man, rows):
            t = truth.get(d["source"])
            if t is None:
                continue
            cx, cy, side = square_from_box(d["box"], MARGIN)
            tc = apply_affine(t, crop_matrix(cx, cy, side, CROP_SIZE))
            if np.abs(tc.mean(0) - (CROP_SIZE - 1) / 2).max() > 0.25 * CROP_SIZE:
                continue  # the crop is of another face in the same photo
            p = np.array(r[1:], float).reshape(-1, 2)
            nmes.append(np.linalg.norm(p - tc, axis=1).mean() / np.linalg.norm(tc[36] - tc[45]))
        out[labels.parent.parent.name] = {"faces": len(nmes), "nme_pct": round(100 * float(np.mean(nmes)), 2),
                                          "median_pct": round(100 * float(np.median(nmes)), 2)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
