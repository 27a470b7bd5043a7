"""Many small faces: video-call galleries and a street crowd at 1920 x 1080, against ground truth per face and frame.

    python benchmarks/crowds.py --out ~/runs/crowds --grids 2x2,3x3,4x4,5x5 --crowd \
        --variants default,retinaface_every_frame --json docs/crowds.json

Scenes (facetrack.scenes, faces of the ytf68 *test* people, none of whom the model saw):
- ``gridRxC``: a gallery of R x C tiles, one participant each, eyes 22-55 px apart (drawn per tile), swaying in their
  tile and turning to another frame of their video every ~1.2 s; 4 s at 25 frames/s, H.264 CRF 23.
- ``crowd``: 9 people walk across a photograph at their own height, speed and size (landmark box 40-80 px wide),
  5-9 on screen at once; 105 frames.
Each variant is ``facetrack track CLIP --csv --no-reid`` with its arguments, in a fresh process (``default_reid``:
re-identification on, as where the reid extra is installed). Scored (facetrack.scoring
.score_many): cover of the face-frames (IoU >= 0.5 of the landmark boxes) overall and by inter-ocular distance,
faces found per frame, NME (inter-ocular) of the faces found, IDs against people, ID switches, IDF1, and the
run's frames/s (processing, set-up apart) and the faces its face limit left out. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facetrack.scenes import backgrounds, people, render_crowd, render_grid
from facetrack.scoring import read_faces, score_many
from identity import run_facetrack  # `facetrack track CLIP --csv` in a fresh process (benchmarks/ is on the path)

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "default": [],
    "max_faces_32": ["--max-faces", "32"],
    "retinaface_every_frame": ["--detector", "retinaface", "--detect-every", "1", "--max-faces", "32"],
    "auto": ["--detector", "auto", "--max-faces", "32"],
    "mediapipe": ["--detector", "mediapipe", "--max-faces", "32"],
    "default_reid": ["--reid"],  # re-identification on (the default where facetrack[reid] is installed)
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ytf68" / "test.csv"))
    ap.add_argument("--grids", default="4x4", help="comma-separated RxC galleries (empty: none)")
    ap.add_argument("--crowd", action="store_true", help="the street crowd too")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default="default,retinaface_every_frame", help=", ".join(VARIANTS))
    ap.add_argument("--extra", default="", help="arguments added to every variant (e.g. '--model M')")
    ap.add_argument("--json", help="also write the result here")
    a = ap.parse_args()
    out = Path(a.out).expanduser()
    pool = people(f"csv:{a.data}")
    scenes = []
    for g in [g for g in a.grids.split(",") if g]:
        rows, cols = (int(v) for v in g.split("x"))
        clip = out / f"grid{g}_{a.seed}.mp4"
        if not Path(str(clip) + ".truth.json").exists():
            render_grid(rows, cols, pool, clip, seed=a.seed)
        scenes.append(clip)
    if a.crowd:
        clip = out / f"crowd_{a.seed}.mp4"
        if not Path(str(clip) + ".truth.json").exists():
            render_crowd(pool, backgrounds(1920, 1080), clip, seed=a.seed)
        scenes.append(clip)
    res: dict = {"data": a.data, "seed": a.seed, "extra": a.extra, "scenes": {}}
    for clip in scenes:
        truth = json.loads(Path(str(clip) + ".truth.json").read_text())
        row = res["scenes"].setdefault(truth["scene"], {})
        for v in a.variants.split(","):
            csv_path = out / f"{clip.stem}.{v}.csv"
            s = run_facetrack(clip, csv_path, ["--no-reid", *VARIANTS[v], *a.extra.split()])
            sc = score_many(truth["frames"], read_faces(csv_path), fps=truth["fps"])
            row[v] = {**sc, "fps": s["fps"], "detections_run": s["detections_run"],
                      "left_out_by_max_faces": s["over_max_faces"]["most_left_out"]}
            print(truth["scene"], v, row[v], file=sys.stderr, flush=True)
    print(json.dumps(res, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
