"""Many small faces (issue 40): a video call's gallery whose faces BlazeFace cannot see is tracked whole by the
default detector, one ID per participant, and the scorer of benchmarks/crowds.py counts it. Real faces (ytf68 test
people from ../shared), the real detectors and model."""
import json

import pytest

from conftest import shared_path


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    from facetrack import scenes
    pool = scenes.people(f"csv:{shared_path('data/ytf68/test.csv')}")
    out = tmp_path_factory.mktemp("gallery") / "grid2x2.mp4"
    return scenes.render_grid(2, 2, pool, out, seed=3, iod=(22, 30), seconds=2.0, size=(1280, 720))


def test_the_default_tracks_every_participant_of_a_gallery_blazeface_cannot_see(gallery, detector_model, tmp_path):
    from facetrack import scoring
    from facetrack.detectors import create_detector
    from facetrack.errors import FacetrackError
    from facetrack.pipeline import FaceTracker, run
    from facetrack.sinks import CSVSink
    try:
        create_detector("retinaface").close()
    except FacetrackError as e:
        pytest.skip(f"RetinaFace model not obtainable here: {e}")
    truth = json.loads((gallery.parent / (gallery.name + ".truth.json")).read_text())["frames"]
    ft = FaceTracker(detector_model=str(detector_model), reid=False)
    s = run(str(gallery), [CSVSink(tmp_path / "g.csv")], ft, progress=False)
    ft.close()
    sc = scoring.score_many(truth, scoring.read_faces(tmp_path / "g.csv"))
    assert sc["true_faces_per_frame"] == 4
    assert sc["cover"] >= 0.95 and sc["ids"] == 4 and sc["switches"] == 0, sc
    assert s["detections_run"] >= 10  # BlazeFace every 5 frames; RetinaFace swept the first frame and once a second
    blaze = FaceTracker(detector="mediapipe", detector_model=str(detector_model), reid=False)
    s2 = run(str(gallery), [CSVSink(tmp_path / "m.csv")], blaze, progress=False)
    blaze.close()
    assert s2["faces"] == 0  # the faces are too small for BlazeFace: the sweeps found them
