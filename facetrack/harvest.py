"""Harvest unlabelled face crops from videos and photos for self-training (STC).

Each kept face is saved as a JPEG crop with a generous margin (2x the face box, so training crops and
augmentation have room) and described by one JSON line in ``POOL/manifest.jsonl``: source, frame, time,
box in source pixels, detector score, sharpness, the crop file and the face box inside the crop (in the
landmark-box convention of the PIPNet crops). Tiny faces, near-duplicates of the previous kept crop at the
same place (videos), and each video's blurriest faces are skipped. Photos come as folders or image-list CSVs
(the ``image`` column; any label columns are ignored): each photo is one frame, blur judged within its folder or
list. Re-running adds new inputs and never duplicates an entry.

Blur is judged against the video itself: a face is skipped when it is less sharp than the ``blur_drop`` quantile
(default: the blurriest tenth) of the faces seen so far in the same video (after its first ``BLUR_WARMUP``). An
absolute threshold dropped most of an ordinary low-bit-rate webcam clip, whose every frame is soft, and those are
the frames self-training on a user's footage needs. ``min_sharpness`` is an absolute floor on top (off by default).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np

from pipnet_model.geometry import crop_matrix, square_from_box
from pipnet_model.progress import Progress

from .detectors import DEFAULT_DETECTOR, create_detector
from .errors import FacetrackError
from .inputs import expand_inputs, split_inputs
from .tracking import iou_matrix

MARGIN = 2.0      # crop side / face box side
BLUR_WARMUP = 10  # faces of a video seen before its own blur quantile is used
CROP_SIZE = 256   # pixels of the saved crops


def sharpness(img: np.ndarray) -> float:
    """Variance of the Laplacian of the face, resized to 128 px (independent of the face's size)."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    g = cv2.resize(g, (128, 128), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(g, cv2.CV_64F).var())


def _thumb(img: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def harvest(videos: list[str], pool: str | Path, every: int = 5, max_per_video: int | None = None,
            min_face: int = 48, min_sharpness: float = 0.0, min_score: float = 0.7, dup_diff: float = 4.0,
            end_frame: int | None = None, detector: str = DEFAULT_DETECTOR, detector_model: str | None = None,
            progress: bool = True, detect_width: int | None = None, blur_drop: float = 0.1) -> dict:
    from .video import VideoSource
    pool = Path(pool)
    (pool / "crops").mkdir(parents=True, exist_ok=True)
    manifest = pool / "manifest.jsonl"
    seen = set()
    if manifest.is_file():
        for line in manifest.read_text().splitlines():
            try:
                d = json.loads(line)
                seen.add((d["source"], d["frame"], d["face"]))
            except (ValueError, KeyError):
                continue
    if not 0 <= blur_drop < 1:
        raise FacetrackError(f"blur_drop must be in [0, 1), got {blur_drop}")
    stats = {"videos": 0, "image_groups": 0, "images": 0, "images_unreadable": 0, "frames_seen": 0,
             "frames_without_face": 0, "kept": 0, "skipped_small": 0, "skipped_blur": 0, "skipped_dup": 0,
             "already": 0}
    video_inputs, groups = split_inputs(videos)
    items = expand_inputs(video_inputs) if video_inputs else []
    if not items and not groups:
        raise FacetrackError("no video or image found in the inputs")
    det = create_detector(detector, model_path=detector_model, min_score=min_score, detect_width=detect_width)

    def take(image: np.ndarray, srcp: str, stem: str, index: int, time_s: float | None, st: dict, mf,
             dedup: bool) -> None:
        """Judge and save the faces of one frame or photo; ``st`` is its video's (or image group's) state."""
        dets = det.detect(image, time_s)
        stats["frames_seen"] += 1
        if not any(d.score >= min_score for d in dets):
            stats["frames_without_face"] += 1
        for k, (d, box) in enumerate(zip(dets, det.box_adapter.boxes(dets))):
            if max_per_video and st["kept"] >= max_per_video:
                return
            if d.score < min_score:
                continue
            if min(box[2] - box[0], box[3] - box[1]) < min_face:
                stats["skipped_small"] += 1
                continue
            cx, cy, side = square_from_box(box, MARGIN)
            m = crop_matrix(cx, cy, side, CROP_SIZE)
            crop = cv2.warpAffine(image, m, (CROP_SIZE, CROP_SIZE), borderMode=cv2.BORDER_CONSTANT)
            inner = CROP_SIZE / MARGIN
            c0 = (CROP_SIZE - inner) / 2
            face = crop[int(c0):int(c0 + inner), int(c0):int(c0 + inner)]
            sh = sharpness(face)
            st["sharp"].append(sh)
            if sh < min_sharpness or (blur_drop and len(st["sharp"]) > BLUR_WARMUP
                                      and sh < np.quantile(st["sharp"], blur_drop)):
                stats["skipped_blur"] += 1
                continue
            th = _thumb(face)
            last = st["last"]
            already = (srcp, index, k) in seen  # kept by an earlier run: it still counts for duplicates
            if not already and dedup and any(iou_matrix(b, box)[0, 0] > 0.5 and np.abs(t - th).mean() < dup_diff
                                             for b, t in last):
                stats["skipped_dup"] += 1
                continue
            st["last"] = [(b, t) for b, t in last if iou_matrix(b, box)[0, 0] <= 0.5] + [(box, th)]
            st["kept"] += 1
            if already:
                stats["already"] += 1
                continue
            name = f"crops/{stem}_{index:07d}_{k}.jpg"
            cv2.imwrite(str(pool / name), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
            fb = [(box[0] - cx) * CROP_SIZE / side + (CROP_SIZE - 1) / 2,
                  (box[1] - cy) * CROP_SIZE / side + (CROP_SIZE - 1) / 2,
                  (box[2] - cx) * CROP_SIZE / side + (CROP_SIZE - 1) / 2,
                  (box[3] - cy) * CROP_SIZE / side + (CROP_SIZE - 1) / 2]
            mf.write(json.dumps({"source": srcp, "frame": index, "time_s": None if time_s is None else round(time_s, 4),
                                 "face": k, "box": [round(float(v), 2) for v in box],
                                 "det_score": round(d.score, 4), "sharpness": round(sh, 1),
                                 "file": name, "crop_box": [round(v, 2) for v in fb]}) + "\n")
            mf.flush()
            seen.add((srcp, index, k))
            stats["kept"] += 1

    def fresh() -> dict:
        return {"kept": 0, "sharp": [], "last": []}  # sharpness so far (its own blur scale), previous kept crops

    with open(manifest, "a") as mf, contextlib.closing(det):
        for src, _ in items:
            srcp = str(Path(src).resolve()) if Path(src).exists() else src
            stem = hashlib.sha1(srcp.encode()).hexdigest()[:10]
            st = fresh()
            prog = Progress(end_frame, f"harvest {Path(src).name}", "frames") if progress else None
            with VideoSource(src) as vs:
                for vf in vs:
                    if end_frame is not None and vf.index >= end_frame:
                        break
                    if prog:
                        prog.update(1, kept=st["kept"])
                    if vf.index % every:
                        continue
                    take(vf.image, srcp, stem, vf.index, vf.time_s, st, mf, dedup=True)
                    if max_per_video and st["kept"] >= max_per_video:
                        break
            if prog:
                prog.close(kept=st["kept"])
            stats["videos"] += 1
        for name, paths in groups:  # photos: each its own frame 0; blur judged within the group; no duplicates
            st = fresh()
            prog = Progress(len(paths), f"harvest {Path(name).name}", "images") if progress else None
            for p in paths:
                if prog:
                    prog.update(1, kept=st["kept"])
                img = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if img is None:
                    stats["images_unreadable"] += 1
                    continue
                stats["images"] += 1
                srcp = str(p.resolve())
                take(img, srcp, hashlib.sha1(srcp.encode()).hexdigest()[:10], 0, None, st, mf, dedup=False)
                if max_per_video and st["kept"] >= max_per_video:
                    break
            if prog:
                prog.close(kept=st["kept"])
            stats["image_groups"] += 1
    total = sum(1 for _ in open(manifest))
    return {"pool": str(pool), "entries": total, **stats}
