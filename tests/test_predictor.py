import numpy as np
import pytest

from facetrack import FacetrackError, LandmarkPredictor
from facetrack.samples import FACE_BOX_IN_PATCH, PATCH_BOX
from pipnet_model import save_model

from conftest import synthetic_faces


@pytest.fixture(scope="module")
def predictor():
    """The shipped model (torch, fp32) on a real face: its score peaks are sharp, so every check below
    exercises the argmax, the offsets and the NRM merge as users get them."""
    return LandmarkPredictor("default", device="cpu", backend="torch")


@pytest.fixture(scope="module")
def astronaut():
    pytest.importorskip("skimage")
    from facetrack.samples import astronaut_bgr
    return astronaut_bgr()


FACE = np.array(FACE_BOX_IN_PATCH) + np.array(PATCH_BOX[:2] * 2)  # the face's landmark box in the photograph


def astronaut_faces(img, n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """n views of the photograph (scaled, rotated, shifted) with the face's box in each."""
    import cv2
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s, a = rng.uniform(0.5, 0.9), rng.uniform(-15, 15)
        m = cv2.getRotationMatrix2D((256, 256), a, s)
        m[:, 2] += rng.uniform(-30, 30, 2) - (1 - s) * 128
        view = cv2.warpAffine(img, m, (384, 384))
        c = np.array([[FACE[0], FACE[1]], [FACE[2], FACE[1]], [FACE[2], FACE[3]], [FACE[0], FACE[3]]]) @ m[:, :2].T + m[:, 2]
        out.append((view, np.array([*c.min(0), *c.max(0)])))
    return out


def test_shift_of_frame_and_box_shifts_landmarks(predictor, astronaut):
    img, box = astronaut, FACE
    lm, conf = predictor.predict(img, [box])
    dx, dy = 37, 21
    big = np.zeros((512 + dy + 5, 512 + dx + 9, 3), np.uint8)
    big[dy:dy + 512, dx:dx + 512] = img
    lm2, conf2 = predictor.predict(big, [box + [dx, dy, dx, dy]])
    assert lm.shape == (1, 68, 2) and conf.shape == (1, 68)
    np.testing.assert_allclose(lm2 - lm, np.broadcast_to([dx, dy], lm.shape), atol=1e-3)
    np.testing.assert_allclose(conf2, conf, atol=1e-5)


def test_scaling_frame_and_box_scales_landmarks(predictor, astronaut):
    """Frame 2x and box 2x: crops are (nearly) the same image, landmarks come back 2x in frame pixels."""
    import cv2
    img = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    box = FACE / 2
    lm, _ = predictor.predict(img, [box])
    big = cv2.resize(img, (512, 512), interpolation=cv2.INTER_NEAREST)
    lm2, _ = predictor.predict(big, [box * 2])
    # same crop content up to resampling -> (x + 0.5) * 2 - 0.5; resampling moves points by about a percent of
    # the face's width (measured: median 0.7%, max 1.9%); a wrong scale or origin would be tens of percent
    expected = (lm + 0.5) * 2 - 0.5
    err = np.linalg.norm(lm2 - expected, axis=-1) / ((box[2] - box[0]) * 2)
    assert np.median(err) < 0.015 and err.max() < 0.04, (np.median(err), err.max())


def test_batch_of_one_equals_batch_of_seven(predictor, astronaut):
    items = [(img, box[None]) for img, box in astronaut_faces(astronaut, 7, seed=4)]
    together = predictor.predict_batch(items)
    for (img, box), (lm, conf) in zip(items, together):
        lm1, conf1 = predictor.predict(img, box)
        np.testing.assert_allclose(lm1, lm, atol=1e-4)
        np.testing.assert_allclose(conf1, conf, atol=1e-5)


def test_boxes_partly_outside_the_frame(predictor, astronaut):
    img = astronaut
    boxes = [[-60, -40, 50, 70], [420, 430, 560, 550], [-500, -500, 1000, 1000]]
    lm, conf = predictor.predict(img, boxes)
    assert lm.shape == (3, 68, 2) and np.isfinite(lm).all() and np.isfinite(conf).all()


def test_no_faces_and_bad_input(predictor):
    img = np.zeros((50, 60, 3), np.uint8)
    lm, conf = predictor.predict(img, np.zeros((0, 4)))
    assert lm.shape == (0, 68, 2) and conf.shape == (0, 68)
    with pytest.raises(FacetrackError):
        predictor.predict(np.zeros((50, 60), np.uint8), [[0, 0, 10, 10]])
    with pytest.raises(FacetrackError):
        predictor.predict(img, [[10, 10, 5, 20]])
    with pytest.raises(FacetrackError):
        predictor.predict(img, [[0, 0, 10, 10]], color="YUV")


def test_rgb_and_bgr_frames_agree(predictor, astronaut):
    img, box = astronaut, [FACE]
    a, _ = predictor.predict(img, box, color="BGR")
    b, _ = predictor.predict(np.ascontiguousarray(img[..., ::-1]), box, color="RGB")
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_device_crops_match_opencv_crops(tmp_path, tiny_model):
    """The GPU crop path (grid_sample), run on the CPU here, cuts the same pixels as cv2.warpAffine."""
    import torch

    from pipnet_model.inference import to_input
    pred = LandmarkPredictor(save_model(tiny_model, tmp_path / "m.safetensors"), device="cpu", backend="torch")
    img = synthetic_faces(1, size=160, seed=8)[0][0]
    boxes = np.array([[30.0, 35.0, 120.0, 130.0], [-20.0, 100.0, 60.0, 190.0]])
    crops, mats = pred.crops(img, boxes)
    ref = to_input(crops, pred.model)
    got = pred.device_crop_tensor(img, mats)
    assert got.shape == ref.shape
    diff = (got - ref).abs()
    assert float(diff.mean()) < 0.01 and float(torch.quantile(diff.flatten(), 0.999)) < 0.1


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_backends_match_torch(tmp_path, tiny_model, backend, monkeypatch):
    from facetrack.backends import installed
    if not installed(backend):
        pytest.skip(f"{backend} not installed")
    monkeypatch.setenv("FACETRACK_HOME", str(tmp_path / "home"))
    for p in tiny_model.net.parameters():
        p.data.normal_(0, 0.05)
    f = save_model(tiny_model, tmp_path / "m.safetensors")
    ref = LandmarkPredictor(f, device="cpu", backend="torch")
    other = LandmarkPredictor(f, device="cpu", backend=backend)
    assert other.backend == backend
    faces = synthetic_faces(4, size=160, seed=9)
    from pipnet_model.inference import to_input
    crops = np.stack([ref.crops(img, [[30, 30, 130, 130]])[0][0] for img, _ in faces])
    x = to_input(crops, ref.model)
    for a, b in zip(ref.predictor.outputs(x), other.runner.run_np(x.numpy())):
        assert float(np.abs(a.numpy() - b).max()) < 1e-3  # raw maps agree (fp32 both)
    # the trained default model on a real photograph: landmarks agree within 0.05 px
    pytest.importorskip("skimage")
    from facetrack.samples import astronaut_bgr
    img = astronaut_bgr()
    box = [[175.0, 95.0, 275.0, 195.0]]
    la, ca = LandmarkPredictor("default", device="cpu", backend="torch").predict(img, box)
    lb, cb = LandmarkPredictor("default", device="cpu", backend=backend, precision="fp32").predict(img, box)
    assert np.abs(la - lb).max() < 0.05 and np.abs(ca - cb).max() < 1e-3


def test_refinement_recrops_on_the_landmark_box():
    """With a loose box, re-cropping on the predicted landmarks moves the result toward the tight-box answer."""
    pytest.importorskip("skimage")
    from facetrack.samples import astronaut_bgr
    img = astronaut_bgr()
    pred = LandmarkPredictor("default", device="cpu")
    tight, _ = pred.predict(img, [[175.0, 95.0, 275.0, 195.0]], refine=2)
    loose, _ = pred.predict(img, [[160.0, 80.0, 300.0, 230.0]])
    refined, _ = pred.predict(img, [[160.0, 80.0, 300.0, 230.0]], refine=2)
    assert np.abs(refined - tight).mean() < np.abs(loose - tight).mean()
    assert np.abs(refined - tight).mean() < 2.0  # within 2% of the ~100 px face


def test_upright_box_levels_the_eye_line():
    """The box of a face turned by 25 degrees, in its own frame: the crop it gives holds the points level, with
    the extents of the face before it was turned."""
    from pipnet_model.geometry import apply_affine, crop_matrix, landmark_box, upright_box
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 100, (68, 2))
    p[36], p[45] = [20, 40], [80, 40]
    t = np.radians(25)
    q = (p - 50) @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) + [300, 200]  # clockwise on screen
    box, angle = upright_box(q, (36, 45))
    assert angle == pytest.approx(25.0)
    np.testing.assert_allclose(np.subtract(box[2:], box[:2]), np.ptp(p, 0), atol=1e-9)
    r = apply_affine(q, crop_matrix((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 100, 100, angle))
    assert r[45, 1] - r[36, 1] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(landmark_box(r), landmark_box(p - p.min(0) + (99 - np.ptp(p, 0)) / 2), atol=1e-9)  # centre: pixel 49.5


def test_upright_crops_hold_a_tilted_head(astronaut):
    """The photograph turned 40 degrees: with crops turned level by the eye line (the default) the landmarks,
    turned back, land where the upright photograph's are; level crops of the tilted head miss by more (the model
    pulls its points towards an upright face). Measured: mean 0.9 px upright, 1.6 px level (a ~90 px face)."""
    import cv2
    h, w = astronaut.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 40.0, 1.0)
    turned = cv2.warpAffine(astronaut, m, (w, h))
    c = np.array([[FACE[0], FACE[1]], [FACE[2], FACE[1]], [FACE[2], FACE[3]], [FACE[0], FACE[3]]]) @ m[:, :2].T + m[:, 2]
    box = np.r_[c.min(0), c.max(0)]
    err = {}
    for up in (True, False):
        p = LandmarkPredictor("default", device="cpu", upright=up)
        ref, _ = p.predict(astronaut, [FACE], refine=2)
        lm, _ = p.predict(turned, [box], refine=2)
        back = (lm[0] - m[:, 2]) @ np.linalg.inv(m[:, :2]).T
        err[up] = np.linalg.norm(back - ref[0], axis=1).mean()
    assert err[True] < 2.0 and err[True] < 0.7 * err[False], err


