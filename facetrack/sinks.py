"""Output sinks as context managers: CSV, JSON Lines, annotated video. Each flushes per frame, so an
interrupted run keeps every frame written so far."""
from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from .draw import draw_landmarks
from .errors import FacetrackError
from .types import FrameResult


def csv_header(num_points: int) -> list[str]:
    return (["frame", "time_s", "track_id", "det_score", "box_x", "box_y", "box_w", "box_h"]
            + [c for k in range(num_points) for c in (f"x{k}", f"y{k}")] + ["lm_score"])


def _open_for_write(path: str | Path):
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        return open(p, "w", newline="")
    except OSError as e:
        raise FacetrackError(f"cannot write {p}: {e.strerror or e}") from None


def face_rows(result: FrameResult):
    for f in result.faces:
        x0, y0, x1, y1 = (float(v) for v in f.box)
        yield f, (x0, y0, x1 - x0, y1 - y0)


class _FileSink:
    """Closing and context-manager plumbing shared by the line-oriented sinks."""
    f = None

    def close(self) -> None:
        if self.f is not None and not self.f.closed:
            self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class CSVSink(_FileSink):
    """One row per face per frame: frame,time_s,track_id,det_score,box_x,box_y,box_w,box_h,x0,y0,...,lm_score."""

    def __init__(self, path: str | Path, num_points: int = 68):
        self.path, self.n = Path(path), num_points
        self.f = _open_for_write(path)
        self.w = csv.writer(self.f)
        self.w.writerow(csv_header(num_points))
        self.f.flush()
        self.rows = 0

    def write(self, result: FrameResult) -> None:
        for f, (x, y, w, h) in face_rows(result):
            det = "" if not np.isfinite(f.det_score) else f"{f.det_score:.4f}"
            self.w.writerow([result.index, f"{result.time_s:.6f}", f.track_id, det, f"{x:.2f}", f"{y:.2f}",
                             f"{w:.2f}", f"{h:.2f}", *(f"{v:.2f}" for v in f.landmarks.reshape(-1)),
                             f"{float(np.mean(f.scores)):.4f}"])
            self.rows += 1
        self.f.flush()


class JSONLSink(_FileSink):
    """One JSON object per face per frame, the CSV's content plus per-point scores."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.f = _open_for_write(path)
        self.rows = 0

    def write(self, result: FrameResult) -> None:
        for f, (x, y, w, h) in face_rows(result):
            self.f.write(json.dumps({
                "frame": result.index, "time_s": round(result.time_s, 6), "track_id": f.track_id,
                "det_score": None if not np.isfinite(f.det_score) else round(f.det_score, 4),
                "box": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                "landmarks": np.round(f.landmarks, 2).tolist(), "scores": np.round(f.scores, 3).tolist()}) + "\n")
            self.rows += 1
        self.f.flush()


class AnnotatedVideoSink:
    """Draws landmarks, boxes and track IDs on each frame and encodes H.264 with the source's timing and audio.

    Drawing and encoding run in a background thread behind a bounded queue (``queue_size`` frames), so they
    overlap with decoding and inference; ``close()`` drains the queue and finalises the file."""

    def __init__(self, path: str | Path, fps: Fraction | float, width: int, height: int, audio_from=None,
                 queue_size: int = 8):
        import queue
        import threading

        from .video import VideoWriter
        self.writer = VideoWriter(path, fps, width, height, audio_from=audio_from)
        self.path = Path(path)
        self.q: queue.Queue = queue.Queue(maxsize=queue_size)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="facetrack-encode", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is not None:
                continue
            result, image = item
            try:
                for f in result.faces:
                    draw_landmarks(image, f.landmarks, f.box, f.track_id)
                self.writer.write(image, result.time_s)
            except BaseException as e:  # noqa: BLE001 - reported by write()/close() in the caller's thread
                self.error = e

    def write(self, result: FrameResult, image: np.ndarray) -> None:
        if self.error is not None:
            raise FacetrackError(f"writing {self.path} failed: {self.error}")
        self.q.put((result, image.copy()))

    @property
    def frames(self) -> int:
        return self.writer.frames

    def close(self) -> None:
        if self.thread.is_alive():
            self.q.put(None)
            self.thread.join()
        self.writer.close()
        if self.error is not None:
            raise FacetrackError(f"writing {self.path} failed: {self.error}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
