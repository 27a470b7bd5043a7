"""Streaming orchestration: source -> detector -> landmarks -> tracker -> smoother -> sinks.

The detector runs every ``detect_every`` frames and whenever a track looks lost or there is no track;
between detections a track's next crop comes from its own landmarks (their box, the model's crop
convention). All tracked faces of a frame go through PIPNet as one batch.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from pipnet_model.augment import landmark_box as _points_box
from pipnet_model.progress import Progress

from .detectors import BOX_ADAPTERS, create_detector
from .errors import FacetrackError
from .landmarks import LandmarkPredictor, adapt_box
from .smoothing import create_smoother
from .tracking import Tracker
from .types import Face, FrameResult


@dataclass
class TrackOptions:
    model: str = "default"
    device: str = "auto"
    backend: str = "auto"            # torch | onnxruntime | openvino; auto: fastest installed for the device
    precision: str = "auto"          # fp32 | fp16 | bf16 | int8; auto: int8 on OpenVINO when a quantized file exists
    detector: str = "mediapipe"
    detector_model: str | None = None
    min_det_score: float = 0.5       # a detection must score this to start a track
    min_match_score: float = 0.25    # ... and this to keep an existing track alive
    detect_every: int = 5
    max_faces: int = 10
    smoother: str = "kalman"
    iou_threshold: float = 0.3
    min_hits: int = 2
    max_age: int = 10
    min_landmark_score: float = 0.2  # mean PIPNet peak score below which a crop is taken as not a face
    refine_new: int = 2              # extra re-crops on the landmarks of a track's first frame (3 passes in all)


def landmark_box(lm: np.ndarray) -> np.ndarray:
    return np.asarray(_points_box(lm), dtype=np.float64)


class FaceTracker:
    """Bring your own frames: ``update(frame_bgr, time_s)`` -> :class:`FrameResult`.

    >>> ft = FaceTracker(detector="mediapipe")
    >>> for i, frame in enumerate(frames):
    ...     result = ft.update(frame, i / 30)
    """

    def __init__(self, options: TrackOptions | None = None, **kw):
        o = options or TrackOptions()
        for k, v in kw.items():
            if not hasattr(o, k):
                raise FacetrackError(f"unknown tracking option {k!r}")
            setattr(o, k, v)
        if o.detect_every < 1:
            raise FacetrackError("detect_every must be at least 1")
        if o.max_faces < 1:
            raise FacetrackError("max_faces must be at least 1")
        self.o = o
        self.predictor = LandmarkPredictor(o.model, o.device, backend=o.backend, precision=o.precision)
        kw_det = ({"min_score": min(o.min_match_score, o.min_det_score), "model_path": o.detector_model}
                  if o.detector == "mediapipe" else {})
        self.detector = create_detector(o.detector, **kw_det)
        self.adapter = BOX_ADAPTERS.get(o.detector, {"box_scale": 1.0, "box_shift": 0.0})
        # the first inference of each engine pays its lazy set-up (~0.1 s): pay it here, not on frame 1
        self.predictor.warmup()
        self.detector.detect(np.zeros((64, 64, 3), np.uint8))
        self.reset()

    def reset(self, start_index: int = 0) -> None:
        """Forget every track (a new video or chunk); the model and detector stay loaded. Frame indices
        continue from ``start_index``."""
        o = self.o
        self.tracker = Tracker(o.iou_threshold, o.min_hits, o.max_age, o.max_faces)
        self.smoother = create_smoother(o.smoother)
        self.index = self.start_index = start_index
        self.last_detect = -10 ** 9
        self.need_detect = True
        self.timings = {"detect": 0.0, "landmarks": 0.0, "track": 0.0, "smooth": 0.0}
        self.detections_run = 0

    def update(self, frame: np.ndarray, time_s: float | None = None) -> FrameResult:
        o, tr = self.o, self.tracker
        if time_s is None:
            time_s = self.index / 30.0
        t0 = time.perf_counter()
        detect = self.need_detect or not tr.tracks or (self.index - self.last_detect) >= o.detect_every
        if detect:
            dets = [d for d in self.detector.detect(frame) if d.score >= min(o.min_match_score, o.min_det_score)]
            self.last_detect = self.index
            self.detections_run += 1
            boxes = np.array([adapt_box(d.box, **self.adapter) for d in dets]).reshape(-1, 4)
            t1 = time.perf_counter()
            self.timings["detect"] += t1 - t0
            new = tr.update_with_detections(boxes, np.array([d.score for d in dets]), new_min_score=o.min_det_score)
            self.timings["track"] += time.perf_counter() - t1
        else:
            new = []
        t1 = time.perf_counter()
        tracks = list(tr.tracks)
        lms, confs = (self.predictor.predict(frame, np.array([t.box for t in tracks])) if tracks
                      else (np.zeros((0, 0, 2)), np.zeros((0, 0))))
        fresh = [i for i, t in enumerate(tracks) if t in new]
        if fresh:  # a new track starts from a detector box: re-crop on its landmarks so it starts converged
            lb = np.stack([landmark_box(lms[i]) for i in fresh])
            lm2, cf2 = self.predictor.predict(frame, lb, refine=o.refine_new)
            lms, confs = lms.copy(), confs.copy()
            lms[fresh], confs[fresh] = lm2, cf2
        t2 = time.perf_counter()
        self.timings["landmarks"] += t2 - t1
        self.need_detect = False
        for t, lm, cf in zip(tracks, lms, confs):
            good = float(cf.mean()) >= o.min_landmark_score
            tr.mark(t, good)
            t.landmarks, t.scores = lm, cf
            if good:
                t.box = landmark_box(lm)  # next frame's crop follows the face
            else:
                self.need_detect = True
        removed = tr.prune() + tr.suppress_duplicates()
        for t in removed:
            self.smoother.drop(t.track_id)
        t3 = time.perf_counter()
        self.timings["track"] += t3 - t2
        faces = []
        for t in sorted(tr.tracks, key=lambda t: t.track_id):
            if t.misses > 0 or t.landmarks is None:
                continue  # not supported this frame: say nothing rather than something stale
            if t.state != "confirmed" and self.index - self.start_index >= o.min_hits:
                continue
            sm = self.smoother(t.track_id, t.landmarks, time_s)
            faces.append(Face(landmark_box(sm), sm, t.scores, t.track_id, t.det_score))
        self.timings["smooth"] += time.perf_counter() - t3
        res = FrameResult(self.index, float(time_s), faces)
        self.index += 1
        return res

    def close(self) -> None:
        close = getattr(self.detector, "close", None)
        if close:
            close()


def track(source, options: TrackOptions | None = None, with_images: bool = False, **kw) -> Iterator[FrameResult]:
    """Stream a video (file, URL, camera, ``lavfi:GRAPH``) and yield one :class:`FrameResult` per frame.
    With ``with_images`` the decoded BGR frame is attached as ``result.image``."""
    from .video import VideoSource
    ft = FaceTracker(options, **kw)
    try:
        with VideoSource(source) as src:
            for vf in src:
                res = ft.update(vf.image, vf.time_s)
                if with_images:
                    res.image = vf.image
                yield res
    finally:
        ft.close()


class _Stop(Exception):
    """A second signal: stop now (outputs are still finalised)."""


def run(source: str, out_video: str | Path | None = None, csv: str | Path | None = None,
        jsonl: str | Path | None = None, progress: bool = True, max_frames: int | None = None,
        options: TrackOptions | None = None, on_frame=None, on_frame_image=None, live: bool | None = None,
        tracker: FaceTracker | None = None, start_s: float | None = None, end_s: float | None = None,
        frame_offset: int = 0, **kw) -> dict:
    """Process a whole source into sinks; returns a summary. SIGINT/SIGTERM stop cleanly: every sink is
    finalised with the frames processed so far, and the summary says ``interrupted``. ``on_frame_image(result,
    image)`` may return False to stop (the camera preview's 'q'). A source that stops delivering frames ends
    the run with its outputs finalised. ``tracker`` reuses a loaded :class:`FaceTracker` (reset, not closed);
    ``start_s``/``end_s`` process a time range (a chunk) whose frames are numbered from ``frame_offset``."""
    from .sinks import AnnotatedVideoSink, CSVSink, JSONLSink
    from .video import VideoSource
    for p in (out_video, csv, jsonl):
        if p is not None:
            _check_writable(Path(p))
    ft = vsink = None
    sinks: list = []
    stats = {"frames": 0, "faces": 0, "tracks": set(), "interrupted": None}
    stop = {"sig": None}
    stop_event = threading.Event()

    def _handler(signum, frame):
        # first signal: finish the frame in hand, then stop; a second one stops at once
        if stop_event.is_set():
            raise _Stop()
        stop["sig"] = signum
        stop_event.set()

    old = {}
    in_main = _in_main_thread()
    if in_main:
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, _handler)
    t_start = time.perf_counter()
    t_ready = None
    src = None
    try:
        try:
            src = VideoSource(source, live=live, warn=lambda m: print(f"facetrack: warning: {m}", file=sys.stderr),
                              start_s=start_s, end_s=end_s)
            info = src.info
            if tracker is not None:
                ft = tracker
                ft.reset(frame_offset)
            else:
                ft = FaceTracker(options, **kw)
                ft.reset(frame_offset)
            if csv:
                sinks.append(CSVSink(csv, ft.predictor.num_points))
            if jsonl:
                sinks.append(JSONLSink(jsonl))
            vsink = AnnotatedVideoSink(out_video, info.fps, info.width, info.height,
                                       audio_from=source if info.has_audio else None) if out_video else None
            total = max_frames or (info.frames or None)
            prog = Progress(total, "track", "frames", every_s=5.0) if progress else None
            t_write = 0.0
            t_ready = time.perf_counter()
            for vf in src.frames(stop_event):
                res = ft.update(vf.image, vf.time_s)
                tw = time.perf_counter()
                for s in sinks:
                    s.write(res)
                if vsink is not None:
                    vsink.write(res, vf.image)
                t_write += time.perf_counter() - tw
                stats["frames"] += 1
                stats["faces"] += len(res.faces)
                stats["tracks"].update(f.track_id for f in res.faces)
                if on_frame:
                    on_frame(res)
                if on_frame_image is not None and on_frame_image(res, vf.image) is False:
                    stats["interrupted"] = "quit"
                    break
                if prog:
                    prog.update(1, faces=len(res.faces))
                if max_frames and stats["frames"] >= max_frames:
                    break
            if prog:
                prog.close(faces=stats["faces"])
            ft.timings["write"] = t_write
        except _Stop:
            pass
        if stop["sig"] is not None:
            stats["interrupted"] = "SIGINT" if stop["sig"] == signal.SIGINT else "SIGTERM"
        if getattr(src, "stalled", False):
            stats["interrupted"] = "source stalled"
    finally:
        # finalise outputs even on errors and signals: ignore further signals while closing
        if in_main:
            for s in (signal.SIGINT, signal.SIGTERM):
                signal.signal(s, signal.SIG_IGN)
        errors = []
        owned = [ft] if tracker is None else []
        for closer in [s.close for s in sinks] + [c.close for c in (vsink, src, *owned) if c is not None]:
            try:
                closer()
            except Exception as e:  # noqa: BLE001 - close everything, then report the first failure
                errors.append(e)
        if in_main:
            for s, h in old.items():
                signal.signal(s, h)
        if errors and sys.exc_info()[0] is None:
            raise errors[0]
    t_end = time.perf_counter()
    dt = t_end - t_start
    setup = (t_ready - t_start) if t_ready is not None else dt
    # fps: frames over the processing time (first frame requested -> outputs closed); setup (opening the
    # source, loading and compiling the models) is reported apart, as it does not grow with the video
    return {"source": str(source), "frames": stats["frames"], "faces": stats["faces"],
            "tracks": len(stats["tracks"]), "seconds": round(dt, 3), "setup_seconds": round(setup, 3),
            "fps": round(stats["frames"] / max(dt - setup, 1e-9), 2),
            "detections_run": ft.detections_run if ft else 0, "dropped_frames": getattr(src, "dropped", 0),
            "stage_seconds": {k: round(v, 3) for k, v in (ft.timings.items() if ft else ())},
            "interrupted": stats["interrupted"], "outputs": {k: str(v) for k, v in
                                                             (("video", out_video), ("csv", csv), ("jsonl", jsonl)) if v}}


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _check_writable(p: Path) -> None:
    """Fail before any work when an output cannot be written; create missing folders."""
    import os
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FacetrackError(f"cannot create output folder {p.parent}: {e.strerror or e}") from None
    if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise FacetrackError(f"output is not writable: {p}")