def test_the_tracker_crops_upright_when_asked(astronaut, detector_model):
    """``TrackOptions(upright=True)``: after its first frame a track's crop is turned by the face's eye line, and on
    the photograph turned 40 degrees its landmarks, turned back, land near the upright photograph's (level crops,
    the tracker's default: mean 1.3 px off; upright 0.4 px, measured; eye line -36.9 degrees)."""
    import cv2

    from facetrack.pipeline import FaceTracker, TrackOptions
    h, w = astronaut.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 40.0, 1.0)
    turned = cv2.warpAffine(astronaut, m, (w, h))
    ref, _ = LandmarkPredictor("default", device="cpu").predict(astronaut, [FACE], refine=2)
    err = {}
    for up in (True, False):
        ft = FaceTracker(TrackOptions(upright=up, smoother="none", reid=False, detector_model=str(detector_model)))
        for i in range(4):
            faces = ft.update(turned, i / 25, i).faces
        (t,) = ft.faces.values()  # the FaceTrack: its next crop (the crop policy's)
        eye = np.degrees(np.arctan2(*(faces[0].landmarks[45] - faces[0].landmarks[36])[::-1]))
        assert (t.crop is not None and t.angle == pytest.approx(eye, abs=3.0)) if up else (t.crop is None and t.angle == 0)
        back = (faces[0].landmarks - m[:, 2]) @ np.linalg.inv(m[:, :2]).T
        err[up] = np.linalg.norm(back - ref[0], axis=1).mean()
        ft.close()
    assert err[True] < 2.0 and err[True] < 0.7 * err[False], err


