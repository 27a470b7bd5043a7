"""Streaming orchestration: source -> detector -> landmarks -> tracker -> smoother -> sinks.

The detector runs every ``detect_every`` frames and whenever a track looks lost or there is no track;
between detections a track's next crop comes from its own landmarks (their box, the model's crop
convention). All tracked faces of a frame go through PIPNet as one batch.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from pipnet_model.augment import landmark_box as _points_box
from pipnet_model.progress import Progress

from .detectors import DEFAULT_DETECTOR, Detector, create_detector, detect_boxes
from .errors import FacetrackError
from .landmarks import LandmarkPredictor
from .smoothing import create_smoother
from .tracking import Track, Tracker
from .types import Face, FrameResult, TrackEvent


@dataclass
class TrackOptions:
    model: str = "default"
    device: str = "auto"
    backend: str = "auto"            # torch | onnxruntime | openvino; auto: fastest installed for the device
    precision: str = "auto"          # fp32 | fp16 | bf16 | int8; auto: int8 on OpenVINO when a quantized file exists
    detector: str = DEFAULT_DETECTOR  # a registered detector name (facetrack.detectors)
    detector_model: str | None = None
    detect_width: int | None = None  # frames wider than this are shrunk for detection (None: the detector's own)
    min_det_score: float = 0.5       # a detection must score this to start a track
    min_match_score: float = 0.25    # ... and this to keep an existing track alive
    detect_every: int = 5
    max_faces: int = 10
    smoother: str = "kalman"
    iou_threshold: float = 0.3
    min_hits: int = 2
    max_age: int = 10
    min_landmark_score: float = 0.2  # mean PIPNet peak score below which a crop is taken as not a face
    refine_new: int = 2              # extra re-crops on the landmarks of a track's first frame (4 passes in all)...
    refine_new_max: int = 8          # ... and on while the crop still moves, up to this many (see _converge)
    refine: int = 0                  # extra re-crops on this frame's landmarks, every frame (each costs a pass)
    # crops around landmarks turned level by the eye line (LandmarkPredictor's ``upright``; stills refine upright).
    # Opt-in here: on the video ground truth 3.90 -> 3.85% NME, flicker -6%, identity benchmark unchanged, but
    # hamilton 11 -> 14 IDs (other detection rounds, one oversized box ends a turning face; docs/pose.md)
    upright: bool = False
    openness: bool = True            # eye/mouth openness and blinks (68-point models; facetrack.pose)
    head_pose: bool = True           # yaw, pitch, roll (68-point models; facetrack.pose)
    reid: bool | None = None         # a returning person gets their ID back (facetrack.reid); None: when facetrack[reid] is installed


def landmark_box(lm: np.ndarray) -> np.ndarray:
    return np.asarray(_points_box(lm), dtype=np.float64)


# An analyser adds per-face values (head pose, openness) or maps identities: analyser(face, track, frame, time_s)
Analyser = Callable[[Face, Track, np.ndarray, float], Face]


class DetectSchedule:
    """When the detector runs: every ``every`` frames, and on the next frame after any track's landmarks
    stopped looking like a face, and whenever there is no track."""

    def __init__(self, every: int):
        self.every, self.last, self.need = every, -10 ** 9, True

    def due(self, index: int, have_tracks: bool) -> bool:
        return self.need or not have_tracks or index - self.last >= self.every

    def ran(self, index: int) -> None:
        self.last = index


class FaceTracker:
    """Bring your own frames: ``update(frame_bgr, time_s)`` -> :class:`FrameResult`.

    >>> ft = FaceTracker(detector="mediapipe")
    >>> for i, frame in enumerate(frames):
    ...     result = ft.update(frame, i / 30)

    ``detector`` is a registered name or a detector object (``detect(frame, time_s)``, ``box_adapter``,
    ``close()``); ``predictor`` a :class:`LandmarkPredictor` to share; ``analysers`` add per-face values.
    Objects passed in are used as given and not closed by :meth:`close`.
    """

    def __init__(self, options: TrackOptions | None = None, *, detector: str | Detector | None = None,
                 predictor: LandmarkPredictor | None = None, analysers: Iterable[Analyser] = (), **kw):
        o = TrackOptions(**vars(options)) if options else TrackOptions()
        for k, v in kw.items():
            if not hasattr(o, k):
                raise FacetrackError(f"unknown tracking option {k!r}")
            setattr(o, k, v)
        if isinstance(detector, str):
            o.detector, detector = detector, None
        elif detector is not None:
            o.detector = getattr(detector, "name", type(detector).__name__)
        if o.detect_every < 1:
            raise FacetrackError("detect_every must be at least 1")
        if o.max_faces < 1:
            raise FacetrackError("max_faces must be at least 1")
        self.o = o
        self.predictor = predictor or LandmarkPredictor(o.model, o.device, backend=o.backend, precision=o.precision,
                                                           upright=o.upright)
        self.analysers = list(analysers)
        if o.openness and self.predictor.num_points == 68 and not any(
                type(a).__name__ == "OpennessAnalyser" for a in self.analysers):
            from .pose import OpennessAnalyser
            self.analysers.append(OpennessAnalyser())
        if o.head_pose and self.predictor.num_points == 68 and not any(
                type(a).__name__ == "HeadPoseAnalyser" for a in self.analysers):
            from .pose import HeadPoseAnalyser
            self.analysers.append(HeadPoseAnalyser())
        if o.reid is not False and self.predictor.num_points == 68:  # last: it renames; self.ids maps the numbers back
            from .reid import ReIdentifier, available
            if o.reid or available():
                self.analysers.append(ReIdentifier())
        # the detector last: what can fail above fails before a detector (MediaPipe's native threads) exists
        self._owns_detector = detector is None
        self.detector = detector if detector is not None else create_detector(
            o.detector, model_path=o.detector_model, min_score=min(o.min_match_score, o.min_det_score),
            detect_width=o.detect_width)
        # the first inference of each engine pays its lazy set-up (~0.1 s): pay it here, not on frame 1
        if predictor is None:
            self.predictor.warmup()
        warm = getattr(self.detector, "warmup", None)
        if warm and self._owns_detector:
            warm()
        self.reset()

    def reset(self, start_index: int = 0) -> None:
        """Forget every track (a new video or chunk); the model and detector stay loaded. Frame indices
        continue from ``start_index``."""
        o = self.o
        self.tracker = Tracker(o.iou_threshold, o.min_hits, o.max_age, o.max_faces,
                               crop_of=self._crop_of if self._upright else None)
        self.smoother = create_smoother(o.smoother)
        for a in self.analysers:  # per-track state of the analysers starts afresh too
            if hasattr(a, "reset"):
                a.reset()
        self.schedule = DetectSchedule(o.detect_every)
        self.index = self.start_index = start_index
        self.processed = 0  # frames updated since the reset (the detection cadence counts these)
        self.timings = {"detect": 0.0, "landmarks": 0.0, "track": 0.0, "smooth": 0.0}
        self._prev_time = None
        self.detections_run = 0
        # the tracker's number of every track reported -> the ID its rows carry now (re-identification may give a
        # returning person their old ID): events and per-person counts are translated through it (one ID space)
        self.ids: dict[int, int] = {}

    def update(self, frame: np.ndarray, time_s: float | None = None, index: int | None = None) -> FrameResult:
        """One frame. ``index``: its number in the source, counted from the reset's ``start_index`` (a live
        source skips the numbers of the frames it dropped); by default one more than the last."""
        if index is not None:
            self.index = self.start_index + index
        if time_s is None:
            time_s = self.index / 30.0
        tr = self.tracker
        tr.begin_frame(self.index)
        new = self._detect(frame, time_s) if self.schedule.due(self.processed, bool(tr.tracks)) else []
        tracks = list(tr.tracks)
        lms, confs = self._landmarks(frame, tracks, new)
        self._assess(tracks, lms, confs)
        res = FrameResult(self.index, float(time_s), self._faces(frame, time_s))
        res.events = self._events()
        self.index += 1
        self.processed += 1
        return res

    def finish(self) -> FrameResult | None:
        """The stream ended: end every track. Returns an empty result carrying the ``ended`` events (None when
        there are none), numbered as the frame after the last. :func:`run` and :func:`track` call it."""
        self.tracker.begin_frame(self.index)
        for t in self.tracker.end_all():
            self._forget(t.track_id)
        ev = self._events()
        return FrameResult(self.index, float("nan"), [], events=ev) if ev else None

    def _events(self) -> list[TrackEvent]:
        """The tracker's events in the IDs the rows carry: ``started`` with the ID of the track's first row,
        ``ended`` with its last (a young track that took a returning person's ID back ends as that person)."""
        return [TrackEvent(e.kind, self.ids.get(e.track_id, e.track_id), e.index) for e in self.tracker.pop_events()]

    # ------------------------------------------------------------------------------------ the stages
    def _detect(self, frame: np.ndarray, time_s: float) -> list[Track]:
        """Run the detector; associate its (adapted) boxes with the tracks; returns the new tracks."""
        o = self.o
        t0 = time.perf_counter()
        dets, boxes = detect_boxes(self.detector, frame, time_s, min(o.min_match_score, o.min_det_score))
        self.schedule.ran(self.processed)
        self.detections_run += 1
        t1 = time.perf_counter()
        self.timings["detect"] += t1 - t0
        new = self.tracker.update_with_detections(boxes, np.array([d.score for d in dets]),
                                                  new_min_score=o.min_det_score)
        self.timings["track"] += time.perf_counter() - t1
        return new

    def _landmarks(self, frame: np.ndarray, tracks: list[Track], new: list[Track]) -> tuple[np.ndarray, np.ndarray]:
        """Every track's landmarks in one batch; a new track starts from a detector box, so it is cropped again
        on its own landmarks (``refine_new`` times) to start converged."""
        t0 = time.perf_counter()
        if not tracks:
            return np.zeros((0, 0, 2)), np.zeros((0, 0))
        if self._upright:
            lms, confs = self.predictor.predict(frame, np.array([t.box if t.crop is None else t.crop for t in tracks]),
                                                angles=np.array([t.angle for t in tracks]))
        else:
            lms, confs = self.predictor.predict(frame, np.array([t.box for t in tracks]))
        if self.o.refine > 0:
            lms, confs = self._predict_on(frame, lms, refine=self.o.refine - 1)
        fresh = [i for i, t in enumerate(tracks) if t in new]
        if fresh:
            lms, confs = lms.copy(), confs.copy()
            lms[fresh], confs[fresh] = self._converge(frame, lms[fresh], confs[fresh])
        self.timings["landmarks"] += time.perf_counter() - t0
        return lms, confs

    @property
    def _upright(self) -> bool:
        return bool(getattr(self.predictor, "upright", False))  # a predictor handed in may not know the word

    def _crops_of(self, lms: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Where to crop again around landmarks (F, N, 2): (boxes, angles), angles None for level crops."""
        if self._upright:
            return self.predictor.landmark_crops(lms)
        return np.stack([landmark_box(p) for p in lms]), None

    def _predict_on(self, frame: np.ndarray, lms: np.ndarray, refine: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks again from crops around the given ones."""
        boxes, angles = self._crops_of(lms)
        if angles is None:
            return self.predictor.predict(frame, boxes, refine=refine)
        return self.predictor.predict(frame, boxes, angles=angles, refine=refine)

    def _crop_of(self, lm: np.ndarray) -> tuple[np.ndarray, float]:
        """One face's next upright crop (box, angle) from its landmarks."""
        boxes, angles = self.predictor.landmark_crops(lm[None])
        return boxes[0], float(angles[0])

    def _converge(self, frame: np.ndarray, lms: np.ndarray, confs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks start from a detector box, which can sit far from the landmark-box convention the model was
        trained on (small faces especially): crop again on the landmarks ``refine_new`` + 1 times, and on until
        the crop stops moving (box change under 2% of its side) or ``refine_new_max`` passes. On the video
        ground-truth clips a fixed 4 passes in all left a 90 px face unconverged for ~9 frames (NME 12% on that clip)."""
        todo = np.arange(len(lms))
        for k in range(max(self.o.refine_new_max, self.o.refine_new + 1)):
            if not len(todo):
                break
            old = self._crops_of(lms[todo])[0]
            lm2, cf2 = self._predict_on(frame, lms[todo])
            new_b = self._crops_of(lm2)[0]
            lms[todo], confs[todo] = lm2, cf2
            side = np.maximum(old[:, 2] - old[:, 0], old[:, 3] - old[:, 1])
            moved = np.abs(new_b - old).max(1) > 0.02 * side
            todo = todo[moved | (k < self.o.refine_new)]
        return lms, confs

    def _assess(self, tracks: list[Track], lms: np.ndarray, confs: np.ndarray) -> None:
        """Landmark quality gates each track (a crop whose peaks are weak is not a face: detect again next
        frame); tracks without support and duplicates end."""
        t0 = time.perf_counter()
        tr = self.tracker
        bad = False
        for t, lm, cf in zip(tracks, lms, confs):
            good = float(cf.mean()) >= self.o.min_landmark_score
            tr.observe(t, lm, cf, good)
            bad |= not good
        self.schedule.need = bad
        for t in tr.prune() + tr.suppress_duplicates():
            self._forget(t.track_id)
        self.timings["track"] += time.perf_counter() - t0

    def _forget(self, track_id: int) -> None:
        self.smoother.drop(track_id)
        for a in self.analysers:
            if hasattr(a, "drop"):
                a.drop(track_id)

    def summary(self) -> dict:
        """What the analysers report over the run (e.g. blinks per person, keyed by the IDs the rows carry)."""
        out: dict = {}
        for a in self.analysers:
            if hasattr(a, "summary"):
                out.update(a.summary())
        tr = self.tracker
        out["over_max_faces"] = {"max_faces": self.o.max_faces, "detections": tr.over_limit_runs,
                                 "most_left_out": tr.over_limit_most}
        if "blinks" in out:  # counted per track by the openness analyser, which runs before re-identification
            per: dict[int, int] = {}
            for k, n in out["blinks"].items():
                pid = self.ids.get(int(k), int(k))
                per[pid] = per.get(pid, 0) + n
            out["blinks"] = {str(k): per[k] for k in sorted(per)}
        return out

    def _faces(self, frame: np.ndarray, time_s: float) -> list[Face]:
        """The faces to report: tracks with landmarks this frame, confirmed (or in the video's first frames),
        smoothed, then each analyser in turn."""
        t0 = time.perf_counter()
        faces = []
        for t in sorted(self.tracker.tracks, key=lambda t: t.track_id):
            if t.misses > 0 or t.landmarks is None:
                continue  # not supported this frame: say nothing rather than something stale
            if t.state != "confirmed" and self.processed >= self.o.min_hits:
                continue
            sm = self.smoother(t.track_id, t.landmarks, time_s)
            self._lead(t, time_s)
            face = Face(landmark_box(sm), sm, t.scores, t.track_id, t.det_score)
            for analyse in self.analysers:
                face = analyse(face, t, frame, time_s)
            self.ids[t.track_id] = face.track_id
            self.tracker.report(t)
            faces.append(face)
        self.timings["smooth"] += time.perf_counter() - t0
        self._prev_time = time_s
        return faces

    def _lead(self, t: Track, time_s: float) -> None:
        """Move the track's next crop ahead by the head's smoothed velocity over one frame interval: the crop
        from this frame's landmarks lags a moving head by a frame, and the model reads a face best centred
        (video ground-truth clips: NME 4.34 -> 4.32%, docs/accuracy.md). Smoothers without a velocity: no lead."""
        velocity = getattr(self.smoother, "velocity", None)
        v = velocity(t.track_id) if velocity else None
        dt = time_s - self._prev_time if self._prev_time is not None else 0.0
        if v is not None and 0 < dt < 0.5:
            t.box = t.box + dt * np.array([v[0], v[1], v[0], v[1]])
            if t.crop is not None:
                t.crop = t.crop + dt * np.array([v[0], v[1], v[0], v[1]])

    def close(self) -> None:
        if self._owns_detector:
            self.detector.close()


def track(source, options: TrackOptions | None = None, with_images: bool = False, **kw) -> Iterator[FrameResult]:
    """Stream a video (file, URL, camera, ``lavfi:GRAPH``) and yield one :class:`FrameResult` per frame.
    With ``with_images`` the decoded BGR frame is attached as ``result.image``. When the video ends and tracks were
    on screen, one more result follows: no faces, no picture, ``time_s`` NaN, their ``ended`` events
    (:meth:`FaceTracker.finish`)."""
    from .video import VideoSource
    ft = FaceTracker(options, **kw)
    try:
        with VideoSource(source) as src:
            for vf in src:
                res = ft.update(vf.image, vf.time_s, vf.index)
                if with_images:
                    res.image = vf.image
                yield res
        final = ft.finish()
        if final is not None:
            yield final
    finally:
        ft.close()


def run(source, sinks: Iterable = (), tracker: FaceTracker | TrackOptions | None = None,
        stop: threading.Event | None = None, max_frames: int | None = None, progress: bool = True) -> dict:
    """Process a whole source into sinks; returns a summary.

    ``source``: a spec (file, URL, camera, ``lavfi:GRAPH``) or an open :class:`~facetrack.video.VideoSource`
    (live policy, a time range). ``sinks``: objects with ``start(info)``, ``write(result)`` and ``close()``
    (facetrack.sinks); each result carries its frame as ``result.image``. At the end the tracker's
    :meth:`~FaceTracker.finish` ends every track; sinks derived from :class:`~facetrack.sinks.Sink` get its
    ``ended`` events through ``end(result)``. Events, rows and the summary's per-person counts carry one set of
    IDs; the summary's ``over_max_faces`` counts faces the face limit left out (and a warning line says so).
    ``tracker``: a loaded :class:`FaceTracker` (used as it is: reset it for a new video) or the options to build
    one. Setting ``stop`` ends the run after the frame in hand; a source that stops delivering frames ends it too. Every sink is
    finalised with the frames processed so far, whatever ends the run, and the summary says ``interrupted``.
    For a live source the summary's ``latency_ms`` (p50/p95/max) is the time from a frame's delivery by the
    source to its result written by every sink, and ``dropped_frames`` counts the frames it superseded. A file
    that promises clearly more frames than decode is ``truncated`` (``expected_frames`` from its header).
    """
    from .live import LatencyStats
    from .sinks import Sink, SinkInfo
    from .video import VideoSource, parse_source
    sinks = list(sinks)
    stop = stop or threading.Event()
    ft = tracker if isinstance(tracker, FaceTracker) else None
    owns_tracker = ft is None
    owns_source = not isinstance(source, VideoSource)
    stats = {"frames": 0, "faces": 0, "tracks": set(), "interrupted": None}
    latency = LatencyStats()
    t_start = time.perf_counter()
    t_ready = None
    src = None
    started: list = []
    try:
        if ft is None and owns_source and parse_source(str(source))[2]:
            # a live source opened before the models would queue up frames from the past: models first
            ft = FaceTracker(tracker if isinstance(tracker, TrackOptions) else None)
        src = VideoSource(source, warn=lambda m: print(f"facetrack: warning: {m}", file=sys.stderr)) \
            if owns_source else source
        info = src.info
        if ft is None:
            ft = FaceTracker(tracker if isinstance(tracker, TrackOptions) else None)
        sink_info = SinkInfo(info.spec, info.fps, info.width, info.height, info.has_audio, ft.predictor.num_points)
        for s in sinks:
            s.start(sink_info)
            started.append(s)
        total = max_frames or (info.frames or None)
        prog = Progress(total, "track", "frames", every_s=5.0) if progress else None
        t_write = 0.0
        t_ready = time.perf_counter()
        for vf in src.frames(stop):
            res = ft.update(vf.image, vf.time_s, vf.index)
            res.image, res.read_at = vf.image, vf.read_at
            tw = time.perf_counter()
            for s in sinks:
                s.write(res)
            t_write += time.perf_counter() - tw
            if vf.read_at:
                latency.add(time.monotonic() - vf.read_at)
            stats["frames"] += 1
            stats["faces"] += len(res.faces)
            stats["tracks"].update(f.track_id for f in res.faces)
            if prog:
                prog.update(1, faces=len(res.faces))
            if max_frames and stats["frames"] >= max_frames:
                break
        if prog:
            prog.close(faces=stats["faces"])
        final = ft.finish()  # every track ends: sinks see the ended events, the summary counts every track
        if final is not None:
            for s in sinks:
                if isinstance(s, Sink):
                    s.end(final)
        ft.timings["write"] = t_write
        if ft.tracker.over_limit_runs:
            print(f"facetrack: warning: more faces than --max-faces {ft.o.max_faces}: up to "
                  f"{ft.tracker.over_limit_most} left out in {ft.tracker.over_limit_runs} detection run(s); "
                  "raise --max-faces to track them", file=sys.stderr)
        if stop.is_set():
            stats["interrupted"] = "stopped"
        if getattr(src, "stalled", False):
            stats["interrupted"] = "source stalled"
    finally:
        # finalise outputs even on errors: close everything, then report the first failure
        errors = []
        closers = [s.close for s in started] + ([src.close] if (src is not None and owns_source) else [])
        if owns_tracker and ft is not None:
            closers.append(ft.close)
        for closer in closers:
            try:
                closer()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        if errors and sys.exc_info()[0] is None:
            raise errors[0]
    t_end = time.perf_counter()
    dt = t_end - t_start
    setup = (t_ready - t_start) if t_ready is not None else dt
    # fps: frames over the processing time (first frame requested -> outputs closed); setup (opening the
    # source, loading and compiling the models) is reported apart, as it does not grow with the video
    return {"source": str(getattr(src, "spec", source)), "frames": stats["frames"], "faces": stats["faces"],
            "tracks": len(stats["tracks"]), "seconds": round(dt, 3), "setup_seconds": round(setup, 3),
            "fps": round(stats["frames"] / max(dt - setup, 1e-9), 2),
            "detections_run": ft.detections_run if ft else 0, "dropped_frames": getattr(src, "dropped", 0),
            "live": bool(getattr(src, "live", False)),
            "latency_ms": latency.summary() if getattr(src, "live", False) else None,
            "truncated": bool(getattr(src, "truncation", None)),
            "expected_frames": (getattr(src, "truncation", None) or {}).get("expected_frames"),
            "stage_seconds": {k: round(v, 3) for k, v in (ft.timings.items() if ft else ())},
            "interrupted": stats["interrupted"], **(ft.summary() if ft else {}),
            "outputs": {s.kind: str(s.path) for s in sinks if getattr(s, "path", None) is not None}}
