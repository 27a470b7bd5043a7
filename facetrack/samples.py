"""A synthetic demo clip with known motion, made from public-domain photographs that ship in PyPI packages.

The face is scikit-image's ``astronaut`` (NASA portrait of Eileen Collins, public domain). It is pasted on a
textured background with a known similarity transform per frame: still, moving/scaling/rotating, still.
A second face (the same photograph mirrored and tinted) enters and leaves. A JSON file beside the clip stores
every frame's 2x3 transform per face, so the true motion of any point of the photograph is known.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .errors import FacetrackError

# region of the astronaut photograph around the face (x0, y0, x1, y1) in its 512x512 pixels
PATCH_BOX = (120, 30, 330, 240)
# the box of the face's 68 landmarks inside that patch (the default model on the photograph, 3 re-crops)
FACE_BOX_IN_PATCH = (56.0, 55.0, 154.0, 149.0)


def astronaut_bgr() -> np.ndarray:
    try:
        from skimage import data
    except ImportError:
        raise FacetrackError("the sample clip needs scikit-image (pip install 'facetrack[demo]')") from None
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@dataclass
class ClipSpec:
    width: int = 640
    height: int = 360
    fps: int = 25
    seconds: float = 8.0
    noise: float = 3.0          # per-frame Gaussian sensor noise (std, grey levels)
    second_face: bool = True
    audio: bool = False
    seed: int = 0


def _similarity(cx, cy, scale, angle_deg, patch_wh) -> np.ndarray:
    """2x3 matrix taking patch pixels to frame pixels: patch centre -> (cx, cy), scaled and rotated."""
    pw, ph = patch_wh
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a) * scale, np.sin(a) * scale
    m = np.array([[c, -s, 0.0], [s, c, 0.0]])
    m[:, 2] = np.array([cx, cy]) - m[:, :2] @ np.array([(pw - 1) / 2, (ph - 1) / 2])
    return m


def face1_path(t: float, spec: ClipSpec) -> tuple[float, float, float, float]:
    """(cx, cy, scale, angle) of the main face at time t: still 0-2 s, moving 2-5.5 s, still after."""
    w, h = spec.width, spec.height
    base = (w * 0.33, h * 0.5, 1.0, 0.0)
    if t < 2.0:
        return base
    u = min((t - 2.0) / 3.5, 1.0)
    e = 0.5 - 0.5 * np.cos(np.pi * u)  # ease in and out
    cx = base[0] + w * 0.18 * e + 18 * np.sin(2 * np.pi * u)
    cy = base[1] - h * 0.08 * np.sin(np.pi * u)
    return cx, cy, 1.0 - 0.25 * e, 12.0 * np.sin(np.pi * u)


def face2_path(t: float, spec: ClipSpec) -> tuple[float, float, float, float] | None:
    """The second face slides in from the right at 3 s and out again by 6.5 s."""
    if not spec.second_face or not 3.0 <= t <= 6.5:
        return None
    w, h = spec.width, spec.height
    u = (t - 3.0) / 3.5
    x_in, x_mid = w + 90, w * 0.8
    cx = x_in + (x_mid - x_in) * min(u * 3, 1) if u < 2 / 3 else x_mid + (x_in - x_mid) * (u - 2 / 3) * 3
    return cx, h * 0.45, 0.8, -5.0


def make_clip(path: str | Path, spec: ClipSpec | None = None) -> Path:
    """Write the clip (H.264 mp4) and ``<path>.json`` with per-frame transforms; returns the clip path."""
    import av
    spec = spec or ClipSpec()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    src = astronaut_bgr()
    x0, y0, x1, y1 = PATCH_BOX
    patch = src[y0:y1, x0:x1].copy()
    ph, pw = patch.shape[:2]
    yy, xx = np.mgrid[0:ph, 0:pw]
    mask = np.clip(1.6 - np.hypot((xx - pw / 2) / (pw * 0.45), (yy - ph / 2) / (ph * 0.5)) * 1.6, 0, 1)[..., None]
    patch2 = cv2.flip(patch, 1)
    patch2 = cv2.addWeighted(patch2, 0.75, np.full_like(patch2, (40, 90, 160)), 0.25, 0)
    w, h = spec.width, spec.height
    gy, gx = np.mgrid[0:h, 0:w]
    bg = np.stack([60 + 40 * np.sin(gx / 37.0) + 20 * np.cos(gy / 23.0), 80 + 30 * np.cos(gx / 51.0),
                   90 + 25 * np.sin((gx + gy) / 61.0)], -1).astype(np.float32)
    n = int(round(spec.seconds * spec.fps))
    truth = {"fps": spec.fps, "width": w, "height": h, "patch_box": PATCH_BOX, "frames": []}
    fx0, fy0, fx1, fy1 = FACE_BOX_IN_PATCH
    face_corners = {1: np.array([(fx0, fy0), (fx1, fy0), (fx1, fy1), (fx0, fy1)]),  # the second face is mirrored
                    2: np.array([(pw - 1 - fx1, fy0), (pw - 1 - fx0, fy0), (pw - 1 - fx0, fy1), (pw - 1 - fx1, fy1)])}
    container = av.open(str(out), "w")
    vs = container.add_stream("libx264", rate=spec.fps)
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    vs.options = {"crf": "18", "preset": "veryfast", "g": str(2 * spec.fps)}  # a keyframe every 2 s
    aus = container.add_stream("aac", rate=44100) if spec.audio else None
    try:
        for i in range(n):
            t = i / spec.fps
            frame = bg.copy()
            rec = {"t": t, "faces": []}
            for fid, (p, ppatch) in enumerate(((face1_path(t, spec), patch), (face2_path(t, spec), patch2))):
                if p is None:
                    continue
                m = _similarity(*p, (pw, ph))
                warped = cv2.warpAffine(ppatch, m, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
                alpha = cv2.warpAffine(mask.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
                frame = frame * (1 - alpha) + warped * alpha
                c = face_corners[fid + 1] @ m[:, :2].T + m[:, 2]
                box = [float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()), float(c[:, 1].max())]
                rec["faces"].append({"id": fid + 1, "matrix": m.tolist(), "box": [round(v, 2) for v in box]})
            frame += rng.normal(0, spec.noise, frame.shape)
            img = np.clip(frame, 0, 255).astype(np.uint8)
            vf = av.VideoFrame.from_ndarray(img, format="bgr24")
            vf.pts = i
            vf.time_base = Fraction(1, spec.fps)
            for pkt in vs.encode(vf):
                container.mux(pkt)
            truth["frames"].append(rec)
        for pkt in vs.encode(None):
            container.mux(pkt)
        if aus is not None:
            _write_tone(container, aus, spec.seconds)
    finally:
        container.close()
    Path(str(out) + ".json").write_text(json.dumps(truth))
    return out


def _write_tone(container, stream, seconds: float) -> None:
    import av
    rate = 44100
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    fs = stream.codec_context.frame_size or 1024
    for k in range(0, len(wave) - fs + 1, fs):
        fr = av.AudioFrame.from_ndarray(wave[None, k:k + fs], format="fltp", layout="mono")
        fr.sample_rate = rate
        fr.pts = k
        for pkt in stream.encode(fr):
            container.mux(pkt)
    for pkt in stream.encode(None):
        container.mux(pkt)


def load_truth(clip: str | Path) -> dict:
    return json.loads(Path(str(clip) + ".json").read_text())


def true_points(truth: dict, frame: int, face_id: int, patch_points: np.ndarray) -> np.ndarray | None:
    """Where points given in patch pixels are in frame `frame` (None when that face is not on screen)."""
    for f in truth["frames"][frame]["faces"]:
        if f["id"] == face_id:
            m = np.array(f["matrix"])
            return np.asarray(patch_points, dtype=np.float64) @ m[:, :2].T + m[:, 2]
    return None