@pytest.mark.parametrize("precision,tol", [("fp16", 0.05), ("bf16", 0.5)])
def test_torch_reduced_precisions_run_and_stay_close(precision, tol):
    """The dtype path torch takes on CUDA (fp16 by default there), exercised on the CPU with the trained
    model on a real photograph (measured: fp16 0.007 px mean, bf16 0.09 px mean from fp32)."""
    pytest.importorskip("skimage")
    from facetrack.samples import astronaut_bgr
    img = astronaut_bgr()
    box = [[175.0, 95.0, 275.0, 195.0]]
    la, _ = LandmarkPredictor("default", device="cpu", backend="torch", precision="fp32").predict(img, box)
    low = LandmarkPredictor("default", device="cpu", backend="torch", precision=precision)
    assert low.precision == precision
    lb, _ = low.predict(img, box)
    assert np.linalg.norm(la - lb, axis=-1).mean() < tol
    from facetrack.backends import installed
    other = "openvino" if precision == "fp16" else "onnxruntime"
    if installed(other):
        with pytest.raises(FacetrackError, match="torch backend" if precision == "fp16" else "openvino or torch"):
            LandmarkPredictor("default", device="cpu", backend=other, precision=precision)


def test_a_model_without_an_int8_copy_runs_fp32_on_openvino_by_default(tmp_path):
    """auto without a quantized copy is fp32 by name: OpenVINO's own default is bf16 on CPUs with AMX (where a
    user's model once ran bf16 silently, reported as fp32, 1.4 px from fp32 on a video frame)."""
    pytest.importorskip("openvino")
    pytest.importorskip("skimage")
    import shutil

    from facetrack.assets import resolve_model_path
    from facetrack.samples import astronaut_bgr
    src = resolve_model_path("default")
    for suffix in (".safetensors", ".onnx"):  # the weights and their runtime file, no int8 copy
        shutil.copy(src.with_suffix(suffix), tmp_path / f"m{suffix}")
    img, box = astronaut_bgr(), [[175.0, 95.0, 275.0, 195.0]]
    auto = LandmarkPredictor(str(tmp_path / "m.safetensors"), device="cpu", backend="openvino")
    fp32 = LandmarkPredictor(str(tmp_path / "m.safetensors"), device="cpu", backend="openvino", precision="fp32")
    assert auto.precision == "fp32"
    assert np.array_equal(auto.predict(img, box)[0], fp32.predict(img, box)[0])


