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
import csv
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from detection import backgrounds, paste  # noqa: E402
from facetrack.tracking import iou_matrix, linear_assignment  # noqa: E402
from pipnet_model.augment import landmark_box  # noqa: E402
from pipnet_model.datasets import load_dataset, read_image  # noqa: E402

W, H, FPS, SECONDS, SIZE = 640, 360, 25, 8.0, 120.0
SCENARIOS = ("cross", "leave_return", "cut", "swap", "occlude")


def people(spec: str) -> list[list]:
    """The records of each person (ytf68 names: PERSON_NUMBER.jpg), people with at least two frames."""
    by: dict[str, list] = {}
    for r in load_dataset(spec).records:
        name = Path(r.image).stem.rsplit("_", 1)[0]
        by.setdefault(name, []).append(r)
    return [v for _, v in sorted(by.items()) if len(v) >= 2]


def lerp(a, b, u):
    return (a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u)


def scenario(name: str) -> dict:
    """people: [(who, [(t0, t1, view, start xy, end xy), ...])], scenes: [(t0, t1, background)], hides: [(t0, t1, who)]."""
    L, R, Y = 180.0, 460.0, 190.0
    out_l, out_r = -90.0, W + 90.0
    if name == "cross":
        return {"people": [(0, [(0, 8, 0, (120, Y), (520, Y))]), (1, [(0, 8, 0, (520, Y + 10), (120, Y + 10))])],
                "scenes": [(0, 8, 0)], "hides": []}
    if name == "leave_return":
        return {"people": [(0, [(0, 8, 0, (L, Y), (L + 20, Y))]),
                           (1, [(0, 2, 0, (R, Y), (R, Y)), (2, 3, 0, (R, Y), (out_r, Y)),
                                (5, 6, 1, (out_r, Y), (R, Y)), (6, 8, 1, (R, Y), (R - 20, Y))])],
                "scenes": [(0, 8, 0)], "hides": []}
    if name == "cut":
        return {"people": [(0, [(0, 3, 0, (L, Y), (L + 30, Y)), (5, 8, 1, (L + 30, Y), (L, Y))]),
                           (1, [(0, 3, 0, (R, Y), (R - 30, Y)), (5, 8, 1, (R - 30, Y), (R, Y))]),
                           (2, [(3, 5, 0, (320, Y), (340, Y))])],
                "scenes": [(0, 3, 0), (3, 5, 1), (5, 8, 0)], "hides": []}
    if name == "swap":
        return {"people": [(0, [(0, 2, 0, (L, Y), (L, Y)), (2, 3, 0, (L, Y), (out_l, Y)),
                                (4.5, 5.5, 1, (out_r, Y), (R, Y)), (5.5, 8, 1, (R, Y), (R, Y))]),
                           (1, [(0, 2, 0, (R, Y), (R, Y)), (2, 3, 0, (R, Y), (out_r, Y)),
                                (4.5, 5.5, 1, (out_l, Y), (L, Y)), (5.5, 8, 1, (L, Y), (L, Y))])],
                "scenes": [(0, 8, 0)], "hides": []}
    if name == "occlude":
        return {"people": [(0, [(0, 8, 0, (L, Y), (L + 40, Y))]), (1, [(0, 8, 0, (R, Y), (R - 20, Y))])],
                "scenes": [(0, 8, 0)], "hides": [(3, 4.5, 1)]}
    raise ValueError(name)


def render(name: str, seed: int, pool: list[list], bgs: list[np.ndarray], out: Path, gop: int | None = None) -> Path:
    """Write the clip and ``out.truth.json`` (per frame: [[person, x0, y0, x1, y1, visible], ...]). ``gop``: a
    keyframe every that many frames (where ``facetrack batch --chunk-seconds`` may cut; default: x264's own)."""
    import av
    rng = np.random.default_rng(seed * 100 + SCENARIOS.index(name))
    sc = scenario(name)
    who = rng.choice(len(pool), 3, replace=False)  # the people of this clip
    views = {p: rng.choice(len(pool[who[p]]), 2, replace=False) for p in range(3)}
    bg_of = rng.choice(len(bgs), 2, replace=False)
    imgs: dict = {}
    truth = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w") as c:
        st = c.add_stream("libx264", rate=FPS)
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        st.options = {"crf": "23", "preset": "veryfast", **({"g": str(gop), "keyint_min": str(gop)} if gop else {})}
        for i in range(int(SECONDS * FPS)):
            t = i / FPS
            scene = next(b for t0, t1, b in sc["scenes"] if t0 <= t < t1)
            frame = bgs[bg_of[scene]].copy()
            rows = []
            for p, segs in sc["people"]:
                for t0, t1, view, a, b in segs:
                    if not t0 <= t < t1:
                        continue
                    x, y = lerp(a, b, (t - t0) / (t1 - t0))
                    x += 6 * np.sin(1.7 * t + p)  # a little sway: nobody stands still
                    y += 4 * np.sin(1.1 * t + 2 * p)
                    rec = pool[who[p]][views[p][view]]
                    if rec.image not in imgs:
                        imgs[rec.image] = read_image(rec)
                    box = paste(frame, imgs[rec.image], rec.points, SIZE, (x, y))
                    rows.append([p, *box])
            vis = []
            for k, (p, *box) in enumerate(rows):  # visible share: inside the frame, not under a later face or a hide
                x0, y0, x1, y1 = box
                area = max((x1 - x0) * (y1 - y0), 1e-6)
                inside = max(0, min(x1, W) - max(x0, 0)) * max(0, min(y1, H) - max(y0, 0)) / area
                cover = 0.0
                for q, *b2 in rows[k + 1:]:
                    cover = max(cover, max(0, min(x1, b2[2]) - max(x0, b2[0])) * max(0, min(y1, b2[3]) - max(y0, b2[1])) / area)
                hidden = any(t0 <= t < t1 and h == p for t0, t1, h in sc["hides"])
                vis.append(0.0 if hidden else max(0.0, inside - cover))
            for t0, t1, h in sc["hides"]:  # a patch of the other background over the hidden face
                if t0 <= t < t1:
                    for p, *box in rows:
                        if p == h:
                            x0, y0, x1, y1 = (int(v) for v in box)
                            m = int(0.4 * (x1 - x0))
                            ys, xs = slice(max(y0 - m, 0), min(y1 + m, H)), slice(max(x0 - m, 0), min(x1 + m, W))
                            frame[ys, xs] = bgs[bg_of[1]][ys, xs]
            truth.append([[int(p), *[round(float(v), 2) for v in box], round(v, 3)] for (p, *box), v in zip(rows, vis)])
            fr = av.VideoFrame.from_ndarray(frame, format="bgr24")
            fr.pts, fr.time_base = i, Fraction(1, FPS)
            for pk in st.encode(fr):
                c.mux(pk)
        for pk in st.encode(None):
            c.mux(pk)
    Path(str(out) + ".truth.json").write_text(json.dumps({"scenario": name, "seed": seed, "fps": FPS,
                                                         "people": [str(Path(pool[w][0].image).stem) for w in who],
                                                         "frames": truth}))
    return out


