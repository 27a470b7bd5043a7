"""Scorers of clips with ground truth (:mod:`facetrack.scenes`), for the benchmarks and the tests.

- Landmarks (benchmarks/video_truth.py): :func:`score_landmarks` gives a clip's cover, NME (inter-ocular) and NMF
  (flicker: the frame-to-frame change of the error), :func:`pool` pools clips; :func:`read_rows` reads a facetrack
  CSV's rows and :func:`resmooth` smooths them again with another smoother (each track its own).
- Identity (benchmarks/identity.py): :func:`score_identity` (IDF1, switches, returns, shared IDs) on
  :func:`read_boxes` of a facetrack CSV.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from pipnet_model.geometry import landmark_box
from pipnet_model.metrics import nme_per_face, nmf
from pipnet_model.schemes import SCHEMES

from .scenes import read_points
from .tracking import associate, iou_matrix, linear_assignment


def read_rows(path: Path, n: int = 68) -> list[tuple[int, float, int, np.ndarray]]:
    """(frame, time_s, track_id, points) per row of a facetrack CSV, in file order."""
    with open(path, newline="") as f:
        return [(int(r["frame"]), float(r["time_s"]), int(r["track_id"]),
                 np.array([[float(r[f"x{k}"]), float(r[f"y{k}"])] for k in range(n)])) for r in csv.DictReader(f)]


def resmooth(rows, make_smoother) -> dict[int, list[np.ndarray]]:
    """frame -> smoothed faces: a clip's unsmoothed rows, in order, each track through its own smoother
    (``make_smoother()`` makes one, e.g. ``KalmanSmoother``)."""
    from .smoothing import SmootherBank
    sm, out = SmootherBank(make_smoother), {}
    for frame, t, tid, p in rows:
        out.setdefault(frame, []).append(np.asarray(sm(tid, p, t), dtype=np.float64))
    return out


def score_landmarks(pred_csv: Path | dict, truth_csv: Path) -> dict:
    """Cover, NME and NMF of one clip (see the module docstring); ``pred_csv`` may be a frame -> faces dict
    already read. Per-frame values are kept for pooling."""
    scheme = SCHEMES["68"]
    truth = {k: v[0] for k, v in read_points(truth_csv).items()}
    pred = pred_csv if isinstance(pred_csv, dict) else read_points(pred_csv) if pred_csv.exists() else {}
    frames = sorted(truth)
    got: dict[int, np.ndarray] = {}
    for i in frames:
        g = truth[i]
        size = np.ptp(g, 0).max()
        cands = [p for p in pred.get(i, []) if np.abs(p.mean(0) - g.mean(0)).max() < 0.5 * size]
        if cands:
            got[i] = min(cands, key=lambda p: np.abs(p.mean(0) - g.mean(0)).max())
    nmes = [float(nme_per_face(got[i][None], truth[i][None], scheme)[0]) for i in frames if i in got]
    flick = []
    for a, b in zip(frames, frames[1:]):
        if a in got and b in got:
            flick.append(float(nmf(np.stack([got[a], got[b]]), np.stack([truth[a], truth[b]]), scheme)[0]))
    return {"frames": len(frames), "covered": len(got), "cover": len(got) / max(len(frames), 1),
            "nme": float(np.mean(nmes)) if nmes else float("nan"), "nmf": float(np.mean(flick)) if flick else float("nan"),
            "_nmes": nmes, "_nmf": flick}


def pool(clips: list[dict]) -> dict:
    nmes = [v for c in clips for v in c["_nmes"]]
    fl = [v for c in clips for v in c["_nmf"]]
    frames = sum(c["frames"] for c in clips)
    return {"clips": len(clips), "frames": frames, "cover": sum(c["covered"] for c in clips) / max(frames, 1),
            "nme_pct": round(100 * float(np.mean(nmes)), 3) if nmes else None,
            "nmf": round(float(np.mean(fl)), 3) if fl else None}


def read_boxes(path: Path) -> dict[int, list[tuple[int, np.ndarray]]]:
    """frame -> [(track_id, landmark box)] from a facetrack CSV."""
    out: dict[int, list] = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            pts = np.array([[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(68)])
            out.setdefault(int(r["frame"]), []).append((int(r["track_id"]), np.array(landmark_box(pts))))
    return out


def score_identity(truth: list, tracks: dict, min_iou: float = 0.5, min_visible: float = 0.5, fps: float = 25.0) -> dict:
    """IDF1, ID switches, fragments, returns regained, IDs shared by two people on screen together, of one clip: ``truth``
    from :func:`facetrack.scenes.render_scene` (per frame [[person, x0, y0, x1, y1, visible], ...]), ``tracks`` from
    :func:`read_boxes`. A reported face matches a true one at IoU >= ``min_iou`` (Hungarian per frame); true faces
    less than ``min_visible`` visible are don't-care."""
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
        for r, c in associate([x[1:5] for x in care], [b for _, b in preds], min_iou)[0]:
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
            if b - a > fps // 2:
                before = [by_frame[f] for f in fr if f <= a and f in by_frame][-1:]
                after = [by_frame[f] for f in fr if b <= f < b + fps and f in by_frame]
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


SIZE_BUCKETS = ((0, 24), (24, 32), (32, 48), (48, 64), (64, 1e9))  # inter-ocular distance, pixels


