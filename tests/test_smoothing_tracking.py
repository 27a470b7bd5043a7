import numpy as np
import pytest

from facetrack.errors import FacetrackError
from facetrack.smoothing import KalmanBank, KalmanSmoother, OneEuroSmoother, create_smoother, smoother_factory
from facetrack.tracking import Tracker, associate, iou_matrix


def test_kalman_bank_matches_filterpy():
    filterpy = pytest.importorskip("filterpy.kalman")
    from filterpy.common import Q_discrete_white_noise
    rng = np.random.default_rng(0)
    k, steps = 6, 60
    q = rng.uniform(0.1, 5, k)
    r = rng.uniform(0.5, 3, k)
    z0 = rng.normal(0, 10, k)
    bank = KalmanBank(z0, 4.0, 100.0)
    refs = []
    for i in range(k):
        f = filterpy.KalmanFilter(dim_x=2, dim_z=1)
        f.x = np.array([[z0[i]], [0.0]])
        f.P = np.diag([4.0, 100.0])
        f.H = np.array([[1.0, 0.0]])
        f.R = np.array([[r[i]]])
        refs.append(f)
    t = 0.0
    for step in range(steps):
        dt = float(rng.uniform(0.02, 0.07))  # variable frame rate
        t += dt
        z = z0 + 3 * np.sin(t * 3) + rng.normal(0, 1, k)
        bank.predict(dt, q)
        bank.update(z, r)
        for i, f in enumerate(refs):
            f.F = np.array([[1.0, dt], [0.0, 1.0]])
            f.Q = Q_discrete_white_noise(2, dt, q[i])
            f.predict()
            f.update(np.array([[z[i]]]))
        ref_x = np.array([f.x.ravel() for f in refs])
        ref_p = np.array([f.P for f in refs])
        np.testing.assert_allclose(bank.x, ref_x, atol=1e-9, rtol=0)
        np.testing.assert_allclose(bank.P, ref_p, atol=1e-9, rtol=0)


@pytest.mark.parametrize("name", ["kalman", "kalman-points", "one-euro"])
def test_smoothers_are_scale_invariant_and_reduce_noise(name):
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, (68, 2))
    seq = [base + rng.normal(0, 0.01, base.shape) for _ in range(60)]
    outs = {}
    for scale in (50.0, 400.0):
        sm = create_smoother(name)
        outs[scale] = np.array([sm(7, s * scale + 20, i / 30) for i, s in enumerate(seq)], dtype=np.float64)
    np.testing.assert_allclose((outs[400.0] - 20) / 400, (outs[50.0] - 20) / 50, atol=1e-4)
    raw = np.array(seq) * 50 + 20
    jit_raw = np.abs(np.diff(raw[10:], axis=0)).mean()
    jit_sm = np.abs(np.diff(outs[50.0][10:], axis=0)).mean()
    assert jit_sm < 0.6 * jit_raw


def _moving_face(seconds=2.0, fps=30.0, speed=(60.0, -30.0), turn_deg_s=20.0, zoom_s=0.1, noise=0.0, seed=0):
    """A 68-point face (its size ~100 px) moving at a constant velocity, turning in-plane and growing."""
    from facetrack.smoothing import rotation
    rng = np.random.default_rng(seed)
    shape = rng.uniform(-50, 50, (68, 2))
    frames = []
    for i in range(int(seconds * fps)):
        t = i / fps
        true = (1 + zoom_s * t) * shape @ rotation(np.radians(turn_deg_s * t)).T + [200 + speed[0] * t, 200 + speed[1] * t]
        frames.append((t, true, true + rng.normal(0, noise, true.shape)))
    return frames


def test_kalman_follows_head_motion_with_less_lag_than_per_point_filters():
    """The default smoother splits head motion (centre, scale, angle) from the shape: a face that moves, turns
    and grows without noise is followed closely; the per-point filter lags behind it."""
    lag = {}
    for name in ("kalman", "kalman-points"):
        sm = create_smoother(name)
        errs = [np.linalg.norm(sm(1, seen, t) - true, axis=1).mean() for t, true, seen in _moving_face()]
        lag[name] = float(np.mean(errs[15:]))
    assert lag["kalman"] < 0.5, lag  # pixels, on a ~100 px face moving 67 px/s
    assert lag["kalman"] < 0.5 * lag["kalman-points"], lag


