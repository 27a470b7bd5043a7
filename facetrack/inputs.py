"""What the commands read, listed in one place: image and video files, folders, globs, list files and URLs.

- :func:`image_paths`: images for ``facetrack predict`` (files, and folders' image files recursively).
- :func:`expand_inputs`: videos for ``facetrack batch`` and ``harvest`` (files, folders' video files, globs, ``.txt``
  lists of paths or URLs, URLs and ``lavfi:`` graphs), each with the relative name its outputs take.
- :func:`split_inputs`: ``facetrack harvest``'s mix of videos and still images (folders, image-list CSVs).
One set of image suffixes (the training data reader's) and one of video suffixes.
"""
from __future__ import annotations

import csv
import glob
import re
from pathlib import Path

from pipnet_model.datasets import IMAGE_EXTS as _DATASET_IMAGE_EXTS
from pipnet_model.datasets import csv_image_base

from .errors import FacetrackError

IMAGE_EXTS = frozenset(_DATASET_IMAGE_EXTS)
VIDEO_EXTS = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"})


def image_paths(inputs: list[str]) -> list[tuple[Path, Path]]:
    """(path, name for outputs): files as given (their file name); folders give their image files (by suffix,
    recursively, sorted; named by their path inside the folder, so equal names in subfolders stay apart). A missing
    path is an error."""
    out: list[tuple[Path, Path]] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            out += [(q, q.relative_to(p)) for q in sorted(p.rglob("*"))
                    if q.is_file() and q.suffix.lower() in IMAGE_EXTS]
        elif p.is_file():
            out.append((p, Path(p.name)))
        else:
            raise FacetrackError(f"no such file or folder: {s}")
    return out


def expand_inputs(inputs: list[str]) -> list[tuple[str, str]]:
    """(source, relative output stem) for files, folders (searched for videos), globs and list files
    (.txt with one path or URL per line). Relative stems mirror the input's path below its folder."""
    out: list[tuple[str, str]] = []

    def add_file(p: Path, base: Path | None) -> None:
        rel = p.relative_to(base) if base is not None else Path(p.name)
        out.append((str(p), str(rel.with_suffix(""))))

    for item in inputs:
        if "://" in item or item.startswith("lavfi:"):
            out.append((item, _url_stem(item)))
            continue
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in VIDEO_EXTS:
                    add_file(f, p)
        elif p.suffix.lower() == ".txt" and p.is_file():
            for line in p.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    out += expand_inputs([line])
        elif any(c in item for c in "*?["):
            for f in sorted(glob.glob(item, recursive=True)):
                if Path(f).is_file():
                    add_file(Path(f), None)
        else:
            out.append((item, p.with_suffix("").name))  # missing files are reported per video as failed
    seen, uniq = set(), []
    for src, rel in out:
        r, k = rel, 1
        while r in seen:
            k += 1
            r = f"{rel}_{k}"
        seen.add(r)
        uniq.append((src, r))
    return uniq


def _url_stem(url: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1])[:80] or "stream"


def image_list_csv(path: Path) -> list[Path]:
    """The ``image`` column of a CSV (other columns, labels included, ignored), resolved as the dataset reader does:
    beside the CSV, or in an ``images/`` folder there."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or "image" not in [c.strip() for c in rows[0]]:
        raise FacetrackError(f"{path}: an image list CSV needs an 'image' column")
    col = [c.strip() for c in rows[0]].index("image")
    base = csv_image_base(path)
    return [base / r[col] for r in rows[1:] if len(r) > col and r[col].strip()]


def split_inputs(inputs: list[str]) -> tuple[list[str], list[tuple[str, list[Path]]]]:
    """Videos (for ``expand_inputs``) and groups of still images: a folder's images are one group (its videos
    go with the videos), an image-list CSV one group, loose image files one group together."""
    videos, groups, loose = [], [], []
    for item in inputs:
        p = Path(item)
        if p.suffix.lower() == ".csv" and p.is_file():
            groups.append((str(p), image_list_csv(p)))
        elif p.is_file() and p.suffix.lower() in IMAGE_EXTS:
            loose.append(p)
        elif p.is_dir():
            imgs = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
            if imgs:
                groups.append((str(p), imgs))
            videos.append(item)
        else:
            videos.append(item)
    if loose:
        groups.append(("images", loose))
    return videos, groups
