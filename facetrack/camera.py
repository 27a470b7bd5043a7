"""Live camera: a preview window with landmarks, IDs and frames/s ('q' quits), or headless outputs.
Frames are dropped rather than falling behind a live source."""
from __future__ import annotations

import time

from .draw import draw_landmarks
from .errors import FacetrackError
from .pipeline import TrackOptions, run


def run_camera(source: str = "/dev/video0", options: TrackOptions | None = None, headless: bool = False,
               out_video=None, csv=None, jsonl=None, max_frames: int | None = None) -> dict:
    if headless:
        return run(source, out_video=out_video, csv=csv, jsonl=jsonl, progress=True, max_frames=max_frames,
                   options=options, live=True)
    import cv2
    state = {"t": time.perf_counter(), "fps": 0.0, "quit": False}
    win = "facetrack (q quits)"

    def show(res, image):
        now = time.perf_counter()
        state["fps"] = 0.9 * state["fps"] + 0.1 / max(now - state["t"], 1e-6)
        state["t"] = now
        vis = image.copy()
        for f in res.faces:
            draw_landmarks(vis, f.landmarks, f.box, f.track_id)
        cv2.putText(vis, f"{state['fps']:.1f} fps  {len(res.faces)} face(s)", (10, 24), cv2.FONT_HERSHEY_SIMPLEX,
                    0.7, (0, 255, 255), 2, cv2.LINE_AA)
        try:
            cv2.imshow(win, vis)
            if cv2.waitKey(1) & 0xFF == ord("q"):
                return False
        except cv2.error as e:
            raise FacetrackError(f"cannot open a preview window ({str(e).splitlines()[0][:80]}); use --headless") from None
        return True

    try:
        return run(source, out_video=out_video, csv=csv, jsonl=jsonl, progress=False, max_frames=max_frames,
                   options=options, live=True, on_frame_image=show)
    finally:
        try:
            cv2.destroyAllWindows()
        except cv2.error:
            pass
