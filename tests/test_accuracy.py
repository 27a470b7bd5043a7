"""The shipped model on the field's standard faces: NME on a fixed slice of 300-W (the first 30 faces of
`../shared/data/w300/test.csv`, label boxes) under a bound set from the measured figure with a margin, for the
fp32 weights, for the shipped int8 copy (auto's choice) and for OpenVINO's bf16. Fails CI when the shipped model is broken or swapped for a worse one;
skips only without ../shared (the labels are not in the repository)."""
import pytest

from facetrack import LandmarkPredictor
from pipnet_model.datasets import load_dataset
from pipnet_model.evaluation import evaluate

from conftest import shared_path

# measured on this slice for the shipped model (docs/accuracy.md); update both when the model changes
FP32_NME, INT8_NME, BF16_NME = 0.0347, 0.0347, 0.0348


@pytest.fixture(scope="module")
def slice30():
    ds = load_dataset(f"csv:{shared_path('data/w300/test.csv')}")
    ds.records = ds.records[:30]
    return ds


@pytest.mark.parametrize("backend,precision", [("torch", "fp32"), ("openvino", "int8"), ("openvino", "bf16")])
def test_shipped_model_on_a_fixed_300w_slice(slice30, backend, precision):
    if backend == "openvino":
        pytest.importorskip("openvino")
    lp = LandmarkPredictor("default", "cpu", backend=backend, precision=precision)
    assert (lp.backend, lp.precision) == (backend, precision)
    nmes, _ = evaluate(lp.meta, slice30, lp.predict_crops)
    measured = {"fp32": FP32_NME, "int8": INT8_NME, "bf16": BF16_NME}[precision]
    assert nmes.mean() <= measured * 1.1 + 0.001, nmes.mean()  # 10% (and 0.1 point) above the measured figure
    assert (nmes > 0.1).sum() == 0


def test_shipped_model_sits_where_independent_annotators_put_the_points():
    """AFLW2000-3D (annotated independently of 300-W): on the held-out half's first 60 faces with |yaw| <= 30
    degrees (the half benchmarks/pose_fit.py does not fit on and no training sees), label boxes, the shipped int8 copy, the
    51 inner points sit within +-1% of the inter-ocular distance of the labels in x on average. In y AFLW2000-3D's
    annotators draw brows and eyes higher than 300-W's (dlib, trained on 300-W, sits +1.7% below them on the same
    faces, +2.7% on the brows; on the nose both sit within 0.3%; docs/accuracy.md, fourteenth session): y within
    0..+2.5%. The model before the labels' conventions were fixed sat +2.1% right and +2.3% down (detector path)."""
    import csv

    import numpy as np
    folder = shared_path("data/aflw2000")
    pose = {r[0]: np.array(r[1:], float) for r in list(csv.reader(open(folder / "pose.csv")))[1:]}
    ds = load_dataset(f"csv:{folder / 'landmarks.csv'}")
    named = {r.image.name: r for r in ds.records}
    held = sorted(n for n in named if n in pose and np.all(np.abs(pose[n]) <= 99))[1::2]
    ds.records = [named[n] for n in held if abs(pose[n][0]) <= 30][:60]
    lp = LandmarkPredictor("default", "cpu")
    _, pred = evaluate(lp.meta, ds, lp.predict_crops)
    gt = np.stack([r.points for r in ds.records]).astype(np.float64)
    iod = np.linalg.norm(gt[:, 36] - gt[:, 45], axis=-1)[:, None]
    dx, dy = (100 * ((pred - gt)[:, 17:] / iod[..., None]).mean((0, 1))).tolist()
    assert abs(dx) <= 1.0, (dx, dy)
    assert 0.0 <= dy <= 2.5, (dx, dy)
