"""Video in/out and the streaming pipeline on real and generated clips (detector model from ../shared)."""
import csv
import json
import subprocess
import sys

import av
import numpy as np
import pytest

from facetrack.errors import FacetrackError
from facetrack.samples import load_truth
from facetrack.video import VideoSource, VideoWriter, probe_frames

from conftest import ROOT, shared_path


@pytest.fixture(scope="module")
def detector_env(tmp_path_factory, detector_model):
    task = detector_model
    home = tmp_path_factory.mktemp("ft_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("FACETRACK_DETECTOR_MODEL", str(task))
    mp.setenv("FACETRACK_HOME", str(home))
    yield task
    mp.undo()


def test_lavfi_source_frames_and_timestamps():
    with VideoSource("lavfi:testsrc=size=160x120:rate=25:duration=2") as s:
        frames = list(s)
        assert s.info.fps == 25 and (s.info.width, s.info.height) == (160, 120)
    assert len(frames) == 50
    np.testing.assert_allclose([f.time_s for f in frames], np.arange(50) / 25, atol=1e-6)
    assert frames[0].image.shape == (120, 160, 3) and frames[0].image.dtype == np.uint8


def test_writer_keeps_frame_count_timing_and_audio(clip, tmp_path):
    out = tmp_path / "copy.mp4"
    with VideoSource(clip) as s, VideoWriter(out, s.info.fps, s.info.width, s.info.height, audio_from=clip) as w:
        times = []
        for f in s:
            w.write(f.image, f.time_s)
            times.append(f.time_s)
    assert probe_frames(out) == probe_frames(clip) == 100
    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 1
        got = [float(fr.time) for fr in c.decode(video=0)]
    np.testing.assert_allclose(got, times, atol=1e-3)


def test_missing_and_bad_inputs(tmp_path):
    with pytest.raises(FacetrackError, match="not found"):
        VideoSource(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(FacetrackError, match="empty"):
        VideoSource(tmp_path / "empty.mp4")
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(FacetrackError, match="cannot open video"):
        VideoSource(tmp_path / "junk.mp4")


def _run_track(clip, tmp_path, smoother="kalman", extra=()):
    out = {"csv": tmp_path / f"{smoother}.csv", "jsonl": tmp_path / f"{smoother}.jsonl", "video": tmp_path / f"{smoother}.mp4"}
    r = subprocess.run([sys.executable, "-m", "facetrack", "track", str(clip), "--csv", str(out["csv"]),
                        "--jsonl", str(out["jsonl"]), "--video", str(out["video"]), "--smoother", smoother,
                        "--quiet", *extra], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1]), out


def test_track_outputs_are_consistent(detector_env, clip, tmp_path):
    summary, out = _run_track(clip, tmp_path)
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(f))
    header = open(out["csv"]).readline().strip().split(",")
    assert header[:8] == ["frame", "time_s", "track_id", "det_score", "box_x", "box_y", "box_w", "box_h"]
    assert header[8:8 + 136:2] == [f"x{k}" for k in range(68)] and header[9:9 + 136:2] == [f"y{k}" for k in range(68)]
    jl = [json.loads(line) for line in open(out["jsonl"])]
    assert len(rows) == len(jl) == summary["faces"] > 0
    assert probe_frames(out["video"]) == summary["frames"] == 100
    with av.open(str(out["video"])) as c:
        assert len(c.streams.audio) == 1
    # the main face is tracked in every frame after the first, with one id
    main = [r for r in rows if float(r["box_x"]) < 320]
    assert len({r["track_id"] for r in main}) == 1 and len(main) >= 98


def _errors_and_jitter(rows, truth, ref_patch_points):
    from facetrack.samples import true_points
    errs, jit, prev = [], [], None
    by_frame = {}
    for r in rows:
        by_frame.setdefault(int(r["frame"]), []).append(r)
    for i in range(len(truth["frames"])):
        tp = true_points(truth, i, 1, ref_patch_points)
        cand = [np.array([[float(r[f"x{k}"]), float(r[f"y{k}"])] for k in range(68)]) for r in by_frame.get(i, [])]
        cand = [c for c in cand if np.abs(c.mean(0) - tp.mean(0)).max() < 40]
        if not cand:
            prev = None
            continue
        lm, size = cand[0], np.ptp(tp[:, 0])
        errs.append(np.linalg.norm(lm - tp, axis=1).mean() / size)
        if truth["frames"][i]["t"] < 2.0:  # the still segment
            if prev is not None:
                jit.append(np.linalg.norm(lm - prev, axis=1).mean() / size)
            prev = lm
    return float(np.mean(errs)), float(np.mean(jit))