def test_kalman_reports_the_head_velocity_and_steadies_noise():
    sm = KalmanSmoother()
    assert sm.velocity() is None  # before its first frame
    frames = _moving_face(turn_deg_s=0.0, zoom_s=0.0, noise=1.0)
    outs = [sm(seen, t) for t, true, seen in frames]
    np.testing.assert_allclose(sm.velocity(), [60.0, -30.0], atol=6.0)
    err_raw = np.mean([np.linalg.norm(seen - true, axis=1).mean() for _, true, seen in frames[15:]])
    err_sm = np.mean([np.linalg.norm(o - true, axis=1).mean() for o, (_, true, _) in zip(outs[15:], frames[15:])])
    assert err_sm < 0.7 * err_raw, (err_sm, err_raw)


def test_smoother_state_resets_per_track():
    """Each track has its own smoother; a bank by track id (for rows read back) starts a dropped id afresh."""
    sm = create_smoother("kalman")
    a = np.zeros((5, 2)) + [[0, 0], [100, 0], [0, 100], [100, 100], [50, 50]]
    sm(1, a, 0.0)
    sm(1, a, 0.04)
    sm.drop(1)
    b = a + 300
    np.testing.assert_allclose(sm(1, b, 0.08), b, atol=1e-4)  # a new track starts where it is seen
    eu = OneEuroSmoother()
    np.testing.assert_allclose(eu(b, 0.0), b, atol=1e-4)
    assert [type(smoother_factory(n)()).__name__ for n in ("kalman", "kalman_points", "one-euro", "none")] == [
        "KalmanSmoother", "PointKalmanSmoother", "OneEuroSmoother", "NoSmoother"]
    with pytest.raises(FacetrackError, match="unknown smoother 'median'.*kalman, kalman-points, one-euro, none"):
        smoother_factory("median")


def test_iou_and_association():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    b = np.array([[21, 21, 31, 31], [0, 0, 10, 5], [100, 100, 110, 110]])
    iou = iou_matrix(a, b)
    assert iou[0, 1] == pytest.approx(0.5)
    assert iou[1, 0] == pytest.approx(81 / 119)
    m, ut, ud = associate(a, b, 0.3)
    assert sorted(m) == [(0, 1), (1, 0)] and ut == [] and ud == [2]


def test_a_detection_round_that_cannot_see_a_small_face_does_not_count_against_it():
    """A round whose detector could not have found a face that small (``reach``: BlazeFace between the far-face
    sweeps) leaves the small track alone; the same round counts against a large track it missed, and a round that
    looks at every size counts against both (issue 40: a video call's small faces died between sweeps)."""
    tr = Tracker(min_hits=1, max_det_misses=2)
    small, large = tr.update_with_detections([[0, 0, 40, 40], [100, 100, 400, 400]], [0.9, 0.9])
    for t in (small, large):
        tr.mark(t, True)
    for _ in range(5):
        tr.update_with_detections(np.zeros((0, 4)), [], reach=192.0)
        tr.prune()
    assert small in tr.tracks and small.det_misses == 0 and large not in tr.tracks
    for _ in range(3):
        tr.update_with_detections(np.zeros((0, 4)), [], reach=0.0)
        tr.prune()
    assert small not in tr.tracks


def test_tracker_life_cycle_and_ids_never_reused():
    tr = Tracker(min_hits=2, max_age=2, max_tracks=3, max_det_misses=2)
    new = tr.update_with_detections([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8])
    assert [t.track_id for t in new] == [1, 2] and all(t.state == "tentative" for t in new)
    for t in tr.tracks:
        tr.mark(t, True)
        tr.mark(t, True)
    assert all(t.state == "confirmed" for t in tr.tracks)
    # the detector stops seeing track 2 for more than max_det_misses rounds
    for _ in range(3):
        tr.update_with_detections([[1, 1, 11, 11]], [0.9])
        tr.prune()
    assert [t.track_id for t in tr.tracks] == [1]
    new = tr.update_with_detections([[1, 1, 11, 11], [50, 50, 60, 60]], [0.9, 0.9])
    assert [t.track_id for t in new] == [3]  # id 2 is not reused
    # a tentative track whose landmarks fail twice dies at once
    tr.mark(new[0], False)
    tr.mark(new[0], False)
    assert [t.track_id for t in tr.prune()] == [3]
    assert 3 not in [t.track_id for t in tr.tracks]


