"""Generated media for reliability tests (no binary fixtures)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(path: Path, n: int = 20, size=(160, 120), fps: int = 25, codec: str = "libx264",
                pix_fmt: str = "yuv420p", times: list[float] | None = None, image_fn=None, audio: bool = False,
                rotation: int | None = None) -> Path:
    w, h = size
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if times is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            s.set_display_rotation(rotation)
        a = c.add_stream("aac", rate=22050) if audio else None
        for i in range(n):
            img = image_fn(i) if image_fn else np.full((h, w, 3), (i * 10) % 256, np.uint8)
            fr = av.VideoFrame.from_ndarray(img, format="bgr24")
            if times is not None:
                fr.pts, fr.time_base = int(round(times[i] * 1000)), Fraction(1, 1000)
            else:
                fr.pts, fr.time_base = i, Fraction(1, fps)
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
        if a is not None:
            write_tone(c, a, n / fps)
    return path


def write_tone(c, stream, seconds: float) -> None:
    rate = stream.codec_context.sample_rate
    wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
    fs = stream.codec_context.frame_size or 1024
    for k in range(0, len(wave) - fs + 1, fs):
        fr = av.AudioFrame.from_ndarray(wave[None, k:k + fs], format="fltp", layout="mono")
        fr.sample_rate, fr.pts = rate, k
        for p in stream.encode(fr):
            c.mux(p)
    for p in stream.encode(None):
        c.mux(p)


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w") as c:
        write_tone(c, c.add_stream("aac", rate=22050), seconds)
    return path
