"""Scenes with ground truth made from labelled faces, for the benchmarks (benchmarks/) and the tests.

- :func:`paste` puts a labelled face into a frame at a size and place (soft edge) and returns its landmark box;
  :func:`backgrounds` are scikit-image's photographs (needs scikit-image, the ``dev`` extra).
- :func:`make_clip`: one face moving, turning and zooming smoothly over ``FRAMES`` frames (640 x 360, 25 frames/s,
  H.264 CRF 28), its 68 points per frame in ``CLIP.truth.csv`` (:func:`write_points` / :func:`read_points`): the
  video ground truth of benchmarks/video_truth.py.
- :func:`render_scene`: people walking, crossing, leaving and coming back, cut away from or hidden (:data:`SCENARIOS`),
  each person's landmark box and visible share per frame in ``CLIP.truth.json``: the identity benchmark's clips
  (benchmarks/identity.py). :func:`people` groups a ytf68-style CSV's records by person.
- :func:`render_grid` (a video call's gallery) and :func:`render_crowd` (a wide street shot): many small faces at
  1920 x 1080, with every face's box, visible share and 68 points per frame (benchmarks/crowds.py).

Scorers of these clips are in :mod:`facetrack.scoring`.
"""
from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from pipnet_model.geometry import landmark_box
from pipnet_model.datasets import load_dataset, read_image

W, H, FPS = 640, 360, 25
FRAMES = 60                   # a landmark clip's length (make_clip)
SECONDS, SIZE = 8.0, 120.0    # an identity scene's length and face width (render_scene)
BACKGROUNDS = ("brick", "grass", "gravel", "coffee", "rocket", "page", "text", "coins", "horse")
SCENARIOS = ("cross", "leave_return", "cut", "swap", "occlude")


def backgrounds(w: int, h: int) -> list[np.ndarray]:
    """The scikit-image photographs of BACKGROUNDS, w x h, BGR (needs scikit-image)."""
    from skimage import data
    out = []
    for n in BACKGROUNDS:
        img = getattr(data, n)()
        img = img.astype(np.uint8) * (255 if img.dtype == bool else 1)
        img = img if img.ndim == 3 else np.stack([img] * 3, -1)
        out.append(cv2.resize(cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR), (w, h), interpolation=cv2.INTER_AREA))
    return out


