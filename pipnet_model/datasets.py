"""Landmark dataset readers. A dataset spec is ``KIND:PATH``:

=================  =====================================================================================
``csv:FILE``       ``image,x0,y0,...`` (columns found by header; images beside the CSV or in ``images/``)
``pts:DIR``        300-W style: images with ``.pts`` files of the same stem (searched recursively)
``wflw:FILE``      WFLW text: 196 coords, [4 box values, 6 attributes,] image path (relative to images dir)
``cofw:FILE.mat``  COFW: images, ``phis`` (x 29, y 29, occlusion 29) inside the .mat
``aflw:FILE.mat``  AFLW ``AFLWinfo_release.mat``: ``data`` (x 19, y 19), ``nameList`` (relative to images dir)
``pseudo:DIR``     a pseudo-label set written by STC (``labels.csv`` in the csv layout, with images)
=================  =====================================================================================

``images`` overrides the folder image paths are relative to.

Coordinates: every reader returns 0-based pixel centres (OpenCV's: the centre of the top-left pixel is (0, 0)).
Labels in another convention are converted when read: ``.pts``, COFW and AFLW ``.mat`` files are 1-based (1 is
subtracted); a CSV is taken as 0-based unless its data set is one in ``CONVENTIONS`` (found by the CSV's folder name,
e.g. ``.../w300/train.csv``) or the spec says where its labels sit: ``csv:FILE?offset=DX,DY`` (the labels minus the
0-based centres, in pixels, subtracted at load; ``?offset=1`` for 1-based labels, ``?offset=0`` to read a known
data set's labels raw). ``?points=17-67`` (any kind): only these points are labelled; the others still shape the
crop but are no training target (e.g. a jaw drawn on another convention's outline).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import PIPNetError
from .schemes import SCHEMES, Scheme

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


@dataclass
class Record:
    image: Path | np.ndarray  # a file, or the pixels (BGR) for formats that embed images
    points: np.ndarray        # (N, 2) float32, pixels
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.image) if isinstance(self.image, Path) else str(self.meta.get("name", "<array>"))


@dataclass
class LandmarkSet:
    records: list[Record]
    scheme: Scheme
    source: str = ""

    def __len__(self) -> int:
        return len(self.records)

    def __add__(self, other: "LandmarkSet") -> "LandmarkSet":
        if other.scheme.num_points != self.scheme.num_points:
            raise PIPNetError(f"cannot mix {self.scheme.num_points}- and {other.scheme.num_points}-point datasets")
        return LandmarkSet(self.records + other.records, self.scheme, f"{self.source}+{other.source}")


def read_image(rec_or_path: Record | Path | str | np.ndarray) -> np.ndarray:
    """BGR uint8 image; gray images become 3-channel."""
    src = rec_or_path.image if isinstance(rec_or_path, Record) else rec_or_path
    if isinstance(src, np.ndarray):
        img = src
    else:
        img = cv2.imread(str(src), cv2.IMREAD_COLOR)
        if img is None:
            raise PIPNetError(f"cannot read image {src}")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


@dataclass(frozen=True)
class Convention:
    """Where a data set's labels sit against the 0-based pixel centres of the pixels they mark, in pixels of its
    images (subtracted at load), and the evidence (docs/accuracy.md, fourteenth session; benchmarks/label_offsets.py)."""
    offset: tuple[float, float]
    evidence: str


ONE_BASED = (1.0, 1.0)
CONVENTIONS: dict[str, Convention] = {
    # benchmarks/label_offsets.py: label - mirror-averaged prediction, fitted as c + a x IOD over the faces (c: the
    # constant in pixels, the origin's offset); the twelfth session's default / dlib as the instrument
    "w300": Convention(ONE_BASED, "300-W labels, whose .pts files are 1-based (MATLAB; the pts: reader subtracts 1 too): "
                       "c_x +1.09 px (se 0.11) / dlib +2.13 (0.17)"),
    "lfpw": Convention(ONE_BASED, "300-W labels as w300: c_x +1.11 px (se 0.07), c_y +1.00 (0.05) / dlib +1.53, +1.74"),
    "ytf68": Convention(ONE_BASED, "integer labels sitting +0.90 px right of the mirror-averaged prediction "
                        "(dlib +1.27), c_y +0.42 px (se 0.02) / dlib +1.00 (0.07): read as 1-based"),
    "aflw2000": Convention((0.0, 0.0), "integer labels sitting -0.89 px left of the mirror-averaged prediction (dlib "
                           "-0.73); c_x +1.0 / +1.4 px (se 0.6): not told apart from 0 on faces of one size; as given"),
}


def parse_offset(text: str) -> tuple[float, float]:
    """``"1"`` -> (1, 1); ``"0.5,1"`` -> (0.5, 1)."""
    try:
        v = [float(t) for t in text.split(",")]
    except ValueError:
        v = []
    if len(v) not in (1, 2) or not all(np.isfinite(v)):
        raise PIPNetError(f"offset={text!r}: expected DX or DX,DY in pixels")
    return (v[0], v[-1])


def parse_points(text: str) -> list[int]:
    """``"17-67"`` -> [17, ..., 67]; ``"0,3-5"`` -> [0, 3, 4, 5]."""
    out: list[int] = []
    try:
        for part in text.split(","):
            a, _, b = part.partition("-")
            out.extend(range(int(a), int(b or a) + 1))
    except ValueError:
        out = []
    if not out or min(out) < 0:
        raise PIPNetError(f"points={text!r}: expected point numbers and ranges, e.g. 17-67")
    return sorted(set(out))


def csv_convention(path: str | Path) -> tuple[float, float]:
    """The offset a CSV's labels carry by default: its folder's entry in ``CONVENTIONS``, else none."""
    c = CONVENTIONS.get(Path(path).resolve().parent.name)
    return c.offset if c else (0.0, 0.0)


def _scheme_for(n: int) -> Scheme:
    if str(n) in SCHEMES:
        return SCHEMES[str(n)]
    raise PIPNetError(f"no built-in scheme has {n} points (pass a custom scheme)")


def csv_image_base(path: str | Path, images: str | Path | None = None) -> Path:
    """The folder a CSV's ``image`` paths are relative to: ``images`` if given, else an ``images/`` folder beside
    the CSV, else the CSV's own folder."""
    p = Path(path)
    return Path(images) if images else (p.parent / "images" if (p.parent / "images").is_dir() else p.parent)