def test_fast_glue_matches_the_plain_numpy_steps_on_a_real_photo():
    """The runtime path's glue (OpenCV's blob maker for the input scaling, one batched matrix product back to
    the frame) gives the landmarks of the plain numpy steps, within 0.05 px, on a real photograph. On the fp32
    engine: the int8 copy quantizes its input, and with OpenVINO 2026.4.1 the two paths' float rounding (5e-7)
    already flips input steps there (outputs 0.05 apart, one point 0.77 px): that compares quantization, not glue."""
    pytest.importorskip("skimage")
    from facetrack.samples import astronaut_bgr
    from pipnet_model.geometry import apply_affine, from_unit, invert_affine
    from pipnet_model.runtime import decode_np, reverse_index_of
    img = astronaut_bgr()
    boxes = np.array([[175.0, 95.0, 275.0, 195.0], [160.0, 80.0, 300.0, 230.0]])
    pred = LandmarkPredictor("default", device="cpu", precision="fp32")
    got, conf = pred.predict(img, boxes)
    crops, mats = pred.crops(img, boxes)
    m = pred.meta
    x = crops[..., ::-1].astype(np.float32) / np.float32(255.0)  # BGR -> RGB, then (x - mean) / std
    x = np.ascontiguousarray(((x - np.float32(m.mean)) / np.float32(m.std)).transpose(0, 3, 1, 2))
    pts, c = decode_np(pred.runner.run_np(x), *reverse_index_of(m), nrm=m.nrm != "none")
    want = np.stack([apply_affine(from_unit(p.astype(np.float64), pred.size), invert_affine(k)) for p, k in zip(pts, mats)])
    assert np.abs(got - want).max() < 0.05 and np.abs(conf - c).max() < 1e-3


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_openvino_batches_of_every_size_equal_face_by_face(astronaut, precision):
    """The OpenVINO engine takes a small batch face by face through its one-face engine and a larger one split
    over its per-core streams (backends.OpenVINORunner.run_np): every batch size gives each face what it gets alone."""
    pytest.importorskip("openvino")
    pred = LandmarkPredictor("default", device="cpu", backend="openvino", precision=precision)
    from facetrack.backends import OpenVINORunner
    assert isinstance(pred.runner, OpenVINORunner)
    pred.runner.cfg["INFERENCE_NUM_THREADS"] = 2  # both paths on any machine (the batch engine is made on first use)
    views = astronaut_faces(astronaut, 6, seed=7)
    alone = [pred.predict(img, box[None]) for img, box in views]
    for n in range(2, 7):
        together = pred.predict_batch([(img, box[None]) for img, box in views[:n]])
        for (lm1, cf1), (lm, cf) in zip(alone, together):
            np.testing.assert_allclose(lm, lm1, atol=0.02)
            np.testing.assert_allclose(cf, cf1, atol=1e-3)