def _bucket(iod: float) -> str:
    lo, hi = next(b for b in SIZE_BUCKETS if b[0] <= iod < b[1])
    return f"iod {lo}-{hi if hi < 1e9 else ''}"


def read_faces(path: Path, n: int = 68) -> dict[int, list[tuple[int, np.ndarray, np.ndarray]]]:
    """frame -> [(track_id, landmark box, points (n, 2))] from a facetrack CSV."""
    out: dict[int, list] = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            pts = np.array([[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(n)])
            out.setdefault(int(r["frame"]), []).append((int(r["track_id"]), np.array(landmark_box(pts)), pts))
    return out


def score_many(truth: list, faces: dict, min_iou: float = 0.5, min_visible: float = 0.5, fps: float = 25.0) -> dict:
    """Many faces at once (:func:`facetrack.scenes.render_grid` / ``render_crowd`` truth; ``faces`` from
    :func:`read_faces`): the share of face-frames covered (a reported face on the true one, IoU >= ``min_iou``),
    overall and by inter-ocular distance; the NME (inter-ocular) of the covered faces; faces found per frame; and
    the identity figures of :func:`score_identity` (IDF1, IDs, switches) on the same faces."""
    scheme = SCHEMES["68"]
    by: dict[str, list[int]] = {}
    nme_by: dict[str, list[float]] = {}
    nmes, found = [], []
    for f, gts in enumerate(truth):
        care = [g for g in gts if g[5] >= min_visible]
        preds = faces.get(f, [])
        hit = np.zeros(len(care), bool)
        for r, c in associate([g[1:5] for g in care], [b for _, b, _ in preds], min_iou)[0]:
            hit[r] = True
            gt = np.asarray(care[r][6], np.float64).reshape(-1, 2)
            nmes.append(float(nme_per_face(preds[c][2][None], gt[None], scheme)[0]))
            nme_by.setdefault(_bucket(float(np.linalg.norm(gt[36] - gt[45]))), []).append(nmes[-1])
        for g, h in zip(care, hit):
            gt = np.asarray(g[6], np.float64).reshape(-1, 2)
            by.setdefault(_bucket(float(np.linalg.norm(gt[36] - gt[45]))), []).append(int(h))
        found.append(int(hit.sum()))
    ident = score_identity([[g[:6] for g in gts] for gts in truth], {k: [(t, b) for t, b, _ in v] for k, v in faces.items()},
                           min_iou, min_visible, fps)
    total = sum(len(v) for v in by.values())
    return {"face_frames": total, "cover": round(sum(sum(v) for v in by.values()) / max(total, 1), 4),
            "cover_by_iod": {k: round(sum(v) / len(v), 3) for k, v in sorted(by.items(), key=lambda kv: float(
                kv[0].split()[1].split("-")[0]))},
            "faces_per_frame": round(float(np.mean(found)) if found else 0.0, 2),
            "true_faces_per_frame": round(total / max(len(truth), 1), 2),
            "nme_pct": round(100 * float(np.mean(nmes)), 2) if nmes else None,
            "nme_pct_by_iod": {k: round(100 * float(np.mean(v)), 2) for k, v in sorted(nme_by.items(), key=lambda kv: float(
                kv[0].split()[1].split("-")[0]))},
            **{k: ident[k] for k in ("idf1", "ids", "people", "switches", "fragments")}}


def true_people(truth: dict, boxes: dict, min_iou: float = 0.5) -> dict[int, str]:
    """A clip's reported IDs -> the true person each is on most often (``truth`` a :func:`facetrack.scenes
    .render_scene` truth JSON with its ``people`` names; ``boxes`` from :func:`read_boxes`)."""
    votes: dict[int, dict[int, int]] = {}
    for f, faces in enumerate(truth["frames"]):
        preds = boxes.get(f, [])
        for r, c in associate([x[1:5] for x in faces], [b for _, b in preds], min_iou)[0]:
            v = votes.setdefault(preds[c][0], {})
            v[faces[r][0]] = v.get(faces[r][0], 0) + 1
    return {tid: truth["people"][max(v, key=v.get)] for tid, v in votes.items()}


def score_people(index: list[dict], truth_of: dict[str, dict[int, str]]) -> dict:
    """A people index (``person_id, video, track_id`` records) against the truth (video -> reported ID -> true person):
    over every pair of index rows from two different videos, precision = pairs given one person_id that are one true
    person; recall = pairs of one true person given one person_id."""
    rows = [(r["person_id"], r["video"], truth_of.get(r["video"], {}).get(r["track_id"])) for r in index]
    rows = [r for r in rows if r[2] is not None]
    tp = fp = fn = 0
    for i, (pa, va, ta) in enumerate(rows):
        for pb, vb, tb in rows[i + 1:]:
            if va == vb:
                continue
            same, linked = ta == tb, pa == pb
            tp += same and linked
            fp += linked and not same
            fn += same and not linked
    return {"rows": len(rows), "true_people": len({t for _, _, t in rows}), "people": len({p for p, _, _ in rows}),
            "linked_pairs": tp + fp, "precision": round(tp / max(tp + fp, 1), 4), "recall": round(tp / max(tp + fn, 1), 4)}
