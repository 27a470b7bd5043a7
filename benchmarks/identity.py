"""Who is who: identity through tracking, against ground truth, on clips made from labelled faces of real people.

    python benchmarks/identity.py --out runs/identity --first-seed 6 --seeds 3 --variants none,reid
    python benchmarks/identity.py --out runs/identity_g50 --gop 50 --variants reid,reid_chunked  # batch chunks

Each clip (640 x 360, 25 frames/s, 8 s, H.264) is built from faces of the ytf68 *test* people (43 people none of whom
the model saw; several frames of each, from one video), pasted with a soft edge on scikit-image photographs at
~120 px. Scenarios, each with people drawn at random per seed:

- ``cross``: two people walk past each other; the one in front hides the other for a moment.
- ``leave_return``: one person stays; the other walks out of the frame, is away 2 s and walks back in (another
  frame of their video: a new view of the same face).
- ``cut``: a scene with two people, a cut to another scene with a third, a cut back to the first two (new views).
- ``swap``: two people walk out on opposite sides and come back 1.5 s later, each on the side the other left by:
  only appearance can tell who is who.
- ``occlude``: one of two people is hidden behind a patch of background for 1.5 s.

The truth of every frame is each person's landmark box (the labelled landmarks moved with the paste) and how
much of it is visible. A facetrack face matches a true face when their landmark boxes overlap with IoU >= 0.5
(Hungarian per frame); true faces less than half visible are "don't care" (a face reported there is neither
right nor wrong). Reported: IDF1 (identity F1 over the whole clip: the best one-to-one map between true people and
reported IDs), ID switches, fragments, returns (a person back after being away or hidden: the same ID as before?),
IDs shared by two people whose times on screen overlap, and frames/s of each run. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


from facetrack.scenes import FPS, H, SCENARIOS, SECONDS, SIZE, W, backgrounds, people, render_scene as render
from facetrack.scoring import read_boxes as read_tracks, score_identity as score



def run_facetrack(clip: Path, out_csv: Path, args: list[str]) -> dict:
    r = subprocess.run([sys.executable, "-m", "facetrack", "track", str(clip), "--csv", str(out_csv), "--quiet",
                        *args], capture_output=True, text=True, env=os.environ)
    if r.returncode != 0:
        raise SystemExit(f"facetrack failed on {clip}: {r.stderr[-500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_batch_chunked(clip: Path, out_csv: Path, args: list[str], chunk_s: float) -> dict:
    """`facetrack batch CLIP --chunk-seconds S` (2 workers), its CSV moved to ``out_csv``; the summary as `track`'s
    (frames, and the batch's wall seconds with no set-up split off)."""
    d = out_csv.with_suffix("")
    r = subprocess.run([sys.executable, "-m", "facetrack", "batch", str(clip), "--out", str(d), "--csv", "--quiet",
                        "--chunk-seconds", str(chunk_s), "--workers", "2", *args], capture_output=True, text=True,
                       env=os.environ)
    if r.returncode != 0:
        raise SystemExit(f"facetrack batch failed on {clip}: {r.stderr[-500:]}")
    s = json.loads(r.stdout.strip().splitlines()[-1])
    m = json.loads((d / "manifest.jsonl").read_text().splitlines()[0])
    if m.get("chunks", 1) < 2:
        raise SystemExit(f"{clip} was not cut into chunks (render it with --gop)")
    os.replace(d / f"{clip.stem}.csv", out_csv)
    return {"frames": s["frames"], "seconds": s["seconds"], "setup_seconds": 0.0}


VARIANTS = {"none": ["--no-reid"], "reid": ["--reid"], "reid_upright": ["--reid", "--upright"],
            "reid_chunked": ["--reid"], "none_chunked": ["--no-reid"],  # *_chunked: batch --chunk-seconds
            "reid_no_cuts": ["--reid", "--no-cuts"], "none_no_cuts": ["--no-reid", "--no-cuts"]}


def people_index(clips: list[Path], out: Path) -> dict:
    """The clips as one archive through `facetrack batch --people` (2 workers); its people index against the truth."""
    from facetrack.batch import read_people
    from facetrack.scoring import score_people, true_people
    arch, res_dir = out / "archive", out / "people_run"
    arch.mkdir(parents=True, exist_ok=True)
    for c in clips:
        (arch / c.name).unlink(missing_ok=True)
        (arch / c.name).symlink_to(c.resolve())
    r = subprocess.run([sys.executable, "-m", "facetrack", "batch", str(arch), "--out", str(res_dir), "--people",
                        "--workers", "2", "--quiet"], capture_output=True, text=True, env=os.environ)
    if r.returncode not in (0, 1):
        raise SystemExit(f"facetrack batch failed: {r.stderr[-500:]}")
    truth_of = {c.stem: true_people(json.loads(Path(str(c) + ".truth.json").read_text()),
                                    read_tracks(res_dir / f"{c.stem}.csv")) for c in clips}
    return {"clips": len(clips), "batch": json.loads(r.stdout.strip().splitlines()[-1]),
            **score_people(read_people(res_dir), truth_of)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="csv:" + str(Path(__file__).resolve().parents[2] / "shared/data/ytf68/test.csv"))
    ap.add_argument("--out", default="runs/identity")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--variants", default="none,reid")
    ap.add_argument("--gop", type=int, default=None, help="render new clips with a keyframe every N frames")
    ap.add_argument("--chunk-seconds", type=float, default=4.0, help="for the *_chunked variants")
    ap.add_argument("--people", action="store_true", help="instead of the variants: the clips as one archive, "
                    "`facetrack batch --people`, its people index scored across videos (precision, recall)")
    a = ap.parse_args()
    out = Path(a.out)
    pool = people(a.data)
    bgs = backgrounds(W, H)
    clips = []
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        for name in a.scenarios.split(","):
            clip = out / f"{name}_{seed}.mp4"
            if not clip.is_file() or not Path(str(clip) + ".truth.json").is_file():
                render(name, seed, pool, bgs, clip, gop=a.gop)
            clips.append(clip)
    if a.people:
        print(json.dumps(people_index(clips, out), indent=1))
        return
    res: dict = {"clips": len(clips), "frames_per_clip": int(SECONDS * FPS), "size": f"{W}x{H}", "face_px": SIZE,
                 "variants": {}}
    for v in a.variants.split(","):
        totals: dict = {}
        per = {}
        frames = secs = 0.0
        for clip in clips:
            truth = json.loads(Path(str(clip) + ".truth.json").read_text())["frames"]
            if v.endswith("_chunked"):
                s = run_batch_chunked(clip, out / f"{clip.stem}.{v}.csv", VARIANTS[v], a.chunk_seconds)
            else:
                s = run_facetrack(clip, out / f"{clip.stem}.{v}.csv", VARIANTS[v])
            frames += s["frames"]
            secs += s["seconds"] - s["setup_seconds"]
            sc = score(truth, read_tracks(out / f"{clip.stem}.{v}.csv"))
            per[clip.stem] = sc
            for k, x in sc.items():
                if k != "idf1":
                    totals[k] = totals.get(k, 0) + x
        totals["idf1"] = round(2 * totals["idtp"] / max(totals["gt"] + totals["pred"], 1), 4)
        totals["return_rate"] = round(totals["regained"] / max(totals["returns"], 1), 3)
        totals["fps"] = round(frames / max(secs, 1e-9), 1)
        res["variants"][v] = {"all": totals, "clips": per}
        print(json.dumps({v: totals}), file=sys.stderr)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