def test_kalman_smoothing_follows_motion_and_cuts_jitter(detector_env, clip, tmp_path):
    from facetrack.landmarks import LandmarkPredictor
    from facetrack.samples import PATCH_BOX, astronaut_bgr
    truth = load_truth(clip)
    # the model's own reading of the still photograph is the reference shape that moves with the known path
    pred = LandmarkPredictor("default", "cpu")
    x0, y0, x1, y1 = PATCH_BOX
    patch = astronaut_bgr()[y0:y1, x0:x1]
    lm = np.array([[40.0, 60.0, 170.0, 190.0]])
    for _ in range(3):
        lm, _ = pred.predict(patch, lm.reshape(-1, 4) if lm.ndim == 2 else
                             [[lm[0][:, 0].min(), lm[0][:, 1].min(), lm[0][:, 0].max(), lm[0][:, 1].max()]])
    ref = lm[0]
    res = {}
    for sm in ("none", "kalman"):
        _, out = _run_track(clip, tmp_path, sm)
        with open(out["csv"]) as f:
            res[sm] = _errors_and_jitter(list(csv.DictReader(f)), truth, ref)
    (e_none, j_none), (e_k, j_k) = res["none"], res["kalman"]
    print(res)
    # the smoother's lag costs a little accuracy on the moving part: 2-3% with the 2026-11-30 model and Kalman
    # accel_std 2.0; more than 5% is a regression. Jitter, smoothed / raw, by precision: int8 (the default) 0.48x
    # (its raw landmarks jitter most, 1.5e-3), bf16 0.58x and fp32 0.59x (raw 0.9e-3 and 0.7e-3, smoothed 0.53e-3
    # and 0.42e-3 against int8's 0.73e-3) on an Intel Xeon; int8 0.53x on an AVX-512 AMD EPYC (raw 1.7e-3). A smoother
    # that does nothing gives 1.0x
    assert e_k <= e_none * 1.05, res
    assert j_k <= 0.62 * j_none, res


def test_obama_one_track_in_95_percent_of_frames(detector_env, tmp_path):
    video = shared_path("videos/obama_one_face_1280x720.mp4")
    summary, out = _run_track(video, tmp_path)
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert summary["frames"] == 55  # the damaged file decodes 55 of the 158 frames its header promises
    assert {r["track_id"] for r in rows} == {"1"}
    assert len({r["frame"] for r in rows}) >= 0.95 * summary["frames"]
    assert probe_frames(out["video"]) == 55


def test_hamilton_tracks_do_not_swap(detector_env, tmp_path):
    """The clip cuts between shots; within a track, the face must never jump to another person."""
    video = shared_path("videos/hamilton_two_faces_640x360.mp4")
    summary, out = _run_track(video, tmp_path)
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(f))
    tracks = {}
    for r in rows:
        tracks.setdefault(r["track_id"], []).append(r)
    for tid, rs in tracks.items():
        for a, b in zip(rs, rs[1:]):
            if int(b["frame"]) - int(a["frame"]) > 3:
                continue
            ca = np.array([float(a["box_x"]) + float(a["box_w"]) / 2, float(a["box_y"]) + float(a["box_h"]) / 2])
            cb = np.array([float(b["box_x"]) + float(b["box_w"]) / 2, float(b["box_y"]) + float(b["box_h"]) / 2])
            assert np.linalg.norm(ca - cb) < 0.5 * max(float(a["box_w"]), float(a["box_h"])), (tid, a["frame"], b["frame"])
    # the performer's close-up shot (frames ~90-200) is one track from start to end
    longest = max(tracks.values(), key=len)
    frames = [int(r["frame"]) for r in longest]
    assert len(frames) >= 100 and max(frames) - min(frames) >= 100
    assert probe_frames(out["video"]) == summary["frames"] == 275


def test_face_tracker_api_with_own_frames(detector_env, clip):
    from facetrack import FaceTracker
    ft = FaceTracker(smoother="none", device="cpu")
    with VideoSource(clip) as s:
        results = [ft.update(f.image, f.time_s) for f in s if f.index < 20]
    ft.close()
    assert [r.index for r in results] == list(range(20))
    assert all(len(r.faces) >= 1 for r in results[1:])
    f = results[5].faces[0]
    assert f.landmarks.shape == (68, 2) and f.scores.shape == (68,) and f.track_id == 1


def test_rotation_metadata_is_applied(tmp_path):
    """A phone-style clip: landscape pixels with display rotation -90 (90 degrees clockwise) come out portrait."""
    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 32, "yuv420p"
        s.set_display_rotation(-90)
        for i in range(3):
            img = np.zeros((32, 64, 3), np.uint8)
            img[:8, :8] = 255  # marker in the top-left corner
            fr = av.VideoFrame.from_ndarray(img, format="bgr24")
            fr.pts = i
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    with VideoSource(path) as src:
        frames = list(src)
    img = frames[0].image
    assert img.shape[:2] == (64, 32)
    assert img[:8, -8:].mean() > 200 and img[-8:, :8].mean() < 50  # top-left went to top-right


def test_track_generator_yields_one_result_per_frame(detector_env, clip):
    import facetrack
    results = list(facetrack.track(str(clip), with_images=True, device="cpu", smoother="none"))
    final = results.pop()  # the stream's end: the tracks still on screen end (FaceTracker.finish)
    assert final.index == 100 and final.faces == [] and final.image is None
    assert final.events and all(e.kind == "ended" for e in final.events)
    assert [r.index for r in results] == list(range(100))
    assert results[10].image.shape == (360, 640, 3) and len(results[10].faces) >= 1
