"""Re-identification: the same person returning gets their ID back, another person does not, two people present
at once never share an ID. Real faces (scikit-image's astronaut and cameraman), the shipped landmark model and
dlib's descriptor (the reid extra; skips without it)."""
import numpy as np
import pytest

from facetrack.detectors import IDENTITY
from facetrack.pipeline import FaceTracker
from facetrack.types import Detection


class ScriptedDetector:
    """Boxes by frame number (time_s x 10) from a script."""
    name = "scripted"
    box_adapter = IDENTITY

    def __init__(self, script):
        self.script = script

    def detect(self, frame, time_s=None):
        return [Detection(b, 0.95) for b in self.script(int(round(time_s * 10)))]

    def close(self):
        pass


def test_a_returning_person_gets_their_id_back():
    pytest.importorskip("skimage")
    from facetrack import reid
    if not reid.available():
        pytest.skip("re-identification needs the reid extra (dlib-bin, face_recognition_models)")
    import cv2
    from skimage import data
    from facetrack.samples import astronaut_bgr
    ast, cam = astronaut_bgr(), cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    AST, CAM = [180.0, 85.0, 272.0, 180.0], [200.0, 128.0, 252.0, 188.0]  # their landmark boxes (about)
    blank = np.full((512, 1024, 3), 60, np.uint8)

    def canvas(i):
        f = blank.copy()
        if i < 10 or 40 <= i < 55 or i >= 100:
            f[:, :512] = ast
        if 80 <= i < 95 or i >= 100:
            f[:, 512:] = cam
        return f

    def script(i):
        out = []
        if i < 10 or 40 <= i < 55 or i >= 100:
            out.append(AST)
        if 80 <= i < 95 or i >= 100:
            out.append([CAM[0] + 512, CAM[1], CAM[2] + 512, CAM[3]])
        return out

    ft = FaceTracker(detector=ScriptedDetector(script), device="cpu", backend="torch", smoother="none",
                     detect_every=1, reid=True)
    ids = {}
    for i in range(110):
        for f in ft.update(canvas(i), i / 10).faces:
            ids.setdefault(i, []).append((f.track_id, "ast" if (f.box[0] + f.box[2]) / 2 < 512 else "cam"))
    ast_ids = {t for i, v in ids.items() for t, who in v if who == "ast"}
    cam_ids = {t for i, v in ids.items() for t, who in v if who == "cam"}
    assert ast_ids == {1}, ids          # left at frame 10, back at 40 and at 100: always 1
    assert len(cam_ids) == 1 and 1 not in cam_ids, ids  # another person: never the astronaut's ID
    assert all(len({t for t, _ in v}) == len(v) for v in ids.values())  # no ID shared in one frame
    assert ft.summary()["reid"]["returns"] >= 2


def test_reid_is_on_by_default_where_the_extra_is_installed():
    """TrackOptions(reid=None) (the default) re-identifies exactly when facetrack[reid] is installed; False never;
    the identity benchmark (docs/tracking.md) is what decided the default."""
    from facetrack import reid
    from facetrack.pipeline import TrackOptions

    def has_reid(**kw):
        ft = FaceTracker(TrackOptions(detector="truth", **kw), detector=ScriptedDetector(lambda i: []))
        try:
            return any(type(a).__name__ == "ReIdentifier" for a in ft.analysers)
        finally:
            ft.close()
    assert has_reid() == reid.available()
    assert has_reid(reid=False) is False