def test_duplicate_tracks_are_merged_into_the_older():
    tr = Tracker()
    tr.update_with_detections([[0, 0, 10, 10], [40, 0, 50, 10]], [0.9, 0.9])
    tr.tracks[1].box = np.array([0.5, 0, 10.5, 10.0])  # converged on the same face
    gone = tr.suppress_duplicates()
    assert [t.track_id for t in gone] == [2] and [t.track_id for t in tr.tracks] == [1]


def test_a_track_that_slides_onto_another_face_goes_not_that_faces_own_track():
    """Person A is hidden by B walking in front: A's crop slides onto B's face. Both tracks now hold B; A's track
    (the older) jumped there, B's did not move: A's goes and B keeps its ID (the identity benchmark's cross clips)."""
    from pipnet_model.geometry import landmark_box

    def face(x0):  # 68 points spread over a 100 px face whose left edge is x0
        g = np.linspace(0, 1, 68)
        return np.stack([x0 + 10 + 80 * g, 20 + 60 * ((g * 7) % 1)], 1)

    tr = Tracker(min_hits=1)
    a, b = tr.update_with_detections([[0, 0, 100, 100], [70, 0, 170, 100]], [0.9, 0.9])
    for t, x0 in ((a, 0), (b, 70)):  # each on its own face
        tr.observe(t, face(x0), np.ones(68), True)
        tr.observe(t, face(x0), np.ones(68), True)
    assert a.moved < 0.01 and b.moved < 0.01
    tr.observe(a, face(66), np.ones(68), True)  # A's landmarks land on B's face
    tr.observe(b, face(71), np.ones(68), True)
    assert iou_matrix(a.box, b.box)[0, 0] > 0.6 and a.moved > 0.5
    assert [t.track_id for t in tr.suppress_duplicates()] == [a.track_id]
    assert [t.track_id for t in tr.tracks] == [b.track_id]
    np.testing.assert_allclose(b.box, landmark_box(face(71)))


def test_landmark_failures_remove_a_confirmed_track_after_max_age():
    tr = Tracker(min_hits=1, max_age=3)
    (t,) = tr.update_with_detections([[0, 0, 10, 10]], [0.9])
    tr.mark(t, True)
    for k in range(4):
        assert tr.prune() == []
        tr.mark(t, False)
    assert tr.prune() == [t] and t.state == "deleted"


def test_weak_detections_keep_tracks_but_do_not_start_them():
    tr = Tracker()
    assert tr.update_with_detections([[0, 0, 10, 10]], [0.3], new_min_score=0.5) == []
    (t,) = tr.update_with_detections([[0, 0, 10, 10]], [0.9], new_min_score=0.5)
    tr.update_with_detections([[1, 0, 11, 10], [50, 50, 60, 60]], [0.3, 0.3], new_min_score=0.5)
    assert t.det_misses == 0 and t.box[0] == 1 and len(tr.tracks) == 1


def test_linear_assignment_finds_scipys_optimum():
    """The tracker's own Hungarian method (the lean install has no scipy) reaches the same total cost as
    scipy's linear_sum_assignment, on square and rectangular matrices, with ties."""
    scipy_opt = pytest.importorskip("scipy.optimize")
    from facetrack.tracking import linear_assignment
    rng = np.random.default_rng(0)
    for t in range(600):
        n, m = rng.integers(1, 9, 2)
        c = rng.random((n, m)) if t % 3 else rng.integers(0, 3, (n, m)).astype(float)  # every third: many ties
        r1, c1 = scipy_opt.linear_sum_assignment(c)
        r2, c2 = linear_assignment(c)
        assert len(r2) == min(n, m) and len(set(r2)) == len(r2) and len(set(c2)) == len(c2)
        assert list(r2) == sorted(r2)
        assert c[r2, c2].sum() == pytest.approx(c[r1, c1].sum(), abs=1e-9)
    assert [len(a) for a in linear_assignment(np.zeros((0, 3)))] == [0, 0]
    with pytest.raises(ValueError):
        linear_assignment(np.array([[np.inf, 1.0]]))