def read_csv(path: str | Path, images: str | Path | None = None, scheme: Scheme | None = None,
             offset: tuple[float, float] | None = None) -> LandmarkSet:
    """A CSV data set, converted to 0-based pixel centres: ``offset`` (where the labels sit against them, pixels) is
    subtracted; None: the data set's entry in ``CONVENTIONS``, or 0."""
    p = Path(path)
    if not p.is_file():
        raise PIPNetError(f"CSV dataset not found: {p}")
    with open(p, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise PIPNetError(f"{p} is empty")
    header = [h.strip() for h in rows[0]]
    if "image" not in header:
        raise PIPNetError(f"{p}: no 'image' column in the header")
    xs = {int(m.group(1)): i for i, h in enumerate(header) if (m := re.fullmatch(r"x(\d+)", h))}
    ys = {int(m.group(1)): i for i, h in enumerate(header) if (m := re.fullmatch(r"y(\d+)", h))}
    n = len(xs)
    if n == 0 or sorted(xs) != list(range(n)) or sorted(ys) != list(range(n)):
        raise PIPNetError(f"{p}: header needs columns x0,y0..x(N-1),y(N-1)")
    base = csv_image_base(p, images)
    if offset is None:
        offset = csv_convention(p)
    shift = np.asarray(offset, dtype=np.float32)
    icol = header.index("image")
    recs = []
    for ln, r in enumerate(rows[1:], start=2):
        if not r or not "".join(r).strip():
            continue
        try:
            pts = np.array([[float(r[xs[k]]), float(r[ys[k]])] for k in range(n)], dtype=np.float32)
        except (ValueError, IndexError):
            raise PIPNetError(f"{p}:{ln}: bad coordinate row") from None
        recs.append(Record(base / r[icol], pts - shift if shift.any() else pts))
    return LandmarkSet(recs, scheme or _scheme_for(n), f"csv:{p}")


def read_pts_file(path: str | Path) -> np.ndarray:
    """Points from a 300-W .pts file (``version: 1``, ``n_points: N``, ``{ x y ... }``); converts 1-based to 0-based."""
    p = Path(path)
    text = p.read_text(errors="replace")
    m = re.search(r"n_points\s*:\s*(\d+)", text)
    body = re.search(r"\{(.*)\}", text, re.S)
    if not m or not body:
        raise PIPNetError(f"{p}: not a .pts file (needs n_points and a {{ ... }} block)")
    vals = body.group(1).split()
    n = int(m.group(1))
    if len(vals) != 2 * n:
        raise PIPNetError(f"{p}: n_points says {n} but the block holds {len(vals) / 2:g} points")
    return np.array(vals, dtype=np.float32).reshape(n, 2) - 1.0  # 300-W .pts coordinates are 1-based


def read_pts_dir(path: str | Path, images: str | Path | None = None, scheme: Scheme | None = None) -> LandmarkSet:
    d = Path(path)
    if not d.is_dir():
        raise PIPNetError(f"pts dataset folder not found: {d}")
    recs = []
    for pts in sorted(d.rglob("*.pts")):
        img = next((pts.with_suffix(e) for e in IMAGE_EXTS if pts.with_suffix(e).is_file()), None)
        if img is None and images:
            img = next((Path(images) / (pts.stem + e) for e in IMAGE_EXTS if (Path(images) / (pts.stem + e)).is_file()), None)
        if img is None:
            continue
        recs.append(Record(img, read_pts_file(pts)))
    if not recs:
        raise PIPNetError(f"{d}: no image with a .pts file found")
    n = len(recs[0].points)
    if any(len(r.points) != n for r in recs):
        raise PIPNetError(f"{d}: .pts files disagree on the number of points")
    return LandmarkSet(recs, scheme or _scheme_for(n), f"pts:{d}")


def read_wflw(path: str | Path, images: str | Path | None = None) -> LandmarkSet:
    p = Path(path)
    if not p.is_file():
        raise PIPNetError(f"WFLW list not found: {p}")
    base = Path(images) if images else p.parent
    recs = []
    for ln, line in enumerate(p.read_text().splitlines(), start=1):
        f = line.split()
        if not f:
            continue
        if len(f) not in (197, 207):
            raise PIPNetError(f"{p}:{ln}: a WFLW line has 207 fields (or 197 without box and attributes), "
                              f"this one {len(f)}")
        try:
            pts = np.array(f[:196], dtype=np.float32).reshape(98, 2)
            meta: dict = {}
            if len(f) == 207:
                names = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")
                meta = {"box": [float(v) for v in f[196:200]], **dict(zip(names, (int(v) for v in f[200:206])))}
        except ValueError:
            raise PIPNetError(f"{p}:{ln}: bad number") from None
        recs.append(Record(base / f[-1], pts, meta))
    return LandmarkSet(recs, SCHEMES["98"], f"wflw:{p}")


def _loadmat(p: Path) -> dict:
    try:
        from scipy.io import loadmat
    except ImportError:
        raise PIPNetError(f"{p}: reading MATLAB files needs scipy (pip install scipy)") from None
    try:
        return loadmat(str(p))
    except NotImplementedError:  # MATLAB v7.3 = HDF5
        try:
            import h5py
        except ImportError:
            raise PIPNetError(f"{p} is a MATLAB v7.3 file; reading it needs h5py (pip install h5py)") from None
        f = h5py.File(str(p), "r")
        return {k: f[k] for k in f.keys()} | {"__h5__": f}
    except Exception as e:  # noqa: BLE001
        raise PIPNetError(f"cannot read MATLAB file {p}: {e}") from None


def read_cofw(path: str | Path) -> LandmarkSet:
    """COFW .mat: image cells ``IsTr``/``IsT`` and shapes ``phisTr``/``phisT`` (x 29, y 29, occlusion 29), 1-based."""
    p = Path(path)
    if not p.is_file():
        raise PIPNetError(f"COFW file not found: {p}")
    m = _loadmat(p)
    ik = next((k for k in ("IsTr", "IsT") if k in m), None)
    pk = next((k for k in ("phisTr", "phisT") if k in m), None)
    if ik is None or pk is None:
        raise PIPNetError(f"{p}: expected IsTr/phisTr or IsT/phisT in the COFW file")
    h5 = m.get("__h5__")
    if h5 is not None:
        phis = np.array(m[pk]).T
        imgs = [np.array(h5[ref]).T for ref in np.array(m[ik]).ravel()]
    else:
        phis = np.asarray(m[pk], dtype=np.float64)
        imgs = [np.asarray(c) for c in np.asarray(m[ik]).ravel()]
    if phis.shape[1] < 58 or len(imgs) != len(phis):
        raise PIPNetError(f"{p}: COFW shapes must be (M, 87) with one image each")
    recs = []
    for i, (img, ph) in enumerate(zip(imgs, phis)):
        img = img.astype(np.uint8)
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        pts = np.stack([ph[:29], ph[29:58]], 1).astype(np.float32) - 1.0
        recs.append(Record(img, pts, {"name": f"{p.name}#{i}", "occluded": ph[58:87].astype(int).tolist()
                                      if len(ph) >= 87 else None}))
    return LandmarkSet(recs, SCHEMES["29"], f"cofw:{p}")


def read_aflw(path: str | Path, images: str | Path | None = None) -> LandmarkSet:
    """AFLW ``AFLWinfo_release.mat``: ``data`` rows of x (19) then y (19), 1-based; ``nameList`` image paths."""
    p = Path(path)
    if not p.is_file():
        raise PIPNetError(f"AFLW file not found: {p}")
    m = _loadmat(p)
    if "data" not in m or "nameList" not in m:
        raise PIPNetError(f"{p}: expected 'data' and 'nameList' in the AFLW file")
    data = np.asarray(m["data"], dtype=np.float64)
    names = [str(np.asarray(c).ravel()[0]) for c in np.asarray(m["nameList"]).ravel()]
    if data.shape[1] != 38 or len(names) != len(data):
        raise PIPNetError(f"{p}: AFLW data must be (M, 38) with one name each")
    base = Path(images) if images else p.parent
    recs = [Record(base / nm, np.stack([d[:19], d[19:]], 1).astype(np.float32) - 1.0) for nm, d in zip(names, data)]
    return LandmarkSet(recs, SCHEMES["19"], f"aflw:{p}")


def read_pseudo(path: str | Path) -> LandmarkSet:
    d = Path(path)
    f = d / "labels.csv" if d.is_dir() else d
    if not f.is_file():
        raise PIPNetError(f"pseudo-label set not found: {f}")
    ds = read_csv(f, images=f.parent, offset=(0.0, 0.0))  # written by STC: model outputs, 0-based
    return LandmarkSet(ds.records, ds.scheme, f"pseudo:{d}")


KINDS = {"csv", "pts", "wflw", "cofw", "aflw", "pseudo"}


def split_weight(spec: str) -> tuple[str, float]:
    """``KIND:PATH@W`` -> (``KIND:PATH``, W): W is how many times per epoch each face is drawn on average
    (0.5 = half the faces, a fresh half each epoch; 2 = every face twice). No suffix means 1."""
    base, sep, tail = spec.rpartition("@")
    if not sep:
        return spec, 1.0
    try:
        w = float(tail)
    except ValueError:
        return spec, 1.0  # an '@' that belongs to the path
    if not (w > 0 and np.isfinite(w)):
        raise PIPNetError(f"dataset weight in {spec!r} must be a positive number")
    return base, w


def load_dataset(spec: str, images: str | Path | None = None) -> LandmarkSet:
    """A dataset from a ``KIND:PATH`` spec (see the module docstring); a bare .csv path means ``csv:``."""
    spec, _, query = spec.partition("?")
    offset, points = None, None
    for item in filter(None, query.split("&")):
        key, eq, val = item.partition("=")
        if key == "offset" and eq:
            offset = parse_offset(val)
        elif key == "points" and eq:
            points = parse_points(val)
        else:
            raise PIPNetError(f"dataset spec option {item!r}: the options are offset=DX[,DY] and points=A-B[,C...]")
    kind, sep, path = spec.partition(":")
    if not sep or kind not in KINDS:
        if spec.endswith(".csv"):
            kind, path = "csv", spec
        else:
            raise PIPNetError(f"dataset spec {spec!r} must look like KIND:PATH with KIND one of {', '.join(sorted(KINDS))}")
    if offset is not None and kind != "csv":
        raise PIPNetError(f"offset= is for csv: data sets ({kind}: files have a known convention)")
    if kind == "csv":
        ds = read_csv(path, images, offset=offset)
    elif kind == "pts":
        ds = read_pts_dir(path, images)
    elif kind == "wflw":
        ds = read_wflw(path, images)
    elif kind == "cofw":
        ds = read_cofw(path)
    elif kind == "aflw":
        ds = read_aflw(path, images)
    else:
        ds = read_pseudo(path)
    if not ds.records:
        raise PIPNetError(f"dataset {spec} holds no faces")
    if points is not None:
        n = ds.scheme.num_points
        if max(points) >= n:
            raise PIPNetError(f"points={max(points)}: the data set has {n} points (0-{n - 1})")
        mask = np.zeros(n, dtype=bool)
        mask[points] = True
        for r in ds.records:
            r.meta["mask"] = mask
    return ds