def read_tracks(path: Path) -> dict[int, list[tuple[int, np.ndarray]]]:
    """frame -> [(track_id, landmark box)] from a facetrack CSV."""
    out: dict[int, list] = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            pts = np.array([[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(68)])
            out.setdefault(int(r["frame"]), []).append((int(r["track_id"]), np.array(landmark_box(pts))))
    return out


def score(truth: list, tracks: dict, min_iou: float = 0.5, min_visible: float = 0.5) -> dict:
    pairs: list[tuple[int, int, int]] = []  # (frame, person, track) matched
    gt_n = pred_n = 0
    present: dict[int, set] = {}
    for f, faces in enumerate(truth):
        preds = tracks.get(f, [])
        care = [x for x in faces if x[5] >= min_visible]
        dont = [x for x in faces if x[5] < min_visible]
        for p, *_ in care:
            present.setdefault(p, set()).add(f)
        used_pred = set()
        if care and preds:
            iou = iou_matrix(np.array([x[1:5] for x in care]), np.array([b for _, b in preds]))
            for r, c in zip(*linear_assignment(-iou)):
                if iou[r, c] >= min_iou:
                    pairs.append((f, care[r][0], preds[c][0]))
                    used_pred.add(c)
        extra = [k for k in range(len(preds)) if k not in used_pred]
        if dont and extra:  # faces reported where a half-hidden face is: don't care
            iou = iou_matrix(np.array([preds[k][1] for k in extra]), np.array([x[1:5] for x in dont]))
            extra = [k for k, row in zip(extra, iou) if row.max() < min_iou]
        gt_n += len(care)
        pred_n += len(used_pred) + len(extra)
    persons = sorted(present)
    ids = sorted({t for _, _, t in pairs})
    co = np.zeros((len(persons), len(ids)))
    for _, p, t in pairs:
        co[persons.index(p), ids.index(t)] += 1
    idtp = float(co[linear_assignment(-co)].sum()) if co.size else 0.0
    switches = fragments = 0
    returns = regained = flips = 0
    for p in persons:
        seq = sorted((f, t) for f, q, t in pairs if q == p)
        fr = sorted(present[p])
        for (f0, t0), (f1, t1) in zip(seq, seq[1:]):
            switches += t1 != t0
        matched = {f for f, _ in seq}
        fragments += sum(1 for a, b in zip(fr, fr[1:]) if a in matched and b not in matched)
        # a return: the person is on screen again after at least 0.5 s away (off screen, cut away or hidden);
        # regained when the ID they hold one second after coming back is the ID they had before leaving (a young
        # track takes an old ID back at its first good view, so its first frames may show a new number: "flips")
        by_frame = dict(seq)
        for a, b in zip(fr, fr[1:]):
            if b - a > FPS // 2:
                before = [by_frame[f] for f in fr if f <= a and f in by_frame][-1:]
                after = [by_frame[f] for f in fr if b <= f < b + FPS and f in by_frame]
                if before:
                    returns += 1
                    regained += bool(after) and after[-1] == before[0]
                    flips += bool(after) and after[-1] == before[0] and after[0] != before[0]
    shared = 0
    for t in ids:
        who = [p for p in persons if co[persons.index(p), ids.index(t)] > 0]
        for i, a in enumerate(who):
            for b in who[i + 1:]:
                fa = {f for f, q, tt in pairs if q == a and tt == t}
                fb = {f for f, q, tt in pairs if q == b and tt == t}
                span_a, span_b = (min(fa), max(fa)), (min(fb), max(fb))
                shared += bool(present[a] & present[b] and span_a[0] <= span_b[1] and span_b[0] <= span_a[1])
    return {"gt": gt_n, "pred": pred_n, "idtp": idtp, "idf1": round(2 * idtp / max(gt_n + pred_n, 1), 4),
            "matched": len(pairs), "ids": len(ids), "people": len(persons), "switches": switches,
            "fragments": fragments, "returns": returns, "regained": regained, "flips": flips, "shared": shared}


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
            "reid_chunked": ["--reid"], "none_chunked": ["--no-reid"]}  # *_chunked: batch --chunk-seconds


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
