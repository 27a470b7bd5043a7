"""Video in (PyAV: files, URLs, cameras, lavfi graphs) and out (H.264 with the source's timing and audio).

Sources decode in a background thread: files into a bounded queue (nothing dropped), live sources through the
one-slot hand-over of live.py (the newest frame wins; superseded frames are dropped and counted). Frames come
out as 8-bit BGR whatever the pixel format (gray, yuv444, 10-bit), upright (rotation metadata applied), with
times from packet timestamps.
"""
from __future__ import annotations

import logging
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import FacetrackError

log = logging.getLogger("facetrack.video")


@dataclass
class VideoFrame:
    index: int
    time_s: float
    image: np.ndarray = field(repr=False)
    pts: int | None = None
    read_at: float = 0.0  # the source's clock when the reader delivered it (latency is measured from here)


@dataclass
class SourceInfo:
    spec: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frames: int  # from the header; 0 when unknown (and not always true: damaged files promise more)
    duration_s: float | None
    has_audio: bool
    live: bool
    rotation: int = 0


def parse_source(spec: str) -> tuple[str, str | None, bool]:
    """(target, ffmpeg format or None, live) for a source spec."""
    s = str(spec)
    if s.startswith("lavfi:"):
        return s[6:], "lavfi", False
    if re.fullmatch(r"/dev/video\d+", s):
        return s, "v4l2", True
    if s.startswith("avfoundation:"):
        return s[len("avfoundation:"):], "avfoundation", True
    if s.startswith("dshow:"):
        return s[len("dshow:"):], "dshow", True
    if re.match(r"^(rtsp|rtmp|udp|srt|tcp)://", s):
        return s, None, True
    return s, None, False


