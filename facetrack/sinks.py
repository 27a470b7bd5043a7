"""Output sinks: CSV, JSON Lines, Parquet, annotated video (and the camera preview in camera.py).

A sink is an object with ``start(info)`` (called once before the first frame, with the stream's
:class:`SinkInfo`), ``write(result)`` (one :class:`FrameResult` per frame, its picture in ``result.image``) and
``close()`` (and, when they derive from :class:`Sink`, ``end(result)`` with the events of the stream's end); each is
a context manager, and ``run()`` takes them as a list. Every sink writes a face as
``Face.record()``, so a new per-face value reaches every format from that one place. Files are flushed per frame:
an interrupted run keeps every frame written so far. A sink's path is checked when it is made, before any work.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .draw import draw_face
from .errors import FacetrackError
from .types import FrameResult, record_columns


@dataclass
class SinkInfo:
    """What a sink may need to know before the first frame."""
    source: str
    fps: Fraction | float
    width: int            # as stored; frames may arrive turned upright (use the frame's own size)
    height: int
    has_audio: bool
    num_points: int


def prepare_output(path: str | Path) -> Path:
    """Fail before any work when an output cannot be written; create missing folders."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FacetrackError(f"cannot create output folder {p.parent}: {e.strerror or e}") from None
    if p.is_dir() or not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise FacetrackError(f"output is not writable: {p}")
    return p


def _open_for_write(path: Path):
    try:
        return open(path, "w", newline="")
    except OSError as e:
        raise FacetrackError(f"cannot write {path}: {e.strerror or e}") from None