def paste(frame: np.ndarray, face: np.ndarray, pts: np.ndarray, size: float, at: tuple[float, float]) -> np.ndarray:
    """Paste the face (scaled so its landmark box is ``size`` wide, centred at ``at``); returns its box. Only the
    region the soft-edged crop covers is touched."""
    x0, y0, x1, y1 = landmark_box(pts)
    s = size / max(x1 - x0, 1e-6)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = 0.8 * max(x1 - x0, y1 - y0)  # the crop: 1.6 x the landmark box
    h, w = frame.shape[:2]
    r_px = half * s
    rx0, ry0 = max(int(np.floor(at[0] - r_px)), 0), max(int(np.floor(at[1] - r_px)), 0)
    rx1, ry1 = min(int(np.ceil(at[0] + r_px)) + 1, w), min(int(np.ceil(at[1] + r_px)) + 1, h)
    if rx1 > rx0 and ry1 > ry0:
        m = np.array([[s, 0, at[0] - s * cx - rx0], [0, s, at[1] - s * cy - ry0]])
        warped = cv2.warpAffine(face, m, (rx1 - rx0, ry1 - ry0), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        yy, xx = np.mgrid[ry0:ry1, rx0:rx1]
        r = np.maximum(np.abs(xx - at[0]), np.abs(yy - at[1])) / r_px
        alpha = np.clip((1.0 - r) / 0.25, 0, 1)[..., None]
        roi = frame[ry0:ry1, rx0:rx1]
        roi[:] = (roi * (1 - alpha) + warped * alpha).astype(np.uint8)
    return np.array([at[0] - s * (cx - x0), at[1] - s * (cy - y0), at[0] + s * (x1 - cx), at[1] + s * (y1 - cy)])


def _iod(pts: np.ndarray) -> float:
    """Inter-ocular distance of 68 points (outer eye corners 36 and 45)."""
    return float(np.linalg.norm(np.asarray(pts)[36] - np.asarray(pts)[45]))


def frame_matrix(t: float, face_centre, base_scale: float, phase: np.ndarray) -> np.ndarray:
    """2x3 matrix still -> frame at time t (seconds): smooth translation, rotation and zoom about the face."""
    u = 2 * np.pi * t / (FRAMES / FPS)
    tx, ty = 0.05 * W * np.sin(u + phase[0]), 0.05 * H * np.sin(0.7 * u + phase[1])
    ang = np.deg2rad(7.0 * np.sin(0.8 * u + phase[2]))
    s = base_scale * (1 + 0.06 * np.sin(1.3 * u + phase[3]))
    c, sn = np.cos(ang) * s, np.sin(ang) * s
    m = np.array([[c, -sn, 0.0], [sn, c, 0.0]])
    m[:, 2] = np.array([W / 2 + tx, H / 2 + ty]) - m[:, :2] @ np.asarray(face_centre, dtype=np.float64)
    return m


class _Clip:
    """An H.264 clip written frame by frame (BGR frames; x264 ``veryfast``; ``gop``: a keyframe every that many
    frames, default x264's own). Finalised when the ``with`` block ends."""

    def __init__(self, out: Path, w: int, h: int, crf: int, gop: int | None = None, fps: int = FPS):
        import av
        out.parent.mkdir(parents=True, exist_ok=True)
        self.c, self.fps, self.i = av.open(str(out), "w"), fps, 0
        self.st = self.c.add_stream("libx264", rate=fps)
        self.st.width, self.st.height, self.st.pix_fmt = w, h, "yuv420p"
        self.st.options = {"crf": str(crf), "preset": "veryfast",
                           **({"g": str(gop), "keyint_min": str(gop)} if gop else {})}

    def write(self, frame: np.ndarray) -> None:
        import av
        fr = av.VideoFrame.from_ndarray(frame, format="bgr24")
        fr.pts, fr.time_base = self.i, Fraction(1, self.fps)
        for pk in self.st.encode(fr):
            self.c.mux(pk)
        self.i += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            for pk in self.st.encode(None):
                self.c.mux(pk)
        finally:
            self.c.close()


def _visible(boxes: list, w: int, h: int) -> list[float]:
    """Each box's visible share, boxes in drawing order (a later one is drawn over an earlier one): inside the frame,
    less the most a later box covers of it."""
    out = []
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        area = max((x1 - x0) * (y1 - y0), 1e-6)
        inside = max(0, min(x1, w) - max(x0, 0)) * max(0, min(y1, h) - max(y0, 0)) / area
        cover = max([max(0, min(x1, b[2]) - max(x0, b[0])) * max(0, min(y1, b[3]) - max(y0, b[1])) / area
                     for b in boxes[k + 1:]] or [0.0])
        out.append(max(0.0, inside - cover))
    return out


def make_clip(image: np.ndarray, points: np.ndarray, face_px: float, out: Path, seed: int) -> Path:
    """Write ``out`` (H.264, CRF 28) and ``out.truth.csv``; returns the clip path."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, 4)
    lo, hi = points.min(0), points.max(0)
    base = face_px / max(hi[0] - lo[0], 1e-6)
    centre = (lo + hi) / 2
    rows = []
    with _Clip(out, W, H, crf=28) as clip:
        for i in range(FRAMES):
            m = frame_matrix(i / FPS, centre, base, phase)
            img = cv2.warpAffine(image, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            clip.write(np.clip(img + rng.normal(0, 3.0, img.shape), 0, 255).astype(np.uint8))
            rows.append([i, *np.round(points @ m[:, :2].T + m[:, 2], 3).reshape(-1)])
    write_points(Path(str(out) + ".truth.csv"), rows, len(points))
    return out


def write_points(path: Path, rows, n: int) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame"] + [c for k in range(n) for c in (f"x{k}", f"y{k}")])
        w.writerows(rows)


def read_points(path: Path, n: int = 68) -> dict[int, list[np.ndarray]]:
    """frame -> the faces' (n, 2) points in a CSV with frame and x0,y0,... columns (other columns ignored)."""
    out: dict[int, list[np.ndarray]] = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            try:
                p = np.array([[float(r[f"x{k}"]), float(r[f"y{k}"])] for k in range(n)])
            except (KeyError, ValueError):
                continue
            out.setdefault(int(r["frame"]), []).append(p)
    return out


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


def render_scene(name: str, seed: int, pool: list[list], bgs: list[np.ndarray], out: Path, gop: int | None = None) -> Path:
    """Write the clip and ``out.truth.json`` (per frame: [[person, x0, y0, x1, y1, visible], ...]). ``gop``: a
    keyframe every that many frames (where ``facetrack batch --chunk-seconds`` may cut; default: x264's own)."""
    rng = np.random.default_rng(seed * 100 + SCENARIOS.index(name))
    sc = scenario(name)
    who = rng.choice(len(pool), 3, replace=False)  # the people of this clip
    views = {p: rng.choice(len(pool[who[p]]), 2, replace=False) for p in range(3)}
    bg_of = rng.choice(len(bgs), 2, replace=False)
    imgs: dict = {}
    truth = []
    with _Clip(out, W, H, crf=23, gop=gop) as clip:
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
            vis = [0.0 if any(t0 <= t < t1 and h == p for t0, t1, h in sc["hides"]) else v  # a hidden face: 0
                   for (p, *_), v in zip(rows, _visible([box for _, *box in rows], W, H))]
            for t0, t1, h in sc["hides"]:  # a patch of the other background over the hidden face
                if t0 <= t < t1:
                    for p, *box in rows:
                        if p == h:
                            x0, y0, x1, y1 = (int(v) for v in box)
                            m = int(0.4 * (x1 - x0))
                            ys, xs = slice(max(y0 - m, 0), min(y1 + m, H)), slice(max(x0 - m, 0), min(x1 + m, W))
                            frame[ys, xs] = bgs[bg_of[1]][ys, xs]
            truth.append([[int(p), *[round(float(v), 2) for v in box], round(v, 3)] for (p, *box), v in zip(rows, vis)])
            clip.write(frame)
    Path(str(out) + ".truth.json").write_text(json.dumps({"scenario": name, "seed": seed, "fps": FPS,
                                                         "people": [str(Path(pool[w][0].image).stem) for w in who],
                                                         "frames": truth}))
    return out


MEETING = (1920, 1080)


def _place(frame, img, rec, iod: float, at) -> tuple[list, np.ndarray]:
    """Paste a record's face with its eyes ``iod`` pixels apart at ``at``: (its truth row's box, its points)."""
    width = iod * float(np.ptp(rec.points[:, 0])) / max(_iod(rec.points), 1e-6)  # the landmark box that gives that IOD
    box = paste(frame, img, rec.points, width, at)
    x0, y0 = rec.points.min(0)
    s = width / max(float(np.ptp(rec.points[:, 0])), 1e-6)
    pts = (rec.points - [x0, y0]) * s + box[:2]
    return [round(float(v), 2) for v in box], pts


def render_grid(rows: int, cols: int, pool: list[list], out: Path, seed: int = 0, iod: tuple[float, float] = (22, 55),
                seconds: float = 4.0, size: tuple[int, int] = MEETING, crf: int = 23) -> Path:
    """A video call's gallery: ``rows`` x ``cols`` tiles, one participant each (distinct people of ``pool``), their
    eyes ``iod`` pixels apart (drawn per tile), each swaying a little in their tile and turning to another frame of
    their own video every ~1.2 s (a new pose, as in speech). Writes the clip (H.264) and ``out.truth.json``: per
    frame ``[[person, x0, y0, x1, y1, visible, [x0, y0, x1, y1, ...68 points]], ...]``."""
    rng = np.random.default_rng(seed)
    w, h = size
    tw, th = w // cols, h // rows
    who = rng.choice(len(pool), rows * cols, replace=len(pool) < rows * cols)
    eyes = rng.uniform(iod[0], iod[1], rows * cols)
    tint = rng.integers(40, 200, (rows * cols, 3))
    phase = rng.uniform(0, 2 * np.pi, (rows * cols, 3))
    imgs: dict = {}
    truth = []
    with _Clip(out, w, h, crf) as clip:
        for i in range(int(seconds * FPS)):
            t = i / FPS
            frame = np.zeros((h, w, 3), np.uint8)
            faces = []
            for k in range(rows * cols):
                r, q = divmod(k, cols)
                frame[r * th:(r + 1) * th, q * tw:(q + 1) * tw] = tint[k]
                frame[r * th:(r + 1) * th, q * tw:q * tw + 2] = 20  # the gallery's tile borders
                frame[r * th:r * th + 2, q * tw:(q + 1) * tw] = 20
                views = pool[who[k]]
                rec = views[int((t + phase[k, 2]) / 1.2) % len(views)]
                if rec.image not in imgs:
                    imgs[rec.image] = read_image(rec)
                at = ((q + 0.5) * tw + 0.04 * tw * np.sin(1.3 * t + phase[k, 0]),
                      (r + 0.55) * th + 0.04 * th * np.sin(0.9 * t + phase[k, 1]))
                box, pts = _place(frame, imgs[rec.image], rec, eyes[k], at)
                faces.append([k, *box, 1.0, np.round(pts, 2).reshape(-1).tolist()])
            truth.append(faces)
            clip.write(frame)
    Path(str(out) + ".truth.json").write_text(json.dumps({"scene": f"grid{rows}x{cols}", "seed": seed, "fps": FPS,
                                                         "frames": truth}))
    return out


def render_crowd(pool: list[list], bgs: list[np.ndarray], out: Path, seed: int = 0, people: int = 9,
                 width: tuple[float, float] = (40, 80), frames: int = 105, size: tuple[int, int] = MEETING,
                 crf: int = 23) -> Path:
    """A wide shot of a street: ``people`` walk across a photograph at their own height, speed and size (landmark
    box ``width`` pixels), entering and leaving over ``frames`` frames, several on screen at once; a face nearer the
    camera (larger) is drawn over a farther one. Truth as :func:`render_grid`'s, with each face's visible share
    (inside the frame, not under a nearer face)."""
    rng = np.random.default_rng(seed)
    w, h = size
    who = rng.choice(len(pool), people, replace=len(pool) < people)
    sizes = rng.uniform(width[0], width[1], people)
    y = rng.uniform(0.25 * h, 0.8 * h, people)
    speed = rng.uniform(6, 14, people) * rng.choice([-1, 1], people)  # px a frame
    enter = rng.uniform(-0.6, 0.8, people) * frames  # when each enters the picture
    bg = bgs[rng.integers(len(bgs))]
    imgs: dict = {}
    truth = []
    with _Clip(out, w, h, crf) as clip:
        for i in range(frames):
            frame = bg.copy()
            rows = []
            for k in np.argsort(sizes):  # far (small) first, near drawn over them
                x = (-sizes[k] if speed[k] > 0 else w + sizes[k]) + speed[k] * (i - enter[k])
                if not -sizes[k] < x < w + sizes[k]:
                    continue
                views = pool[who[k]]
                rec = views[(i // 30 + k) % len(views)]
                if rec.image not in imgs:
                    imgs[rec.image] = read_image(rec)
                at = (x, y[k] + 3 * np.sin(0.5 * i + k))
                iod = sizes[k] * _iod(rec.points) / max(float(np.ptp(rec.points[:, 0])), 1e-6)
                box, pts = _place(frame, imgs[rec.image], rec, iod, at)
                rows.append([int(k), *box, np.round(pts, 2).reshape(-1).tolist()])
            vis = _visible([r[1:5] for r in rows], w, h)
            truth.append([[k, x0, y0, x1, y1, round(v, 3), pts] for (k, x0, y0, x1, y1, pts), v in zip(rows, vis)])
            clip.write(frame)
    Path(str(out) + ".truth.json").write_text(json.dumps({"scene": "crowd", "seed": seed, "fps": FPS,
                                                         "frames": truth}))
    return out


def render_appearances(segments: list[tuple], pool: list[list], out: Path, size: tuple[int, int] = (W, H),
                       face: float = SIZE, crf: int = 23, gop: int | None = None) -> Path:
    """People on a plain frame, cut together: ``segments`` are ``(t0, t1, person, view[, x])`` (a person of
    ``pool``, which of their frames, where across the frame: 0-1, default the middle), e.g. A, then B, then A again
    in other views. Writes the clip and ``out.truth.json`` (per frame ``[[person, x0, y0, x1, y1, 1.0]]``) for the
    people index's tests. ``gop``: a keyframe every that many frames (chunks for ``batch --chunk-seconds``)."""
    w, h = size
    end = max(seg[1] for seg in segments)
    imgs: dict = {}
    truth = []
    with _Clip(out, w, h, crf, gop=gop) as clip:
        for i in range(int(round(end * FPS))):
            t = i / FPS
            frame = np.full((h, w, 3), 110, np.uint8)
            rows = []
            for t0, t1, who, view, *x in segments:
                if t0 <= t < t1:
                    rec = pool[who][view % len(pool[who])]
                    if rec.image not in imgs:
                        imgs[rec.image] = read_image(rec)
                    at = ((x[0] if x else 0.5) * w + 8 * np.sin(1.3 * t), h / 2)
                    box = paste(frame, imgs[rec.image], rec.points, face, at)
                    rows.append([int(who), *[round(float(v), 2) for v in box], 1.0])
            truth.append(rows)
            clip.write(frame)
    Path(str(out) + ".truth.json").write_text(json.dumps({"scene": "appearances", "fps": FPS, "frames": truth}))
    return out
