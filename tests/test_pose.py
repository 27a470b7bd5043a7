"""Head pose: the angle convention, the PnP solve on exact projections, and the product's pose on a real photograph
rotated in-plane and mirrored (the default model's landmarks)."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from facetrack.pose import HeadPose, angles_from_rotation, load_face3d, rotation_from_angles
from facetrack.samples import FACE_BOX_IN_PATCH, PATCH_BOX
from facetrack.types import Face


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 0, 0), (0, 20, 0), (0, 0, -25), (-40, 15, 10)])
def test_angles_round_trip(angles):
    assert np.allclose(angles_from_rotation(rotation_from_angles(*angles)), angles, atol=1e-9)


def project(angles, size=(640, 480), dist=8.0):
    """The 3D mean face at ``angles``, ``dist`` face sizes in front of a camera of focal length max(w, h)."""
    w, h = size
    f = max(w, h)
    x = load_face3d() @ rotation_from_angles(*angles).T + [0.2, -0.1, dist]
    return np.stack([f * x[:, 0] / x[:, 2] + w / 2, f * x[:, 1] / x[:, 2] + h / 2], 1)


@pytest.mark.parametrize("angles", [(0, 0, 0), (35, 0, 0), (0, -20, 0), (0, 0, 15), (-30, 10, -12)])
def test_pnp_recovers_the_pose_of_an_exact_projection(angles):
    got, _ = HeadPose(calibrate=False).solve(project(angles), (640, 480))
    assert np.allclose(got, angles, atol=0.5)


def test_the_model_calibration_scales_yaw_shifts_pitch_and_keeps_roll():
    """The shipped calibration (fitted by benchmarks/pose_fit.py --calibrate): yaw x gain, pitch - offset, roll as
    PnP gives it; a mirrored pose stays mirrored; the solver's rvec/tvec are untouched."""
    from facetrack.pose import load_calibration
    cal = load_calibration()
    assert 1.0 <= cal["yaw_gain"] < 1.4 and 0 < cal["pitch_offset"] < 10  # what the model's landmarks need, measured
    for angles in [(25, 0, 0), (-25, 5, 10), (10, -15, -8)]:
        pts = project(angles)
        (y, p, r), (rv, tv) = HeadPose().solve(pts, (640, 480))
        (y0, p0, r0), (rv0, tv0) = HeadPose(calibrate=False).solve(pts, (640, 480))
        assert y == pytest.approx(y0 * cal["yaw_gain"]) and p == pytest.approx(p0 - cal["pitch_offset"])
        assert r == r0 and np.array_equal(rv, rv0) and np.array_equal(tv, tv0)
    mirrored = HeadPose().solve(project((-25, 5, -10)), (640, 480))[0]
    assert mirrored[0] == pytest.approx(-HeadPose().solve(project((25, 5, 10)), (640, 480))[0][0], abs=0.5)


def test_a_tiny_face_in_a_large_frame_gets_no_pose_instead_of_an_error():
    """OpenCV's SQPnP asserts when the points fill a tiny part of the frame (a ~10 px face in 720p, as RetinaFace
    finds far away): that once ended the whole pipeline. Such a face now has no pose; a 21 px one still has."""
    assert HeadPose().solve(project((0, 0, 0), (1280, 720), dist=120), (1280, 720)) == (None, None)
    got, _ = HeadPose(calibrate=False).solve(project((0, 0, 0), (1280, 720), dist=60), (1280, 720))
    assert np.allclose(got, (0, 0, 0), atol=0.5)


def test_sign_conventions_as_documented():
    """yaw > 0: the nose moves towards the image's left; pitch > 0: up; roll > 0: the face turns clockwise."""
    base = project((0, 0, 0))
    assert project((20, 0, 0))[30, 0] < base[30, 0] - 5
    assert project((0, 20, 0))[30, 1] < base[30, 1] - 5
    eye_line = lambda p: np.degrees(np.arctan2(*(p[45] - p[36])[::-1]))  # noqa: E731
    assert eye_line(project((0, 0, 20))) == pytest.approx(eye_line(base) + 20, abs=1.0)


@pytest.fixture(scope="module")
def photo_pose():
    pytest.importorskip("skimage")
    from facetrack import LandmarkPredictor
    from facetrack.samples import astronaut_bgr
    img = astronaut_bgr()
    pred = LandmarkPredictor("default", device="cpu")
    box = np.array(FACE_BOX_IN_PATCH, np.float64) + np.array(PATCH_BOX[:2] * 2)
    # the plain PnP: these tests are about the geometry of real landmarks; the calibration (yaw x gain, pitch -
    # offset, an odd map of yaw: mirror-safe) has its own test above
    hp = HeadPose(calibrate=False)

    def pose_of(image, m=None):
        """The mean pose after 2, 3, 4 and 5 re-crops: on this ~90 px face PnP's pitch moves by up to 3 degrees (roll
        by 0.6) from one re-crop to the next (sub-pixel changes of the landmarks)."""
        b = box if m is None else _box_through(box, m)
        size = (image.shape[1], image.shape[0])
        return np.mean([hp.solve(pred.predict(image, [b], refine=k)[0][0], size)[0] for k in (2, 3, 4, 5)], 0)
    return img, pose_of


