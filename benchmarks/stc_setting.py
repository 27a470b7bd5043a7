"""Issue 13's cross-domain setting, as files: ytf68/train split by person into an unlabelled pool list (labels
dropped: an ``image`` column only) and a labelled validation set (every 10th person by name: labels used only to
choose models, never to train).

    python benchmarks/stc_setting.py --out ~/runs/stc_setting
    -> pool.csv (image), val.csv (image, x0, y0, ...), split.json (people on each side)
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"

from pipnet_model.datasets import csv_image_base  # noqa: E402


def person(image: str) -> str:
    return re.sub(r"_\d+(_[a-z])?\.(jpg|jpeg|png)$", "", image, flags=re.I)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=str(SHARED / "data" / "ytf68" / "train.csv"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--every", type=int, default=10, help="every N-th person (sorted by name) goes to validation")
    a = ap.parse_args()
    src = Path(a.train)
    images = csv_image_base(src)
    with open(src, newline="") as fh:
        rows = list(csv.reader(fh))
    head, body = rows[0], rows[1:]
    people = sorted({person(r[0]) for r in body})
    val_people = set(people[a.every - 1::a.every])
    out = Path(a.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "pool.csv", "w", newline="") as fp, open(out / "val.csv", "w", newline="") as fv:
        wp, wv = csv.writer(fp), csv.writer(fv)
        wp.writerow(["image"])
        wv.writerow(head)
        n_pool = n_val = 0
        for r in body:
            path = str((images / r[0]).resolve())
            if person(r[0]) in val_people:
                wv.writerow([path] + r[1:])
                n_val += 1
            else:
                wp.writerow([path])
                n_pool += 1
    split = {"pool_people": len(people) - len(val_people), "pool_images": n_pool,
             "val_people": len(val_people), "val_images": n_val, "val": sorted(val_people)}
    (out / "split.json").write_text(json.dumps(split, indent=1))
    print(json.dumps({k: v for k, v in split.items() if k != "val"}))


if __name__ == "__main__":
    main()
