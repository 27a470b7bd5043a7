"""Streaming orchestration: source -> detector -> landmarks -> tracker -> smoother -> sinks.

The detector runs every ``detect_every`` frames and whenever a track looks lost or there is no track;
between detections a track's next crop comes from its own landmarks (their box, the model's crop
convention). All tracked faces of a frame go through PIPNet as one batch.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Iterator

import numpy as np

from pipnet_model.geometry import landmark_box as _points_box
from pipnet_model.progress import Progress

from .crop_policy import CropPolicy
from .cuts import ShotCuts, face_changed
from .detectors import DEFAULT_DETECTOR, Detector, create_detector, detect_boxes
from .errors import FacetrackError
from .interfaces import Analyser, Predictor, Smoother
from .landmarks import LandmarkPredictor
from .smoothing import smoother_factory
from .tracking import Track, Tracker
from .types import Face, FrameResult, TrackEvent


def _opt(default, help: str, choices=None, type=None):
    """A tracking option: its default, the help the command line shows, where its choices come from (a registry,
    read when the command line is built) and its type where the default does not say (None defaults)."""
    return field(default=default, metadata={"help": help, "choices": choices, "type": type})


def _backends():
    from .backends import BACKENDS
    return BACKENDS


def _precisions():
    from .backends import PRECISIONS
    return PRECISIONS


def _smoothers():
    from .smoothing import SMOOTHERS
    return tuple(SMOOTHERS)


def _detectors():
    from .detectors import detector_names
    return tuple(detector_names())


@dataclass
class TrackOptions:
    """How a video is tracked: the one list of the tracking options (``facetrack track``, ``camera``, ``batch`` and
    ``bench`` make their flags from these fields, ``--max-faces`` from ``max_faces``, with this help)."""
    model: str = _opt("default", "'default', a PIPNet .safetensors file or a training run folder")
    device: str = _opt("auto", "auto, cpu or cuda")
    backend: str = _opt("auto", "landmark inference engine (auto: the fastest installed for the device)", _backends)
    precision: str = _opt("auto", "auto: int8 on OpenVINO when the model has a quantized copy (facetrack quantize), "
                          "else the backend's default (fp32; fp16 for torch on CUDA)", _precisions)
    detector: str = _opt(DEFAULT_DETECTOR, "face detector (facetrack.detectors registry)", _detectors)
    detector_model: str | None = _opt(None, "the detector's model file: BlazeFace .tflite or Face Landmarker .task for "
                                      "mediapipe (default: cache, then pip); .onnx for retinaface (default: cache, "
                                      "then pip); CLIP.json for truth", type=str)
    detect_width: int | None = _opt(None, "shrink wider frames to this width for detection (faster on large frames, "
                                    "misses the smallest faces; retinaface defaults to 960)", type=int)
    min_det_score: float = _opt(0.5, "a detection must score this to start a track")
    min_match_score: float = _opt(0.25, "... and this to keep a tracked face alive")
    detect_every: int = _opt(5, "run the detector every N frames (and when a track is lost)")
    max_faces: int = _opt(50, "most faces tracked at once (faces beyond it are counted in the summary and warned of)")
    smoother: str = _opt("kalman", "kalman: head motion and face shape smoothed apart (default); kalman-points: "
                         "every point on its own", _smoothers)
    iou_threshold: float = _opt(0.3, "a detection matches a track when their boxes overlap this much (IoU)")
    min_hits: int = _opt(2, "good frames before a new face is reported (after the first frames of the video and of "
                         "each shot)")
    max_age: int = _opt(10, "frames a face may look lost before its track ends")
    min_landmark_score: float = _opt(0.2, "mean landmark score below which a crop is taken as not a face")
    refine_new: int = _opt(2, "extra re-crops on a new track's own landmarks (then on while the crop still moves)")
    refine_new_max: int = _opt(8, "... up to this many")
    refine: int = _opt(0, "crop again on each frame's own landmarks N times (more accurate on small faces, N+1 passes)")
    # Opt-in in video: on the video ground truth 3.90 -> 3.85% NME, flicker -6%, identity benchmark unchanged, but
    # hamilton 11 -> 14 IDs (other detection rounds, one oversized box ends a turning face; docs/pose.md)
    upright: bool = _opt(False, "crops around landmarks turned so the eye line is level (tilted heads read as "
                         "upright ones; docs/pose.md)")
    openness: bool = _opt(True, "eye and mouth openness and blinks (68-point models)")
    head_pose: bool = _opt(True, "yaw, pitch, roll (68-point models)")
    cuts: bool = _opt(True, "a shot cut (the frame jumps to another shot) ends every track: the faces after it start "
                      "new tracks, so one ID never runs from one person onto another across a cut (with "
                      "re-identification a person seen again gets their ID back; facetrack.cuts)")
    reid: bool | None = _opt(None, "a person who comes back gets their ID back (dlib's face descriptor): on by "
                             "default when facetrack[reid] is installed; --reid without it is an error, --no-reid "
                             "turns it off", type=bool)


TRACK_OPTIONS = {f.name for f in fields(TrackOptions)}


def landmark_box(lm: np.ndarray) -> np.ndarray:
    return np.asarray(_points_box(lm), dtype=np.float64)


@dataclass
class FaceTrack:
    """Everything kept for one face while it is tracked: the tracker's record of it (``track``: its box, life cycle,
    last landmarks), its next crop (the crop policy's ``crop``, ``angle``), its smoother, one state per analyser
    (``states``, in the analysers' order) and the identifier's (``seen``), and the ID its rows carry (``person``).
    Made when the tracker starts a track; its states are ended when the tracker removes it."""
    track: Track
    smoother: Smoother
    states: list
    seen: Any = None
    crop: np.ndarray | None = None
    angle: float = 0.0
    person: int = -1
    frames: int = 0                     # frames reported, and the first and last of them (seconds of video)
    first_s: float = float("nan")
    last_s: float = float("nan")


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

    A frame: detect (on the schedule) -> match (the tracker) -> one batched predict of every track's crop (the crop
    policy) -> observe (the tracker judges the landmarks) -> report (smooth, analyse, identify each face on its own
    :class:`FaceTrack`). ``detector``: a registered name or a :class:`~facetrack.detectors.Detector`; ``predictor``
    a :class:`~facetrack.interfaces.Predictor` to share; ``analysers``: :class:`~facetrack.interfaces.Analyser` s that
    add per-face values; ``identifier``: the analyser that gives faces their person's ID (by default the
    re-identifier, when ``reid`` allows it). Objects passed in are used as given and not closed by :meth:`close`.
    """

    def __init__(self, options: TrackOptions | None = None, *, detector: str | Detector | None = None,
                 predictor: Predictor | None = None, analysers: Iterable[Analyser] = (),
                 identifier: Analyser | None = None, **kw):
        o = TrackOptions(**vars(options)) if options else TrackOptions()
        for k, v in kw.items():
            if k not in TRACK_OPTIONS:
                raise FacetrackError(f"unknown tracking option {k!r}")
            setattr(o, k, v)
        if isinstance(detector, str):
            o.detector, detector = detector, None
        elif detector is not None:
            o.detector = detector.name
        if o.detect_every < 1:
            raise FacetrackError("detect_every must be at least 1")
        if o.max_faces < 1:
            raise FacetrackError("max_faces must be at least 1")
        self.o = o
        self.make_smoother = smoother_factory(o.smoother)
        self.predictor = predictor or LandmarkPredictor(o.model, o.device, backend=o.backend, precision=o.precision,
                                                           upright=o.upright)
        self.crop_policy = CropPolicy(self.predictor, o.refine, o.refine_new, o.refine_new_max)
        self.analysers = list(analysers)
        if self.predictor.num_points == 68:
            from .pose import HeadPoseAnalyser, OpennessAnalyser
            for on, cls in ((o.openness, OpennessAnalyser), (o.head_pose, HeadPoseAnalyser)):
                if on and not any(isinstance(a, cls) for a in self.analysers):
                    self.analysers.append(cls())
            if identifier is None and o.reid is not False:
                from .reid import ReIdentifier, available
                if o.reid or available():
                    identifier = ReIdentifier()
        self.identifier = identifier
        # the detector last: what can fail above fails before a detector (MediaPipe's native threads) exists
        self._owns_detector = detector is None
        self.detector = detector if detector is not None else create_detector(
            o.detector, model_path=o.detector_model, min_score=min(o.min_match_score, o.min_det_score),
            detect_width=o.detect_width)
        # the first inference of each engine pays its lazy set-up (~0.1 s): pay it here, not on frame 1
        if predictor is None:
            self.predictor.warmup()
        if self._owns_detector:
            self.detector.warmup()
        self.reset()

    def reset(self, start_index: int = 0) -> None:
        """Forget every track (a new video or chunk); the model and detector stay loaded. Frame indices
        continue from ``start_index``."""
        o = self.o
        self.tracker = Tracker(o.iou_threshold, o.min_hits, o.max_age, o.max_faces)
        for a in self._all_analysers():  # what they keep across tracks starts afresh too
            a.reset()
        self.faces: dict[int, FaceTrack] = {}   # the tracker's number -> its FaceTrack, while the track lives
        # tracks that ended since the reset, lightened to what summary() reads (their analysers' states), and the IDs
        # of those that ended since the last events were told (for their "ended" events)
        self.ended: list[FaceTrack] = []
        self._gone: dict[int, int] = {}
        self.schedule = DetectSchedule(o.detect_every)
        self.shot_cuts = ShotCuts() if o.cuts else None
        self.cuts = 0         # shot cuts seen since the reset
        self._shot_start = 0  # the frame (counted as ``processed``) the current shot began at
        self._prev_frame: np.ndarray | None = None  # the last frame, for faces that change at once (cuts on)
        self.index = self.start_index = start_index
        self.processed = 0  # frames updated since the reset (the detection cadence counts these)
        self.timings = {"detect": 0.0, "landmarks": 0.0, "track": 0.0, "smooth": 0.0}
        self._prev_time = None
        self.detections_run = 0

    def _all_analysers(self) -> list[Analyser]:
        return self.analysers + ([self.identifier] if self.identifier is not None else [])

    def update(self, frame: np.ndarray, time_s: float | None = None, index: int | None = None) -> FrameResult:
        """One frame. ``index``: its number in the source, counted from the reset's ``start_index`` (a live
        source skips the numbers of the frames it dropped); by default one more than the last."""
        if index is not None:
            self.index = self.start_index + index
        if time_s is None:
            time_s = self.index / 30.0
        self.tracker.begin_frame(self.index)
        if self.shot_cuts is not None:
            if self.shot_cuts(frame):
                self._cut()
            elif self.identifier is not None and self._prev_frame is not None:
                self._doubt_changed_faces(frame, time_s)
            self._prev_frame = frame
        new = self._detect(frame, time_s) if self.schedule.due(self.processed, bool(self.faces)) else set()
        faces = [self.faces[t.track_id] for t in self.tracker.tracks]
        lms, confs = self._landmarks(frame, faces, new)
        self._observe(faces, lms, confs)
        res = FrameResult(self.index, float(time_s), self._report(frame, time_s))
        res.events = self._events()
        self.index += 1
        self.processed += 1
        return res

    def finish(self) -> FrameResult | None:
        """The stream ended: end every track. Returns an empty result carrying the ``ended`` events (None when
        there are none), numbered as the frame after the last. :func:`run` and :func:`track` call it."""
        self.tracker.begin_frame(self.index)
        self._end(self.tracker.end_all())
        ev = self._events()
        return FrameResult(self.index, float("nan"), [], events=ev) if ev else None

    def _events(self) -> list[TrackEvent]:
        """The tracker's events in the IDs the rows carry: ``started`` with the ID of the track's first row,
        ``ended`` with its last (a young track that took a returning person's ID back ends as that person)."""
        ids = {**self._gone, **{k: f.person for k, f in self.faces.items()}}
        self._gone = {}
        return [TrackEvent(e.kind, ids.get(e.track_id, e.track_id), e.index) for e in self.tracker.pop_events()]

    # ------------------------------------------------------------------------------------ the stages
    def _cut(self) -> None:
        """A shot cut: every track ends (their ``ended`` events are this frame's) and the detector runs; the new
        shot's faces are reported from its first frame, as a video's are."""
        self.cuts += 1
        self._end(self.tracker.end_all())
        self.schedule.need = True
        self._shot_start = self.processed

    def _doubt_changed_faces(self, frame: np.ndarray, time_s: float) -> None:
        """A face whose box changed all over since the last frame may be another person now (a cut at the same
        place): the identifier looks again (:meth:`facetrack.reid.ReIdentifier.doubt`); :meth:`_report` ends the
        track when it is."""
        for f in self.faces.values():
            if f.person >= 0 and self.identifier.doubts(f.seen, time_s) and \
                    face_changed(self._prev_frame, frame, f.track.box):
                self.identifier.doubt(f.seen, time_s)

    def _detect(self, frame: np.ndarray, time_s: float) -> set[int]:
        """Run the detector; associate its (adapted) boxes with the tracks; returns the new tracks' numbers (each
        gets its FaceTrack)."""
        o = self.o
        t0 = time.perf_counter()
        dets, boxes = detect_boxes(self.detector, frame, time_s, min(o.min_match_score, o.min_det_score))
        self.schedule.ran(self.processed)
        self.detections_run += 1
        t1 = time.perf_counter()
        self.timings["detect"] += t1 - t0
        new = self.tracker.update_with_detections(boxes, np.array([d.score for d in dets]),
                                                  new_min_score=o.min_det_score, reach=self.detector.last_reach)
        for t in new:
            self.faces[t.track_id] = FaceTrack(t, self.make_smoother(),
                                               [a.start(t.track_id) for a in self.analysers],
                                               self.identifier.start(t.track_id) if self.identifier else None)
        self.timings["track"] += time.perf_counter() - t1
        return {t.track_id for t in new}

    def _landmarks(self, frame: np.ndarray, faces: list[FaceTrack], new: set[int]) -> tuple[np.ndarray, np.ndarray]:
        """Every track's landmarks in one batch, from the crop policy's crops (new tracks converged)."""
        if not faces:
            return np.zeros((0, 0, 2)), np.zeros((0, 0))
        t0 = time.perf_counter()
        lms, confs = self.crop_policy.landmarks(frame, faces, new)
        self.timings["landmarks"] += time.perf_counter() - t0
        return lms, confs

    def _observe(self, faces: list[FaceTrack], lms: np.ndarray, confs: np.ndarray) -> None:
        """Landmark quality gates each track (a crop whose peaks are weak is not a face: detect again next
        frame); a good frame sets the next crop; tracks without support and duplicates end."""
        t0 = time.perf_counter()
        tr = self.tracker
        bad = False
        for f, lm, cf in zip(faces, lms, confs):
            good = float(cf.mean()) >= self.o.min_landmark_score
            if tr.observe(f.track, lm, cf, good):
                self.crop_policy.follow(f, lm)
            bad |= not good
        self.schedule.need = bad
        self._end(tr.prune() + tr.suppress_duplicates())
        self.timings["track"] += time.perf_counter() - t0

    def _end(self, gone: list[Track]) -> None:
        """Tracks the tracker removed: their analysers' states end; they are kept for the summary."""
        for t in gone:
            f = self.faces.pop(t.track_id)
            for a, st in zip(self.analysers, f.states):
                a.end(st)
            if self.identifier is not None:
                self.identifier.end(f.seen)
            if f.person >= 0:  # reported: kept for the summary, without its smoother and landmarks
                self._gone[t.track_id] = f.person
                self.ended.append(FaceTrack(Track(t.track_id, t.box), None, f.states, f.seen, person=f.person,
                                            frames=f.frames, first_s=f.first_s, last_s=f.last_s))

    def people(self) -> dict[int, dict]:
        """Per ID the rows carry (a person: all their tracks): ``frames`` reported, ``first_s`` and ``last_s``."""
        out: dict[int, dict] = {}
        for f in [*self.ended, *self.faces.values()]:
            if f.person < 0 or not f.frames:
                continue
            p = out.setdefault(f.person, {"frames": 0, "first_s": f.first_s, "last_s": f.last_s})
            p["frames"] += f.frames
            p["first_s"], p["last_s"] = min(p["first_s"], f.first_s), max(p["last_s"], f.last_s)
        return out

    def summary(self) -> dict:
        """What the analysers report over the run (e.g. blinks per person), from every track's state, grouped by
        the IDs the rows carry; ``over_max_faces``: faces the face limit left out."""
        people: dict[int, list[FaceTrack]] = {}
        for f in sorted([*self.ended, *self.faces.values()], key=lambda f: f.track.track_id):
            if f.person >= 0:
                people.setdefault(f.person, []).append(f)
        out: dict = {}
        for i, a in enumerate(self.analysers):
            out.update(a.summary({k: [f.states[i] for f in fs] for k, fs in people.items()}))
        if self.identifier is not None:
            out.update(self.identifier.summary({k: [f.seen for f in fs] for k, fs in people.items()}))
        out["cuts"] = self.cuts
        tr = self.tracker
        out["over_max_faces"] = {"max_faces": self.o.max_faces, "detections": tr.over_limit_runs,
                                 "most_left_out": tr.over_limit_most}
        return out

    def _report(self, frame: np.ndarray, time_s: float) -> list[Face]:
        """The faces to report: tracks with landmarks this frame, confirmed (or in the video's first frames), each
        smoothed (its next crop led by the head's velocity), analysed and identified on its own FaceTrack."""
        t0 = time.perf_counter()
        out, changed = [], []
        dt = time_s - self._prev_time if self._prev_time is not None else 0.0
        for f in sorted(self.faces.values(), key=lambda f: f.track.track_id):
            t = f.track
            if t.misses > 0 or t.landmarks is None:
                continue  # not supported this frame: say nothing rather than something stale
            if t.state != "confirmed" and self.processed - self._shot_start >= self.o.min_hits:
                continue
            sm = f.smoother(t.landmarks, time_s)
            self.crop_policy.lead(self.tracker, f, f.smoother.velocity(), dt)
            face = Face(landmark_box(sm), sm, t.scores, t.track_id, t.det_score)
            for analyse, st in zip(self.analysers, f.states):
                face = analyse(face, st, frame, time_s)
            if self.identifier is not None:
                face = self.identifier(face, f.seen, frame, time_s)
                if self.identifier.changed(f.seen):
                    changed.append(f)  # another person now: not reported under this ID; its track ends
                    continue
            f.person = face.track_id
            f.frames += 1
            f.first_s = time_s if f.frames == 1 else f.first_s
            f.last_s = time_s
            self.tracker.report(t)
            out.append(face)
        if changed:  # their faces start new tracks next frame, reported from their first frame as after a cut
            self._end(self.tracker.end([f.track for f in changed]))
            self.schedule.need = True
            self._shot_start = self.processed + 1
        self.timings["smooth"] += time.perf_counter() - t0
        self._prev_time = time_s
        return out

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
        latency = LatencyStats(src.clock)
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
                latency.since(vf.read_at)
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
        if src.stalled:
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
    return {"source": src.spec, "frames": stats["frames"], "faces": stats["faces"],
            "tracks": len(stats["tracks"]), "seconds": round(dt, 3), "setup_seconds": round(setup, 3),
            "fps": round(stats["frames"] / max(dt - setup, 1e-9), 2),
            "detections_run": ft.detections_run, "dropped_frames": src.dropped, "live": bool(src.live),
            "latency_ms": latency.summary() if src.live else None, "truncated": bool(src.truncation),
            "expected_frames": (src.truncation or {}).get("expected_frames"),
            "stage_seconds": {k: round(v, 3) for k, v in (ft.timings.items() if ft else ())},
            "interrupted": stats["interrupted"], **(ft.summary() if ft else {}),
            "outputs": {s.kind: str(s.path) for s in sinks if isinstance(s, Sink) and s.path is not None}}
