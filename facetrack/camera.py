"""Live camera: a preview window with landmarks, IDs and frames/s ('q' quits), or headless outputs.
Frames are dropped rather than falling behind a live source."""
from __future__ import annotations

import sys
import threading
import time

from .draw import draw_face
from .errors import FacetrackError
from .pipeline import FaceTracker, TrackOptions, run
from .sinks import Sink


def display_problem() -> str | None:
    """Why a preview window cannot open here (None when it can): on Linux a window needs an X11 or Wayland
    display; without one OpenCV's GUI aborts the whole process instead of raising an error."""
    import os
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        return None
    if os.environ.get("WAYLAND_DISPLAY"):
        return None
    d = os.environ.get("DISPLAY")
    if not d:
        return "no display (DISPLAY is not set: a server or an SSH session without X forwarding)"
    if d.startswith(":"):  # a local X server listens on /tmp/.X11-unix/X<N>
        n = d[1:].split(".")[0]
        if n.isdigit() and not os.path.exists(f"/tmp/.X11-unix/X{n}"):
            return f"no X server answers on DISPLAY={d}"
    return None


class PreviewSink(Sink):
    """Shows each frame in a window; 'q' (or closing the window's loop) sets ``stop``."""
    kind = "preview"

    def __init__(self, stop: threading.Event, title: str = "facetrack (q quits)", source=None):
        self.stop, self.title, self.source = stop, title, source
        self.t, self.fps = time.perf_counter(), 0.0
        self.quit = False

    def write(self, result) -> None:
        import cv2
        now = time.perf_counter()
        self.fps = 0.9 * self.fps + 0.1 / max(now - self.t, 1e-6)
        self.t = now
        vis = result.image.copy()
        for f in result.faces:
            draw_face(vis, f)
        text = f"{self.fps:.1f} fps  {len(result.faces)} face(s)"
        if result.read_at:
            clock = self.source.clock if self.source is not None else time.monotonic
            text += f"  latency {(clock() - result.read_at) * 1000:.0f} ms"
        if self.source is not None:
            text += f"  dropped {self.source.dropped}"
        cv2.putText(vis, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 2, cv2.LINE_AA)
        try:
            cv2.imshow(self.title, vis)
            if cv2.waitKey(1) & 0xFF == ord("q"):
                self.quit = True
                self.stop.set()
        except cv2.error as e:
            raise FacetrackError(f"cannot open a preview window ({str(e).splitlines()[0][:80]}); use --headless") from None

    def close(self) -> None:
        import cv2
        try:
            cv2.destroyAllWindows()
        except cv2.error:
            pass


def run_camera(source: str = "/dev/video0", sinks=(), tracker: FaceTracker | TrackOptions | None = None,
               headless: bool = False, stop: threading.Event | None = None, max_frames: int | None = None,
               realtime: float | None = None, drop: bool = True) -> dict:
    """Track a live source into ``sinks``; unless ``headless``, also show a preview window ('q' quits).

    The newest frame is always the one processed (superseded frames are dropped and counted) unless ``drop`` is
    False; ``realtime`` plays a file at that multiple of its frame rate as if it were a camera."""
    from .video import VideoSource
    if not headless and (why := display_problem()):
        raise FacetrackError(f"cannot open a preview window: {why}; use --headless to write the outputs only")
    stop = stop or threading.Event()
    sinks = list(sinks)
    if not drop:
        print("facetrack: warning: keeping every frame of a live source: results fall behind it whenever "
              "processing is slower than the source", file=sys.stderr)
    # models first, then the camera: a live source opened before them would queue up stale frames
    ft = tracker if isinstance(tracker, FaceTracker) else FaceTracker(tracker)
    preview = None
    try:
        with VideoSource(source, live=True, realtime=realtime, drop=drop) as src:
            if not headless:
                preview = PreviewSink(stop, source=src)
                sinks.append(preview)
            res = run(src, sinks, ft, stop=stop, max_frames=max_frames, progress=headless)
    finally:
        if ft is not tracker:
            ft.close()
    if preview is not None and preview.quit:
        res["interrupted"] = "quit"
    return res
