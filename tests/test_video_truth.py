"""The video ground-truth benchmark's parts (facetrack.scenes, facetrack.scoring): clips whose truth follows their
motion, and the flicker metric."""
import av
import numpy as np
import pytest

from pipnet_model.metrics import nmf
from pipnet_model.schemes import SCHEMES

from facetrack import scenes, scoring

from conftest import synthetic_faces, template_68


def test_nmf_of_constant_and_alternating_errors():
    gt = np.stack([template_68() * 200 + 50 + [3 * t, -t] for t in range(6)])  # a moving face
    iod = np.linalg.norm(gt[:, 36] - gt[:, 45], axis=1)
    np.testing.assert_allclose(nmf(gt + [4.0, -2.0], gt, SCHEMES["68"]), 0, atol=1e-12)
    d = 1.5
    alt = gt + np.array([[d if t % 2 else -d, 0.0] for t in range(6)])[:, None, :]
    np.testing.assert_allclose(nmf(alt, gt, SCHEMES["68"]), 100 * 2 * d / iod[1:])


def test_clip_truth_follows_the_motion(tmp_path):
    img, pts = synthetic_faces(1, size=320, seed=3)[0]  # a bright dot on every landmark
    clip = scenes.make_clip(img, pts.astype(np.float64), 150, tmp_path / "c.mp4", seed=1)
    truth = scenes.read_points(tmp_path / "c.mp4.truth.csv")
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(frames) == len(truth) == scenes.FRAMES
    moved = np.abs(truth[30][0] - truth[0][0]).max()
    assert moved > 5  # the face really moves
    for i in (0, 30, 59):
        g = frames[i].astype(np.float64).sum(-1)
        for k in (8, 30, 36, 45):  # chin, nose, eye corners
            x, y = truth[i][0][k]
            x0, y0 = int(round(x)) - 4, int(round(y)) - 4
            win = g[y0:y0 + 9, x0:x0 + 9]
            w = np.clip(win - np.median(g), 0, None)
            cy, cx = np.array(np.nonzero(w > 0.5 * w.max())).mean(1)
            assert abs(x0 + cx - x) < 1.5 and abs(y0 + cy - y) < 1.5, (i, k)


def test_score_reads_any_csv_with_frame_and_points(tmp_path):
    pts = template_68() * 100 + 50
    truth = [[i, *(pts + [i, 0]).reshape(-1)] for i in range(5)]
    scenes.write_points(tmp_path / "t.csv", truth, 68)
    pred = [[i, *(pts + [i + 0.5, 0]).reshape(-1)] for i in range(5) if i != 2]
    scenes.write_points(tmp_path / "p.csv", pred, 68)
    s = scoring.score_landmarks(tmp_path / "p.csv", tmp_path / "t.csv")
    iod = np.linalg.norm(pts[36] - pts[45])
    assert s["covered"] == 4 and s["cover"] == pytest.approx(0.8)
    assert s["nme"] == pytest.approx(0.5 / iod) and s["nmf"] == pytest.approx(0.0, abs=1e-9)


def test_resmooth_smooths_a_noisy_raw_output(tmp_path):
    """`resmooth` replays a clip's unsmoothed rows through a smoother: on a slowly moving face with 1 px noise the
    Kalman smoother's flicker is well under the raw output's, its error no larger."""
    from facetrack.smoothing import KalmanSmoother, NoSmoother
    rng = np.random.default_rng(0)
    pts = template_68() * 150 + 100
    truth = [[i, *(pts + [0.5 * i, 0]).reshape(-1)] for i in range(60)]
    scenes.write_points(tmp_path / "c.mp4.truth.csv", truth, 68)
    (tmp_path / "facetrack_no_smoothing").mkdir()
    with open(tmp_path / "facetrack_no_smoothing" / "c.csv", "w") as f:
        f.write("frame,time_s,track_id," + ",".join(f"x{k},y{k}" for k in range(68)) + "\n")
        for i in range(60):
            noisy = pts + [0.5 * i, 0] + rng.normal(0, 1.0, pts.shape)
            f.write(f"{i},{i / 25:.3f},1," + ",".join(f"{v:.3f}" for v in noisy.reshape(-1)) + "\n")
    rows = scoring.read_rows(tmp_path / "facetrack_no_smoothing" / "c.csv")
    raw = scoring.score_landmarks(scoring.resmooth(rows, NoSmoother), tmp_path / "c.mp4.truth.csv")
    sm = scoring.score_landmarks(scoring.resmooth(rows, KalmanSmoother), tmp_path / "c.mp4.truth.csv")
    assert raw["cover"] == sm["cover"] == 1.0
    assert sm["nmf"] < 0.6 * raw["nmf"] and sm["nme"] <= raw["nme"]