def _is_url(s: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", s))


class VideoSource:
    """Iterate a video as :class:`VideoFrame` objects. Use as a context manager or call ``close()``.

    ``live`` sources (cameras, network streams; by default decided from the spec) hand over only their newest
    frame: the reader never waits, and a frame superseded before the pipeline takes it is dropped and counted
    (``dropped``); ``drop=False`` keeps every frame of a live source (for recording), late if need be.
    ``realtime`` plays a file at ``realtime`` x its own frame rate as a camera would deliver it (live).
    ``warn`` receives one-line warnings (skipped corrupt packets). ``clock``: monotonic seconds, which stamp each
    frame's delivery (``read_at``), pace ``realtime`` and time a stall (tests pass their own)."""

    def __init__(self, spec: str | Path, queue_size: int = 8, live: bool | None = None, warn=None,
                 open_timeout_s: float = 10.0, stall_timeout_s: float = 10.0, format: str | None = None,
                 start_s: float | None = None, end_s: float | None = None, realtime: float | None = None,
                 drop: bool = True, clock=time.monotonic):
        import av
        self.spec = str(spec)
        self.clock = clock
        self._qsize = queue_size
        self.stall_timeout_s = stall_timeout_s
        self.stalled = False
        self.start_s, self.end_s = start_s, end_s
        if realtime is not None and not realtime > 0:
            raise FacetrackError(f"realtime speed must be positive, got {realtime}")
        self.realtime = realtime
        target, fmt, is_live = parse_source(self.spec)
        fmt = format or fmt
        self.live = (is_live or realtime is not None) if live is None else live
        self.drop = drop
        self.warn = warn or (lambda m: print(f"facetrack: warning: {m}", file=sys.stderr))
        if fmt is None and not _is_url(target):
            p = Path(target)
            if not p.exists():
                raise FacetrackError(f"input not found: {target}")
            if p.is_dir():
                raise FacetrackError(f"input is a folder, not a video: {target}")
            if p.stat().st_size == 0:
                raise FacetrackError(f"input is empty (0 bytes): {target}")
        if fmt is not None and fmt not in av.format.formats_available:
            if fmt == "v4l2":
                self._init_opencv_camera(target)
                return
            raise FacetrackError(f"this PyAV build cannot open '{fmt}' sources")
        opts = {"rw_timeout": str(int(open_timeout_s * 1e6))} if _is_url(target) else {}
        try:
            self.container = av.open(target, format=fmt, options=opts, timeout=open_timeout_s if _is_url(target) else None)
        except Exception as e:  # noqa: BLE001 - every PyAV open failure is a bad input
            raise FacetrackError(f"cannot open video {self.spec}: {_av_msg(e)}") from None
        if not self.container.streams.video:
            self.container.close()
            raise FacetrackError(f"{self.spec} has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        cc = self.stream.codec_context
        fps = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
        dur = None
        if self.stream.duration is not None and self.stream.time_base is not None:
            dur = float(self.stream.duration * self.stream.time_base)
        elif self.container.duration:
            dur = self.container.duration / 1e6
        self.info = SourceInfo(self.spec, cc.width, cc.height, Fraction(fps), self.stream.time_base or Fraction(1, 90000),
                               int(self.stream.frames or 0), dur, bool(self.container.streams.audio), self.live)
        self._cap = None
        self._start()

    # ------------------------------------------------------------------ OpenCV fallback for cameras
    def _init_opencv_camera(self, target: str) -> None:
        import cv2
        if not Path(target).exists():
            raise FacetrackError(f"camera not found: {target}")
        try:
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        except AttributeError:
            pass
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            raise FacetrackError(f"cannot open camera {target}")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver keeps one frame, not a backlog
        self._cap = cap
        self.container = None
        fps = cap.get(cv2.CAP_PROP_FPS) or 30
        self.info = SourceInfo(self.spec, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                               Fraction(fps).limit_denominator(1001), Fraction(1, 1000), 0, None, False, True)
        self._start()

    def _start(self) -> None:
        from .live import LatestSlot
        self.queue = (LatestSlot(lambda item: isinstance(item, VideoFrame)) if (self.live and self.drop)
                      else queue.Queue(maxsize=max(1, self._qsize)))
        self._stop = threading.Event()
        self.skipped_packets = 0
        self.decoded, self.last_time_s, self.reached_end = 0, None, False
        self.truncation: dict | None = None
        self._thread = threading.Thread(target=self._run, name="facetrack-decode", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Frames of a live source superseded before the pipeline took them."""
        return getattr(self.queue, "dropped", 0)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)  # the live slot never blocks; a file's queue waits for room
                return True
            except queue.Full:
                continue
        return False

    def _frames(self) -> Iterator[tuple[np.ndarray, float, int | None]]:
        if self._cap is not None:
            t0 = self.clock()
            while not self._stop.is_set():
                ok, img = self._cap.read()
                if not ok:
                    return
                yield img, self.clock() - t0, None
            return
        import av
        st = self.stream
        tb = st.time_base
        start = st.start_time
        n = 0
        if self.start_s:  # a chunk: seek to the keyframe at or before start_s
            self.container.seek(int((self.start_s) / tb) + (start or 0), stream=st, backward=True, any_frame=False)
        for packet in self.container.demux(st):
            if self._stop.is_set():
                return
            try:
                frames = packet.decode()
            except av.error.FFmpegError as e:
                self.skipped_packets += 1
                self.warn(f"{self.spec}: skipped a corrupt packet at {_ts(packet.pts, tb)}: {_av_msg(e)}")
                continue
            for fr in frames:
                t = self._time(fr, tb, start, n)
                if self.start_s is not None and t < self.start_s - 1e-6:
                    continue
                if self.end_s is not None and t >= self.end_s - 1e-6:
                    return
                yield self._to_bgr(fr), t, fr.pts
                n += 1

    def _time(self, fr, tb, start, n) -> float:
        if fr.pts is not None and tb is not None:
            return float((fr.pts - (start or 0)) * tb)
        return n / float(self.info.fps)

    def _to_bgr(self, fr) -> np.ndarray:
        img = fr.to_ndarray(format="bgr24")
        rot = int(getattr(fr, "rotation", 0) or 0) % 360
        if rot:
            self.info.rotation = rot
            # PyAV reports the display matrix angle (counter-clockwise); turn the picture upright
            img = np.ascontiguousarray(np.rot90(img, k=rot // 90))
        return img

    def _run(self) -> None:
        from .live import Pacer
        pacer = Pacer(self.realtime, clock=self.clock) if self.realtime else None
        i = 0
        try:
            for img, t, pts in self._frames():
                if pacer is not None:
                    pacer.wait(t, self._stop)
                if not self._put(VideoFrame(i, t, img, pts, self.clock())):
                    return
                i += 1
                self.decoded, self.last_time_s = i, t
            self.reached_end = not self._stop.is_set()
        except Exception as e:  # noqa: BLE001 - reported to the consumer as one line
            self._put(FacetrackError(f"reading {self.spec} failed after {i} frames: {_av_msg(e)}"))
        finally:
            self._put(None)

    def __iter__(self) -> Iterator[VideoFrame]:
        return self.frames()

    def frames(self, stop: threading.Event | None = None, stall_timeout_s: float | None = None) -> Iterator[VideoFrame]:
        """Frames until the source ends, ``stop`` is set, or (live sources) no frame came for
        ``stall_timeout_s`` seconds (a camera or stream that stopped delivering: warned, then ended)."""
        if stall_timeout_s is None:
            stall_timeout_s = self.stall_timeout_s if self.live else None
        last = self.clock()
        while True:
            if stop is not None and stop.is_set():
                return
            try:
                item = self.queue.get(timeout=0.1)
            except queue.Empty:
                if stall_timeout_s is not None and self.clock() - last > stall_timeout_s:
                    self.stalled = True
                    self.warn(f"{self.spec}: no frame for {stall_timeout_s:g} s; the source stopped delivering, ending")
                    return
                continue
            last = self.clock()
            if item is None:
                self._check_truncation()
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def _check_truncation(self) -> None:
        """A file whose header promises clearly more than decoded (over 3% and 2 frames short, by frame count or
        by duration) is damaged or cut: say so once, with both counts (``truncation``)."""
        if not self.reached_end or self.live or self.start_s is not None or self.end_s is not None:
            return
        info, n = self.info, self.decoded
        expected = info.frames or (int(round(info.duration_s * float(info.fps))) if info.duration_s else 0)
        if expected and expected - n > max(2, 0.03 * expected):
            self.truncation = {"expected_frames": expected, "decoded_frames": n}
            self.warn(f"{self.spec}: the file promises {expected} frames but only {n} decode "
                      f"({100 * n / expected:.0f}%): it looks truncated or damaged")

    def close(self) -> None:
        self._stop.set()
        try:
            while True:
                self.queue.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout=2)
        if self._thread.is_alive():
            return  # blocked in a read of a stalled source: a daemon thread, left to the process's exit
        if self._cap is not None:
            self._cap.release()
        if self.container is not None:
            self.container.close()
            self.container = None

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _ts(pts, tb) -> str:
    return f"{float(pts * tb):.3f}s" if pts is not None and tb is not None else "?"


def _av_msg(e: Exception) -> str:
    """FFmpeg's reason without the errno number and the repeated file name."""
    msg = getattr(e, "strerror", None) or (str(e).strip().splitlines() or [type(e).__name__])[0]
    msg = re.sub(r"^\[Errno -?\d+\]\s*", "", str(msg))
    return re.sub(r":\s*'[^']*'$", "", msg)[:200]


class VideoWriter:
    """H.264 (libx264, yuv420p) mp4 writer. Frames carry their source time, so variable frame rate and the
    source's timing are kept; ``audio_from`` copies that file's first audio stream (packets, no re-encode)
    when the writer closes. Written to ``path`` directly; ``close()`` always finalises the file."""

    def __init__(self, path: str | Path, fps: Fraction | float, width: int, height: int,
                 audio_from: str | Path | None = None, crf: int = 23, preset: str = "veryfast"):
        import av
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = Fraction(fps).limit_denominator(100000)
        self.w, self.h = width + width % 2, height + height % 2
        try:
            self.out = av.open(str(self.path), "w")
        except Exception as e:  # noqa: BLE001
            raise FacetrackError(f"cannot write video {self.path}: {_av_msg(e)}") from None
        self.vs = self.out.add_stream("libx264", rate=self.fps)
        self.vs.width, self.vs.height, self.vs.pix_fmt = self.w, self.h, "yuv420p"
        self.tb = Fraction(1, 90000)
        self.vs.codec_context.time_base = self.tb
        self.vs.options = {"crf": str(crf), "preset": preset}
        self.audio_src, self.as_, self._ain = None, None, None
        if audio_from is not None and not str(audio_from).startswith("lavfi:"):
            try:
                self._ain = av.open(str(audio_from))
                if self._ain.streams.audio:
                    self.as_ = self.out.add_stream_from_template(self._ain.streams.audio[0])
                    self.audio_src = self._ain.streams.audio[0]
                else:
                    self._ain.close()
                    self._ain = None
            except Exception:  # noqa: BLE001 - no audio is not an error
                self._ain = None
        self.frames = 0
        self.last_pts = -1
        self.last_time = 0.0
        self.closed = False

    def write(self, image: np.ndarray, time_s: float | None = None) -> None:
        import av
        if time_s is None:
            time_s = self.frames / float(self.fps)
        if image.shape[1] != self.w or image.shape[0] != self.h:
            pad = np.zeros((self.h, self.w, 3), np.uint8)
            pad[: image.shape[0], : image.shape[1]] = image[: self.h, : self.w]
            image = pad
        fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        pts = int(round(time_s / self.tb))
        if pts <= self.last_pts:  # timestamps must increase
            pts = self.last_pts + 1
        fr.pts, fr.time_base = pts, self.tb
        self.last_pts = pts
        self.last_time = time_s
        for pkt in self.vs.encode(fr):
            self.out.mux(pkt)
        self.frames += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            for pkt in self.vs.encode(None):
                self.out.mux(pkt)
            if self.audio_src is not None:
                self._copy_audio()
        finally:
            self.out.close()
            if self._ain is not None:
                self._ain.close()

    def _copy_audio(self) -> None:
        end = self.last_time + 1.0 / float(self.fps)
        st = self.audio_src
        start = st.start_time or 0
        for pkt in self._ain.demux(st):
            if pkt.dts is None or pkt.size == 0:
                continue
            if pkt.pts is not None and float((pkt.pts - start) * st.time_base) > end:
                break
            pkt.stream = self.as_
            try:
                self.out.mux(pkt)
            except Exception:  # noqa: BLE001 - a bad audio packet must not cost the video
                continue

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def probe_frames(path: str | Path) -> int:
    """Number of decodable video frames (decodes everything)."""
    import av
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))
