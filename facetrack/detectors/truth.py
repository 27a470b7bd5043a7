"""Boxes from a known path: the per-frame face boxes stored beside a clip made by ``facetrack sample``
(``CLIP.json``). A stand-in detector for tests and benchmarks that needs no model file, so the whole pipeline
runs on a fresh clone, and a way to measure the landmark chain without detector error."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import FacetrackError
from ..types import Detection
from . import IDENTITY


class TruthDetector:
    name = "truth"
    box_adapter = IDENTITY  # the stored boxes are landmark boxes already

    def __init__(self, path: str | Path | None):
        if path is None:
            raise FacetrackError("the truth detector needs the clip's .json (--detector-model CLIP.json)")
        p = Path(path)
        if p.suffix != ".json" and Path(str(p) + ".json").is_file():
            p = Path(str(p) + ".json")  # the clip itself was named
        try:
            d = json.loads(p.read_text())
            self.fps = float(d["fps"])
            self.frames = [[(np.array(f["box"], np.float64), int(f["id"])) for f in fr["faces"]] for fr in d["frames"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise FacetrackError(f"cannot read face boxes from {p}: {type(e).__name__}: {e}") from None
        self.calls: list[int] = []  # frame numbers asked for, in order (tests check the detection cadence)

    last_reach = 0.0  # it knows every face

    def detect(self, frame: np.ndarray, time_s: float | None = None) -> list[Detection]:
        if time_s is None:
            raise FacetrackError("the truth detector needs each frame's time")
        i = int(round(time_s * self.fps))
        self.calls.append(i)
        if not 0 <= i < len(self.frames):
            return []
        h, w = frame.shape[:2]
        out = []
        for box, _ in self.frames[i]:
            vis = np.array([max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)])
            if (vis[2] - vis[0]) * (vis[3] - vis[1]) >= 0.5 * (box[2] - box[0]) * (box[3] - box[1]):
                out.append(Detection(box, 1.0))  # at least half on screen, as a real detector would need
        return out

    def warmup(self) -> None:
        pass

    def close(self) -> None:
        pass
