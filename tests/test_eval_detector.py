"""`facetrack eval --boxes detector`: every image through the product's path (detector, box adapter, refine);
missed faces reported apart."""
import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT


def test_detector_boxes_score_the_product_path_and_count_misses(tmp_path, detector_model):
    pytest.importorskip("skimage")
    from facetrack import LandmarkPredictor
    from facetrack.samples import FACE_BOX_IN_PATCH, PATCH_BOX, astronaut_bgr
    img = astronaut_bgr()
    face = np.array(FACE_BOX_IN_PATCH) + np.array(PATCH_BOX[:2] * 2)
    pred = LandmarkPredictor("default", "cpu", backend="torch")
    rows = []
    (tmp_path / "images").mkdir()
    for k, (s, a) in enumerate([(1.0, 0), (0.8, 10), (0.7, -8), (0.9, 4)]):
        m = cv2.getRotationMatrix2D((256, 256), a, s)
        view = cv2.warpAffine(img, m, (512, 512))
        c = np.array([[face[0], face[1]], [face[2], face[1]], [face[2], face[3]], [face[0], face[3]]]) @ m[:, :2].T + m[:, 2]
        lm, _ = pred.predict(view, [[*c.min(0), *c.max(0)]], refine=3)  # labels: the model's own converged reading
        cv2.imwrite(str(tmp_path / "images" / f"v{k}.png"), view)
        rows.append([f"v{k}.png", *lm[0].reshape(-1)])
    blank = np.full((512, 512, 3), 90, np.uint8)  # a labelled face the detector cannot find
    cv2.imwrite(str(tmp_path / "images" / "blank.png"), blank)
    rows.append(["blank.png", *rows[0][1:]])
    with open(tmp_path / "set.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image"] + [c for k in range(68) for c in (f"x{k}", f"y{k}")])
        w.writerows(rows)
    env = {"PATH": "/usr/bin:/bin", "FACETRACK_DETECTOR_MODEL": str(detector_model), "FACETRACK_HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "facetrack", "eval", "--data", f"csv:{tmp_path / 'set.csv'}", "--boxes",
                        "detector", "--backend", "torch", "--json"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr[-800:]
    s = json.loads(r.stdout)
    assert s["boxes"] == "detector" and s["faces"] == 5 and s["missed"] == 1 and s["count"] == 4
    assert s["nme"] < 0.02  # from a detector box, two re-crops land where the converged reading is
    assert s["fr_with_misses"] == pytest.approx(1 / 5)