class Sink:
    """Context-manager plumbing; subclasses write their format."""
    kind = "sink"
    help = ""  # what the format holds (the command line's help for its flag)
    suffix = ""
    path: Path | None = None

    def start(self, info: SinkInfo) -> None:
        pass

    def write(self, result: FrameResult) -> None:
        raise NotImplementedError

    def end(self, result: FrameResult) -> None:
        """The stream ended (``run()`` calls it before ``close()``): ``result`` has no faces and no picture and
        carries the last events (every track still on screen ``ended``). The file formats have nothing to add."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _FileSink(Sink):
    """A file of face records (``FrameResult.records()``): ``write`` hands a frame's records to ``write_records``,
    which is also how ``facetrack batch`` writes a chunked video's merged records."""
    f = None
    point_scores = False  # records with the per-point scores s0 ... s{N-1}

    def __init__(self, path: str | Path):
        self.path = prepare_output(path)
        self.rows = 0

    def write(self, result: FrameResult) -> None:
        self.write_records(list(result.records(self.point_scores)))

    def write_records(self, records: list[dict]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.f is not None and not self.f.closed:
            self.f.close()


class CSVSink(_FileSink):
    """One row per face per frame: ``frame,time_s`` then ``Face.record()``'s columns (``track_id,det_score,
    box_x,box_y,box_w,box_h,x0,y0,...,lm_score``); empty cells for missing values."""
    kind, suffix = "csv", ".csv"
    help = "one row per face per frame"

    def start(self, info: SinkInfo) -> None:
        self.columns = record_columns(info.num_points)
        self.f = _open_for_write(self.path)
        self.w = csv.writer(self.f)
        self.w.writerow(self.columns)
        self.f.flush()

    def write_records(self, records: list[dict]) -> None:
        cols = self.columns
        for rec in records:
            self.w.writerow([rec.get(c) for c in cols])  # None: an empty cell, as csv.DictWriter wrote it
            self.rows += 1
        self.f.flush()


class JSONLSink(_FileSink):
    """One JSON object per face per frame: the CSV's columns (null for missing values) plus the per-point
    scores ``s0 ... s{N-1}``."""
    kind, suffix = "jsonl", ".jsonl"
    help = "one JSON object per face per frame"
    point_scores = True

    def start(self, info: SinkInfo) -> None:
        self.f = _open_for_write(self.path)

    def write_records(self, records: list[dict]) -> None:
        for rec in records:
            self.f.write(json.dumps(rec) + "\n")
            self.rows += 1
        self.f.flush()


class AnnotatedVideoSink(Sink):
    """Draws landmarks, boxes and track IDs on each frame and encodes H.264 with the source's timing and audio.

    The video has the size of the frames as they arrive (upright: a portrait phone clip stored sideways comes
    out portrait). Drawing and encoding run in a background thread behind a bounded queue (``queue_size``
    frames), so they overlap with decoding and inference; ``close()`` drains the queue and finalises the file."""
    kind, suffix = "video", ".mp4"
    help = "annotated H.264 video (audio copied)"

    def __init__(self, path: str | Path, queue_size: int = 8, audio: bool = True):
        self.path = prepare_output(path)
        self.queue_size, self.audio = queue_size, audio
        self.writer = None
        self.thread = None
        self.info: SinkInfo | None = None
        self.error: BaseException | None = None

    def start(self, info: SinkInfo) -> None:
        import queue
        import threading
        self.info = info
        self.q: queue.Queue = queue.Queue(maxsize=self.queue_size)
        self.thread = threading.Thread(target=self._run, name="facetrack-encode", daemon=True)
        self.thread.start()

    def _open(self, width: int, height: int) -> None:
        from .video import VideoWriter
        i = self.info
        self.writer = VideoWriter(self.path, i.fps, width, height,
                                  audio_from=i.source if (self.audio and i.has_audio) else None)

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is not None:
                continue
            result, image = item
            try:
                if self.writer is None:
                    self._open(image.shape[1], image.shape[0])
                for f in result.faces:
                    draw_face(image, f)
                self.writer.write(image, result.time_s)
            except BaseException as e:  # noqa: BLE001 - reported by write()/close() in the caller's thread
                self.error = e

    def write(self, result: FrameResult) -> None:
        if self.error is not None:
            raise FacetrackError(f"writing {self.path} failed: {self.error}")
        if result.image is None:
            raise FacetrackError("the annotated video needs each frame's picture (result.image)")
        self.q.put((result, np.array(result.image, copy=True)))

    @property
    def frames(self) -> int:
        return self.writer.frames if self.writer is not None else 0

    def close(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.q.put(None)
            self.thread.join()
        if self.writer is None and self.info is not None and self.error is None:
            self._open(self.info.width, self.info.height)  # no frame came: still a valid (empty) video
        if self.writer is not None:
            self.writer.close()
        if self.error is not None:
            raise FacetrackError(f"writing {self.path} failed: {self.error}")


class ParquetSink(_FileSink):
    """One typed row per face per frame with the CSV's columns (integers, floats with nulls, blink 0/1), written
    in row groups of ``rows_per_group`` so memory stays flat; closing (also on SIGINT/SIGTERM) writes the last
    group and the footer. Needs pyarrow (``pip install 'facetrack[parquet]'``)."""
    kind, suffix = "parquet", ".parquet"
    help = "one typed row per face per frame (needs facetrack[parquet])"

    def __init__(self, path: str | Path, rows_per_group: int = 4096):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise FacetrackError("Parquet output needs pyarrow: pip install 'facetrack[parquet]'") from None
        super().__init__(path)
        self.rows_per_group = rows_per_group
        self.writer = None
        self.buf: list[dict] = []

    def start(self, info: SinkInfo) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        cols = record_columns(info.num_points)
        ints = {"frame", "track_id"}
        self.schema = pa.schema([(c, pa.int64() if c in ints else pa.int8() if c == "blink" else pa.float64())
                                 for c in cols])
        self.writer = pq.ParquetWriter(str(self.path), self.schema)

    def _flush(self) -> None:
        import pyarrow as pa
        if self.buf:
            self.writer.write_table(pa.Table.from_pylist(self.buf, schema=self.schema))
            self.buf = []

    def write_records(self, records: list[dict]) -> None:
        cols = self.schema.names
        for rec in records:
            self.buf.append({c: rec.get(c) for c in cols})
            self.rows += 1
        if len(self.buf) >= self.rows_per_group:
            self._flush()

    def close(self) -> None:
        if self.writer is not None:
            self._flush()
            self.writer.close()
            self.writer = None


VideoSink = AnnotatedVideoSink

# output formats by name: the CLI's flags and batch's per-video outputs come from here
# the output formats by name: the command line makes one flag per format from it (--csv, --jsonl, --parquet, --video)
FORMATS: dict[str, type[Sink]] = {"csv": CSVSink, "jsonl": JSONLSink, "parquet": ParquetSink,
                                   "video": AnnotatedVideoSink}


def make_sink(kind: str, path: str | Path) -> Sink:
    if kind not in FORMATS:
        raise FacetrackError(f"unknown output format {kind!r} (choose {', '.join(FORMATS)})")
    return FORMATS[kind](path)
