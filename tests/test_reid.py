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
    box_adapter, last_reach = IDENTITY, 0.0

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
            return type(ft.identifier).__name__ == "ReIdentifier"
        finally:
            ft.close()
    assert has_reid() == reid.available()
    assert has_reid(reid=False) is False


def test_a_returning_track_looks_again_and_keeps_several_views():
    """The rules without dlib's network (descriptors scripted): a returning person whose first view back is too far
    from every remembered view takes their ID back at a later view within decide_s; remembered identities keep their
    first view and the latest ones; a track past decide_s never takes an ID; another person never takes it."""
    from facetrack import reid
    if not reid.available():
        pytest.skip("re-identification needs the reid extra (dlib-bin, face_recognition_models)")
    from facetrack.types import Face
    r = reid.ReIdentifier(views=3, tries=3, retry_s=0.2, refresh_s=1.0)
    a, b = np.zeros(128), np.zeros(128)
    b[0] = 1.0  # another person, 1.0 away
    views, calls = [], []  # what each description returns, in turn (the last one repeats); when it ran

    def describe(frame, lm):
        calls.append(1)
        return views.pop(0) if len(views) > 1 else views[0]
    r.describe = describe
    frame = np.zeros((400, 400, 3), np.uint8)
    lm = np.stack(np.meshgrid(np.linspace(150, 250, 17), np.linspace(150, 250, 4)), -1).reshape(-1, 2)[:68]

    states = {}  # each track's state (a FaceTrack holds it in the pipeline)

    def step(tid, t, quality=1.0):
        st = states.setdefault(tid, r.start(tid))
        return r(Face(track_id=tid, box=np.array([150, 150, 250, 250.0]), landmarks=lm.copy(),
                      scores=np.full(68, quality)), st, frame, t).track_id

    def near(v, d, k=1):
        out = v.copy()
        out[k] = d
        return out

    # person A on screen 0-2 s: described at 0 (nobody remembered: no second look), refreshed at 1 and 2 s
    views[:] = [a, a.copy(), near(a, 0.3)]
    assert [step(1, k / 10) for k in range(21)] == [1] * 21
    kept = states[1].views  # the first view and the latest ones
    assert len(calls) == 3 and len(kept) == 3 and kept[0] is a and kept[-1][1] == 0.3
    r.end(states[1])
    # B comes and goes: never takes A's ID
    views[:] = [b]
    assert [step(2, 3 + k / 10) for k in range(25)] == [2] * 25
    r.end(states[2])
    # A comes back as track 3: the first view back is >= 0.7 from all of A's (no match), the next 0.1 (match)
    views[:] = [near(a, 0.7, k=2), near(a, 0.1)]
    ids = [step(3, 6 + k / 10) for k in range(10)]
    assert ids[:2] == [3, 3] and set(ids[2:]) == {1} and r.returns == 1, ids
    r.end(states[3])
    # A again, as track 4, seen well only after decide_s: no ID taken back
    views[:] = [near(a, 0.0)]
    ids = [step(4, 8 + k / 10, 0.2 if k < 12 else 1.0) for k in range(20)]
    assert set(ids) == {4} and r.returns == 1
    # a later chunk of a batch (unseen_past): with nobody remembered here a new track still takes its three looks
    # (at 0, 0.2 and 0.4 s), and all its views are kept for the linking across chunks
    r.reset()
    states.clear()
    r.unseen_past = True
    views[:] = [near(b, 0.5), near(b, 0.2), b]
    n = len(calls)
    assert [step(1, 20 + k / 10) for k in range(10)] == [1] * 10
    assert len(calls) - n == 3 and len(r.identities()[1]["views"]) == 3


