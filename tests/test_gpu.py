"""CUDA paths, checked against the CPU (run where CUDA is present; skipped elsewhere with the reason).

The predictor on CUDA (fp32, fp16, bf16; crops cut on the GPU with one grid_sample) against CPU fp32 on a real
photograph; the whole tracker on a clip, CUDA against CPU; training steps with AMP. ``FACETRACK_GPU_CLIP``
names a ready clip (with its ``.json``) where PyAV is not installed to make one."""
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facetrack import LandmarkPredictor
from facetrack.samples import FACE_BOX_IN_PATCH, PATCH_BOX

pytestmark = pytest.mark.gpu

FACE = np.array(FACE_BOX_IN_PATCH, np.float64) + np.array(PATCH_BOX[:2] * 2)


@pytest.fixture(scope="module")
def photo():
    pytest.importorskip("skimage")
    from facetrack.samples import astronaut_bgr
    return astronaut_bgr()


def views(img, n=16, seed=0):
    """n views of the photograph (scaled, rotated, shifted) with the face's box in each, for a batch."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s, a = rng.uniform(0.6, 1.4), rng.uniform(-20, 20)
        m = cv2.getRotationMatrix2D((256.0, 256.0), a, s)
        m[:, 2] += rng.uniform(-40, 40, 2)
        v = cv2.warpAffine(img, m, (512, 512))
        c = np.array([[FACE[0], FACE[1]], [FACE[2], FACE[1]], [FACE[2], FACE[3]], [FACE[0], FACE[3]]]) @ m[:, :2].T + m[:, 2]
        out.append((v, np.array([[c[:, 0].min(), c[:, 1].min(), c[:, 0].max(), c[:, 1].max()]])))
    return out


@pytest.mark.parametrize("precision,tol", [("fp32", 0.05), ("fp16", 0.5), ("bf16", 0.5)])
def test_cuda_landmarks_match_cpu_fp32(photo, precision, tol):
    """Within 0.05 px (fp32) and 0.5 px (fp16, bf16) of the CPU in fp32, one batch of 16 views."""
    items = views(photo)
    cpu = LandmarkPredictor("default", device="cpu", backend="torch", precision="fp32")
    gpu = LandmarkPredictor("default", device="cuda", backend="torch", precision=precision)
    assert gpu.device_crops and gpu.precision == precision
    b = np.concatenate([lm for lm, _ in gpu.predict_batch(items)])
    # the same crops on the CPU (grid_sample there too): the difference is the GPU's arithmetic alone
    same = LandmarkPredictor("default", device="cpu", backend="torch", precision="fp32", device_crops=True)
    a = np.concatenate([lm for lm, _ in same.predict_batch(items)])
    err = np.linalg.norm(a - b, axis=-1)
    # OpenCV's crops (the CPU default) differ a little from exact bilinear ones (warpAffine interpolates with
    # 5-bit weights): measured on an H200, 0.050 px mean from CPU fp32 in every precision
    cv = np.concatenate([lm for lm, _ in cpu.predict_batch(items)])
    err_cv = np.linalg.norm(cv - b, axis=-1)
    print(f"{precision}: mean {err.mean():.4f} px, max {err.max():.4f} px; from OpenCV crops {err_cv.mean():.4f} px")
    assert err.mean() < tol and np.percentile(err, 99) < 4 * tol
    assert err_cv.mean() < max(tol, 0.1)


def test_cuda_large_batch(photo):
    """1,024 faces in one call: the same points as the first 16 alone (batching changes nothing)."""
    gpu = LandmarkPredictor("default", device="cuda", backend="torch", precision="fp16")
    items = views(photo, n=16)
    small = np.concatenate([lm for lm, _ in gpu.predict_batch(items)])
    big = np.concatenate([lm for lm, _ in gpu.predict_batch(items * 64)])
    assert big.shape == (1024, 68, 2)
    assert np.abs(big.reshape(64, 16, 68, 2) - small[None]).max() < 0.05


def _clip_path(tmp_path_factory) -> Path:
    env = os.environ.get("FACETRACK_GPU_CLIP")
    if env:
        return Path(env)
    pytest.importorskip("av")
    pytest.importorskip("skimage")
    from facetrack.samples import ClipSpec, make_clip
    return make_clip(tmp_path_factory.mktemp("gpuclip") / "clip.mp4", ClipSpec(seconds=8.0))


def _track(clip: Path, device: str, precision: str):
    from facetrack.detectors.truth import TruthDetector
    from facetrack.pipeline import FaceTracker, TrackOptions
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    pred = LandmarkPredictor("default", device=device, backend="torch", precision=precision)
    ft = FaceTracker(TrackOptions(device=device), detector=TruthDetector(clip), predictor=pred)
    out, i = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        r = ft.update(frame, i / fps, i)
        out.append({f.track_id: f.landmarks.copy() for f in r.faces})
        i += 1
    ft.finish()
    return out


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tracker_on_cuda_gives_the_cpu_tracks(tmp_path_factory, precision):
    """The whole tracker (truth boxes, crops from the previous landmarks, Kalman) on the sample clip: the same
    track IDs in every frame as on the CPU, landmarks close (closed-loop tracking lets tiny numeric
    differences grow a little: the bound is on the median and the 99th percentile over all frames)."""
    clip = _clip_path(tmp_path_factory)
    cpu = _track(clip, "cpu", "fp32")
    gpu = _track(clip, "cuda", precision)
    assert len(cpu) == len(gpu) > 100
    assert [sorted(f) for f in cpu] == [sorted(f) for f in gpu]
    err = np.concatenate([np.linalg.norm(c[k] - g[k], axis=-1) for c, g in zip(cpu, gpu) for k in c])
    print(f"tracker {precision}: median {np.median(err):.4f} px, p99 {np.percentile(err, 99):.4f} px")
    assert np.median(err) < 0.5 and np.percentile(err, 99) < 2.0


def test_training_steps_with_amp_on_cuda(tmp_path):
    """A few epochs with fp16 autocast and the GradScaler on CUDA: finite, falling loss; weights on the
    GPU during training and a loadable checkpoint after."""
    from conftest import synthetic_faces, write_csv_dataset
    from pipnet_model import load_model
    from pipnet_model.train import TrainConfig, train
    data = write_csv_dataset(tmp_path / "d", synthetic_faces(32, seed=1))
    cfg = TrainConfig(data=[str(data)], backbone="mobilenet_v2", out=str(tmp_path / "run"), epochs=4,
                      batch_size=8, lr=1e-3, milestones=(), input_size=64, pretrained=False, device="cuda",
                      workers=2)
    res = train(cfg, log=lambda s: None)
    rows = [__import__("json").loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert res["epochs_run"] == 4 and all(np.isfinite(r["loss"]) for r in rows)
    assert rows[-1]["loss"] < rows[0]["loss"]
    m = load_model(res["last"])
    assert m.meta.recipe["data"] == [str(data)]