def _box_through(box, m):
    c = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]]) @ m[:, :2].T + m[:, 2]
    return np.r_[c.min(0), c.max(0)]


@pytest.mark.parametrize("turn", [20.0, -20.0])
def test_in_plane_rotation_moves_roll_by_the_same_angle(photo_pose, turn):
    """Turning the photograph in-plane turns the head about the camera's axis: roll moves by the turn (issue 20:
    20 +- 2 degrees), and the whole rotation is the old one turned about that axis. In AFLW2000-3D's convention roll
    is the innermost angle, so a head pitched -20 degrees moves its roll by ~19 and its yaw by ~7 (the exact figures
    from the first pose)."""
    img, pose_of = photo_pose
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), turn, 1.0)  # counter-clockwise on screen
    a, b = pose_of(img), pose_of(cv2.warpAffine(img, m, (w, h)), m)
    # roll is clockwise-positive; measured with crops turned upright by the eye line (the default since the eighth
    # session): +20 degrees -18.5, -20 degrees +18.7 (exact for this head: -19.0 / +18.9); with level crops -17.5 /
    # +19.5, the model's landmarks pulled towards an upright face (and the yaw/pitch moved 5 / 10 degrees off)
    assert b[2] - a[2] == pytest.approx(-turn, abs=2.0)
    exact = rotation_from_angles(0, 0, -turn) @ rotation_from_angles(*a)  # the camera turned about its axis
    off = rotation_from_angles(*b) @ exact.T
    off_deg = np.degrees(np.arccos(np.clip((np.trace(off) - 1) / 2, -1, 1)))
    # measured 1.9 / 1.4 degrees on an AVX2 AMD EPYC, 4.6 / 3.2 on an AVX-512 one (int8; fp32 there 3.8 / 2.8: PnP's
    # pitch on this ~90 px face moves by degrees with sub-pixel landmark changes); level crops: 10.7 / 0.8; the
    # twelfth session's model (its last stage unmirrored, docs/accuracy.md) 5.1 at -20 degrees on the AVX-512 one
    assert off_deg < 6.0, off_deg


def test_mirror_negates_yaw_and_roll(photo_pose):
    img, pose_of = photo_pose
    w = img.shape[1]
    m = np.array([[-1.0, 0, w - 1], [0, 1.0, 0]])
    a, b = pose_of(img), pose_of(cv2.flip(img, 1), m)
    assert abs(a[0]) > 3 or abs(a[2]) > 3  # the astronaut's head is turned/tilted a little: a real check
    # measured: yaw -3.20 -> 3.04, roll 3.32 -> -3.04, pitch -14.3 -> -12.3 with the 2026-11-30 model; yaw -1.36 ->
    # 2.59 with the 2026-12-01 one (the model's landmarks on a mirrored face are not exactly mirrored; the 3D face is)
    assert b[0] == pytest.approx(-a[0], abs=1.5) and b[2] == pytest.approx(-a[2], abs=1.0)
    # pitch only roughly (a sanity bound: a mirrored solution moves it by tens of degrees): the model's points on the
    # mirrored face are not exactly mirrored, and PnP's pitch is their most sensitive angle; measured (mean of four
    # re-crops) -19.7 vs -16.3 with upright crops, -15.5 vs -17.4 with level ones
    assert b[1] == pytest.approx(a[1], abs=4.5)


def test_predict_over_a_folder_writes_one_json_line_per_image(tmp_path, detector_model):
    """`facetrack predict FOLDER --jsonl`: a line per image (an unreadable one says so and the run goes on), each face
    with box, landmarks and pose; the mirrored photograph's yaw and roll are the original's negated."""
    import json
    import os
    import subprocess
    import sys
    pytest.importorskip("skimage")
    from facetrack.samples import astronaut_bgr
    from conftest import ROOT
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    img = astronaut_bgr()
    cv2.imwrite(str(d / "a.png"), img)
    cv2.imwrite(str(d / "sub" / "b.jpg"), cv2.flip(img, 1))
    (d / "broken.jpg").write_bytes(b"not an image")
    env = {**os.environ, "FACETRACK_DETECTOR_MODEL": str(detector_model), "FACETRACK_HOME": str(tmp_path / "home")}
    r = subprocess.run([sys.executable, "-m", "facetrack", "predict", str(d), "--jsonl", str(tmp_path / "o.jsonl"),
                        "--out", str(tmp_path / "annotated"), "--quiet"], capture_output=True, text=True, env=env,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr[-800:]
    assert "cannot read image" in r.stderr and "Traceback" not in r.stderr
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    by = {Path(x["image"]).name: x for x in lines}
    assert sorted(by) == ["a.png", "b.jpg", "broken.jpg"] and by["broken.jpg"]["faces"] == []
    fa, fb = by["a.png"]["faces"][0], by["b.jpg"]["faces"][0]
    assert list(fa) == Face.columns(68, point_scores=True)  # the one face record every output writes
    assert fb["yaw"] == pytest.approx(-fa["yaw"], abs=1.5) and fb["roll"] == pytest.approx(-fa["roll"], abs=1.5)
    assert (tmp_path / "annotated" / "a.png").is_file() and (tmp_path / "annotated" / "sub" / "b.jpg").is_file()
    assert json.loads(r.stdout)["faces"] == 2