def test_link_across_chunks_takes_back_an_ended_id_and_never_one_on_screen():
    """The rule ``facetrack batch --chunk-seconds`` applies afterwards: an ID begun in a later chunk takes the
    earlier ID nearest in appearance, only one that ended before it began, was seen well long enough, is within
    memory, and is clearly nearer than any other. Descriptors made up (128 numbers, distances set by hand)."""
    from facetrack.reid import link_across_chunks
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 128), rng.normal(0, 1, 128)
    a, b = 0.65 * a / np.linalg.norm(a), 0.65 * b / np.linalg.norm(b)  # two people: ~0.9 apart (dlib: > 0.6)
    near = lambda v, d: v + d * rng.normal(0, 1, 128) / np.sqrt(128)  # noqa: E731 - the same person, another view

    def link(spans, views, seen=None, new=(), **kw):
        return link_across_chunks(dict(spans), {k: list(v) for k, v in views.items()},
                                  dict(seen or {k: 5.0 for k in spans}), list(new), **kw)
    # 1 (person a) left at 3 s; 2 (person b) on screen 0-8 s; 1000001 (person a again) from 5 s
    spans = {1: (0.0, 3.0), 2: (0.0, 8.0), 1_000_001: (5.0, 8.0)}
    views = {1: [a], 2: [b], 1_000_001: [near(a, 0.15)]}
    assert link(spans, views, new=[1_000_001]) == {1_000_001: 1}  # b is on screen: never a candidate
    assert link(spans, {**views, 1_000_001: [near(b, 0.15)]}, new=[1_000_001]) == {}  # looks like b, who is there
    assert link(spans, views, seen={1: 0.5, 2: 5.0, 1_000_001: 5.0}, new=[1_000_001]) == {}  # 1 seen too briefly
    assert link(spans, views, new=[1_000_001], memory_s=1.0) == {}  # 1 ended 2 s before: beyond memory
    assert link(spans, {**views, 1_000_001: [near(a, 2.0)]}, new=[1_000_001]) == {}  # too far from anyone
    # two ended IDs about as near: no decision (margin); one clearly nearer: that one
    spans2 = {1: (0.0, 3.0), 3: (0.0, 3.5), 1_000_001: (5.0, 8.0)}
    q = near(a, 0.1)
    assert link(spans2, {1: [a], 3: [a + 0.001], 1_000_001: [q]}, new=[1_000_001]) == {}
    assert link(spans2, {1: [a], 3: [b], 1_000_001: [q]}, new=[1_000_001]) == {1_000_001: 1}
    # an ID taken back spans both times: a later new ID that overlaps the second part cannot take it too
    spans3 = {1: (0.0, 2.0), 1_000_001: (3.0, 6.0), 2_000_001: (5.0, 8.0)}
    got = link(spans3, {1: [a], 1_000_001: [near(a, 0.1)], 2_000_001: [near(a, 0.1)]},
               new=[1_000_001, 2_000_001])
    assert got == {1_000_001: 1}


def test_batch_chunks_give_a_returning_person_their_id_back(tmp_path, detector_model):
    """`facetrack batch --chunk-seconds 4` on a clip whose second person walks out at 2-3 s and back in at 5-6 s:
    the chunk border (the keyframe at 4 s) falls while they are away, so only re-identification across chunks
    gives them their ID back (before it: three IDs for two people)."""
    import json
    from facetrack import reid
    if not reid.available():
        pytest.skip("re-identification needs the reid extra (dlib-bin, face_recognition_models)")
    pytest.importorskip("skimage")
    from conftest import shared_path
    data = shared_path("data/ytf68/test.csv")
    from facetrack import scenes, scoring
    from facetrack.batch import BatchOptions, run_batch
    from facetrack.pipeline import TrackOptions
    clip = scenes.render_scene("leave_return", 0, scenes.people(f"csv:{data}"), scenes.backgrounds(scenes.W, scenes.H),
                               tmp_path / "lr.mp4", gop=50)
    truth = json.loads((tmp_path / "lr.mp4.truth.json").read_text())["frames"]
    res = {}
    for on in (True, False):
        out = tmp_path / f"out_{on}"
        o = BatchOptions(out=str(out), chunk_seconds=4.0, workers=2,
                         track=TrackOptions(device="cpu", detector_model=str(detector_model), reid=on))
        assert run_batch([str(clip)], o, progress=False)["done"] == 1
        assert json.loads((out / "manifest.jsonl").read_text())["chunks"] == 2
        assert not list(out.glob(".*identities*"))  # the chunks' views are removed after the merge
        res[on] = scoring.score_identity(truth, scoring.read_boxes(out / "lr.csv"))
    assert res[True]["returns"] == res[True]["regained"] == 1 and res[True]["ids"] == 2, res
    assert res[True]["shared"] == 0
    assert res[False]["regained"] == 0 and res[False]["ids"] == 3, res  # the tracker alone: a new ID
