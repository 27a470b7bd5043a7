"""Still images: the faces of one image (detector, landmarks with re-crops, head pose, openness), image lists from
files and folders, and the one-line-per-image JSON that ``facetrack predict --jsonl`` writes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .detectors import detect_boxes
from .errors import FacetrackError
from .types import Face

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def image_paths(inputs: list[str]) -> list[tuple[Path, Path]]:
    """(path, name for outputs): files as given (their file name); folders give their image files (by suffix,
    recursively, sorted; named by their path inside the folder, so equal names in subfolders stay apart). A missing
    path is an error."""
    out: list[tuple[Path, Path]] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            out += [(q, q.relative_to(p)) for q in sorted(p.rglob("*"))
                    if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES]
        elif p.is_file():
            out.append((p, Path(p.name)))
        else:
            raise FacetrackError(f"no such file or folder: {s}")
    return out


def faces_of_image(img: np.ndarray, detector, predictor, max_faces: int = 10, refine: int = 2) -> list[Face]:
    """Every face the detector finds, with landmarks (``refine`` re-crops), head pose and openness (68 points)."""
    dets, boxes = detect_boxes(detector, img, max_faces=max_faces)
    lms, conf = predictor.predict(img, boxes, refine=refine)
    faces = [Face(d.box, lm, c, det_score=d.score) for d, lm, c in zip(dets, lms, conf)]
    if predictor.num_points == 68:  # blinks need a track: a still has none
        from .pose import HeadPoseAnalyser, OpennessAnalyser
        pose, open_ = HeadPoseAnalyser(), OpennessAnalyser()
        for f in faces:
            open_(f)
            pose(f, frame=img)
    return faces


def face_json(face: Face) -> dict:
    """One face of ``predict --jsonl``: box [x0, y0, x1, y1], landmarks [[x, y], ...], and the record's scalars."""
    r = face.record()
    keep = ("det_score", "lm_score", "yaw", "pitch", "roll", "eye_open_left", "eye_open_right", "mouth_open")
    return {"box": [round(float(v), 2) for v in face.box],
            "landmarks": np.round(face.landmarks.astype(np.float64), 2).tolist(), **{k: r[k] for k in keep}}
