"""MediaPipe BlazeFace (short range) through MediaPipe Tasks' FaceDetector."""
from __future__ import annotations

import contextlib
import os
import sys
import types
from pathlib import Path

import numpy as np

from ..assets import resolve_detector_model
from ..errors import FacetrackError
from ..types import Detection
from . import BoxAdapter


@contextlib.contextmanager
def quiet_native_stderr():
    """MediaPipe/TFLite's C++ code logs INFO/WARNING lines straight to file descriptor 2; hide them while it
    starts, runs its first frame and shuts down, so a user sees facetrack's own messages only."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _Deferred(types.ModuleType):
    """Stands in for a module MediaPipe imports and facetrack never uses (matplotlib, matplotlib.pyplot,
    sounddevice) until something reads from it; then the stand-ins of its package leave sys.modules, the real
    modules are imported, and every read is passed on to the real module."""

    def __getattr__(self, attr):  # only for names the stand-in lacks: anything but the module basics
        return getattr(_real(self.__name__), attr)


def _real(name: str):
    import importlib
    root = name.split(".")[0]
    for n in [k for k, v in list(sys.modules.items()) if isinstance(v, _Deferred) and k.split(".")[0] == root]:
        del sys.modules[n]
    return importlib.import_module(name)


def _defer_sounddevice() -> None:
    """MediaPipe's tasks package imports its audio recorder, which imports sounddevice (PortAudio): ~35 ms of every
    start (2026-12-02, the Zen 5 VM), for audio facetrack never records. A stand-in takes its place until something
    reads from it (MediaPipe's ``AudioRecord``, or the user's own code). One difference: a machine without PortAudio
    reports that when the recorder is first used, not at import."""
    if "sounddevice" in sys.modules:
        return
    import importlib.util
    spec = importlib.util.find_spec("sounddevice")  # finds, does not import
    if spec is None:
        return
    mod = _Deferred("sounddevice")
    mod.__spec__, mod.__file__ = spec, spec.origin
    sys.modules["sounddevice"] = mod


def _defer_matplotlib() -> None:
    """MediaPipe's vision package imports its drawing helpers, which import matplotlib.pyplot: 0.28 s of the 0.37 s
    MediaPipe import on the dev machine, at every start, though nothing facetrack calls draws with it. Until
    something uses matplotlib (MediaPipe's drawing helpers, or the user's own code), stand-ins take its place."""
    if "matplotlib" in sys.modules or "matplotlib.pyplot" in sys.modules:
        return
    import importlib.util
    spec = importlib.util.find_spec("matplotlib")  # finds, does not import
    if spec is None or not spec.submodule_search_locations:
        return
    pkg = _Deferred("matplotlib")
    pkg.__spec__, pkg.__path__, pkg.__file__ = spec, list(spec.submodule_search_locations), spec.origin
    sub = _Deferred("matplotlib.pyplot")
    pkg.pyplot = sub  # `import matplotlib.pyplot as plt` reads the attribute: plt is the stand-in
    sys.modules["matplotlib"], sys.modules["matplotlib.pyplot"] = pkg, sub


def import_mediapipe():
    """(mediapipe, BaseOptions, vision) for MediaPipe's tasks, matplotlib and sounddevice deferred
    (:func:`_defer_matplotlib`, :func:`_defer_sounddevice`)."""
    try:
        _defer_matplotlib()
        _defer_sounddevice()
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError:
        raise FacetrackError("the mediapipe detector needs the 'mediapipe' package") from None
    return mp, BaseOptions, vision


class MediaPipeDetector:
    """BlazeFace sees a 128 x 128 picture, so frames larger than ``max_side`` are shrunk (INTER_AREA) before
    MediaPipe copies and resizes them: on 1280 x 720 this halved the detector's time (10.7 -> 5.7 ms) and moved
    boxes by 1% of their width on average."""
    name = "mediapipe"
    max_side = 640
    reach = 0.1  # BlazeFace (short range) sees 128 x 128: faces under ~1/10 of the frame's longer side it misses
    last_reach = 0.0
    # measured as medians over 800 faces of ytf68/train.csv (detection matched to the box of the labelled
    # landmarks), see docs/accuracy.md
    box_adapter = BoxAdapter(scale=1.0, shift=0.06)

    def __init__(self, model_path: str | Path | None = None, min_score: float = 0.5, download: bool = True):
        import os
        os.environ.setdefault("GLOG_minloglevel", "2")
        mp, BaseOptions, vision = import_mediapipe()
        self._mp = mp
        path = resolve_detector_model(model_path, download=download)
        opts = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(path)),
                                          running_mode=vision.RunningMode.IMAGE, min_detection_confidence=min_score)
        try:
            with quiet_native_stderr():
                self._det = vision.FaceDetector.create_from_options(opts)
        except Exception as e:  # noqa: BLE001
            raise FacetrackError(f"cannot load face detector model {path}: {str(e).splitlines()[0][:160]}") from None
        self.model_path = path
        # close before interpreter teardown (MediaPipe's own finaliser fails noisily at exit)
        import weakref
        self._finalizer = weakref.finalize(self, _close_quietly, self._det)
        self._calls = 0

    def detect(self, frame: np.ndarray, time_s: float | None = None) -> list[Detection]:
        import cv2
        h, w = frame.shape[:2]
        self.last_reach = self.reach * max(h, w)  # docs/detection.md: 7.5% of 64-128 px faces in 720p, 94% of 128-256
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            frame = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        self._calls += 1
        if self._calls <= 2:  # the first calls log native warnings
            with quiet_native_stderr():
                res = self._det.detect(image)
        else:
            res = self._det.detect(image)
        out = []
        for d in res.detections:
            b = d.bounding_box
            if b.width <= 0 or b.height <= 0:
                continue
            box = np.array((b.origin_x, b.origin_y, b.origin_x + b.width, b.origin_y + b.height), np.float64)
            if scale < 1.0:
                box *= np.array((w / frame.shape[1], h / frame.shape[0]) * 2)
            out.append(Detection(tuple(box), float(d.categories[0].score) if d.categories else 1.0))
        return sorted(out, key=lambda d: -d.score)

    def warmup(self) -> None:
        """MediaPipe's first call pays its lazy set-up: pay it before frame one."""
        self.detect(np.zeros((64, 64, 3), np.uint8))

    def close(self) -> None:
        if getattr(self, "_finalizer", None) is not None:
            self._finalizer()


def _close_quietly(det) -> None:
    with quiet_native_stderr():
        try:
            det.close()
        except (RuntimeError, TypeError):  # at interpreter exit MediaPipe's dispatcher may be gone already
            pass
