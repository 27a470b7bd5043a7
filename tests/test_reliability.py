"""Bad input, interruption, stalled live sources, long runs, training kills, unsafe model files.
Every case ends with correct output or one clear error line and a non-zero exit, never a traceback."""
import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from facetrack.video import VideoSource, probe_frames

from conftest import ROOT, synthetic_faces, wait_until, write_csv_dataset
from media import write_audio_only, write_video


@pytest.fixture(scope="module")
def env(tmp_path_factory, detector_model):
    task = detector_model
    home = tmp_path_factory.mktemp("home")
    return {**os.environ, "FACETRACK_DETECTOR_MODEL": str(task), "FACETRACK_HOME": str(home), "OMP_NUM_THREADS": "1"}


def ft(args, env, **kw):
    return subprocess.run([sys.executable, "-m", "facetrack", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, **kw)


def assert_one_line_error(r, msg):
    assert r.returncode == 2, (r.returncode, r.stderr[-800:])
    assert "Traceback" not in r.stderr
    err = [line for line in r.stderr.splitlines() if line.startswith("facetrack: error:")]
    assert len(err) == 1 and msg in err[0], r.stderr[-800:]


def _corrupt_middle(src: Path, dst: Path) -> Path:
    b = bytearray(src.read_bytes())
    n = len(b)
    b[n // 3:n // 3 + 60000] = np.random.default_rng(0).integers(0, 256, 60000, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(b))
    return dst


BAD = {
    "zero-byte file": (lambda d: (d / "zero.mp4").write_bytes(b"") and None or d / "zero.mp4", "empty"),
    "random bytes named .mp4": (lambda d: (d / "rand.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
                                and None or d / "rand.mp4", "cannot open video"),
    "text file": (lambda d: (d / "t.txt").write_text("hello\n" * 50) and None or d / "t.txt", "cannot open video"),
    "truncated at half size": (lambda d: _truncate(write_video(d / "full.mp4", n=40), d / "half.mp4"),
                               "cannot open video"),
    "audio stream only": (lambda d: write_audio_only(d / "a.m4a"), "no video stream"),
    "path that does not exist": (lambda d: d / "missing.mp4", "not found"),
    "camera device that does not exist": (lambda d: "/dev/video97", "camera not found"),
}


def _truncate(src: Path, dst: Path) -> Path:
    b = src.read_bytes()
    dst.write_bytes(b[: len(b) // 2])
    return dst


@pytest.mark.parametrize("case", list(BAD))
def test_bad_inputs_give_one_error_line(case, tmp_path, env):
    make, msg = BAD[case]
    r = ft(["track", make(tmp_path), "--csv", tmp_path / "o.csv"], env)
    assert_one_line_error(r, msg)


GOOD = {
    "image file (one frame)": (lambda d: _png(d / "img.png"), 1),
    "1x1 video": (lambda d: write_video(d / "one.mkv", n=4, size=(1, 1), codec="ffv1", pix_fmt="bgr0"), 4),
    "4K frame": (lambda d: write_video(d / "k4.mp4", n=2, size=(3840, 2160)), 2),
    "gray pixels": (lambda d: write_video(d / "g.mkv", n=6, codec="ffv1", pix_fmt="gray"), 6),
    "yuv444": (lambda d: write_video(d / "y.mp4", n=6, pix_fmt="yuv444p"), 6),
    "10-bit": (lambda d: write_video(d / "p10.mkv", n=6, codec="ffv1", pix_fmt="yuv420p10le"), 6),
    "corrupt packets in the middle": (lambda d: _corrupt_middle(write_video(
        d / "n.mp4", n=100, size=(320, 240),
        image_fn=lambda i: np.random.default_rng(i).integers(0, 255, (240, 320, 3), dtype=np.uint8)), d / "c.mp4"), None),
}


def _png(p: Path) -> Path:
    import cv2
    cv2.imwrite(str(p), synthetic_faces(1, 200)[0][0])
    return p


@pytest.mark.parametrize("case", list(GOOD))
def test_odd_inputs_give_correct_output(case, tmp_path, env):
    make, frames = GOOD[case]
    src = make(tmp_path)
    r = ft(["track", src, "--csv", tmp_path / "o.csv", "--out-video", tmp_path / "o.mp4", "--quiet"], env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-800:]
    s = json.loads(r.stdout.strip().splitlines()[-1])
    if frames is None:  # corrupt packets: the bad ones are skipped with a warning, the rest processed
        assert 80 <= s["frames"] < 100 and "skipped a corrupt packet" in r.stderr
    else:
        assert s["frames"] == frames
    assert probe_frames(tmp_path / "o.mp4") == s["frames"]


def test_variable_frame_rate_times_are_kept(tmp_path, env):
    times = [0, 0.03, 0.05, 0.2, 0.21, 0.5, 0.55, 0.6, 1.0, 1.01]
    src = write_video(tmp_path / "vfr.mp4", n=10, times=times)
    r = ft(["track", src, "--out-video", tmp_path / "o.mp4", "--quiet"], env)
    assert r.returncode == 0, r.stderr[-500:]
    with av.open(str(tmp_path / "o.mp4")) as c:
        got = [float(f.time) for f in c.decode(video=0)]
    np.testing.assert_allclose(got, times, atol=2e-3)


def test_output_folder_is_created_or_refused_before_work(tmp_path, env):
    src = write_video(tmp_path / "v.mp4", n=3)
    r = ft(["track", src, "--csv", tmp_path / "new" / "deeper" / "o.csv", "--quiet"], env)
    assert r.returncode == 0 and (tmp_path / "new" / "deeper" / "o.csv").is_file()
    (tmp_path / "afile").write_text("x")
    r = ft(["track", src, "--csv", tmp_path / "afile" / "o.csv"], env)
    assert_one_line_error(r, "cannot create output folder")


@pytest.fixture(scope="module")
def looped_clip(tmp_path_factory):
    pytest.importorskip("skimage")
    from facetrack.samples import ClipSpec, make_clip
    clip = make_clip(tmp_path_factory.mktemp("loop") / "c.mp4", ClipSpec(width=320, height=240, seconds=2.0,
                                                                          second_face=False))
    return f"lavfi:movie={clip}:loop=0,setpts=N/(25*TB)"


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_leaves_complete_outputs(sig, code, tmp_path, env, looped_clip):
    out_csv, out_jl, out_mp4 = tmp_path / "o.csv", tmp_path / "o.jsonl", tmp_path / "o.mp4"
    p = subprocess.Popen([sys.executable, "-m", "facetrack", "track", looped_clip, "--csv", str(out_csv), "--jsonl",
                          str(out_jl), "--out-video", str(out_mp4), "--quiet", "--max-frames", "100000"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: out_csv.exists() and len(out_csv.read_text().splitlines()) > 40, "40 rows written", 120, 0.2,
               alive=lambda: p.poll() is None)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err[-800:]
    assert "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    rows = list(csv.DictReader(open(out_csv)))
    frames_in_csv = {int(r["frame"]) for r in rows}
    assert len(open(out_jl).read().splitlines()) == len(rows) == summary["faces"]
    assert probe_frames(out_mp4) == summary["frames"] == max(frames_in_csv) + 1
    assert summary["interrupted"] == ("SIGINT" if sig == signal.SIGINT else "SIGTERM")


def test_stalled_live_source_ends_cleanly(tmp_path):
    """A stream that stops delivering (a FIFO whose writer goes quiet) ends with a warning, not a hang."""
    src = write_video(tmp_path / "v.ts", n=30, size=(64, 48))
    fifo = tmp_path / "live.ts"
    os.mkfifo(fifo)
    # the writer delivers the stream over ~0.75 s, as a live source does (all at once, the live policy's newest-frame
    # rule could drop frames the reader had no time to take: a fresh-clone run once got 13 of 30), then goes quiet
    writer = subprocess.Popen([sys.executable, "-c", f"import time\nf=open({str(fifo)!r},'wb')\n"
                               f"b=open({str(src)!r},'rb').read(); k=max(1,len(b)//15)\n"
                               "for i in range(0,len(b),k): f.write(b[i:i+k]); f.flush(); time.sleep(0.05)\n"
                               "time.sleep(30)"])
    warnings, frames, stalled = [], [], []

    def read():
        with VideoSource(fifo, live=True, stall_timeout_s=1.5, warn=warnings.append, format="mpegts") as s:
            frames.extend(s)
            stalled.append(s.stalled)
    reader = threading.Thread(target=read, daemon=True)
    try:
        reader.start()
        wait_until(lambda: not reader.is_alive(), "the stalled source to end (a hang: the writer stays quiet 30 s)", 25)
    finally:
        writer.kill()
    assert stalled == [True] and len(frames) >= 20 and any("stopped delivering" in w for w in warnings)


def test_memory_does_not_grow_with_length(tmp_path, env, looped_clip):
    """Short version of benchmarks/long_run.py: peak RSS for 100 and 500 frames within 10%."""
    peaks = {}
    for n in (100, 500):
        code = ("import resource, json, sys\nfrom facetrack.pipeline import run\nfrom facetrack.sinks import CSVSink\n"
                f"r = run({looped_clip!r}, [CSVSink({str(tmp_path / f'{n}.csv')!r})], progress=False, max_frames={n})\n"
                "print(json.dumps([r['frames'], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
        assert r.returncode == 0, r.stderr[-800:]
        frames, peak = json.loads(r.stdout.strip().splitlines()[-1])
        assert frames == n
        peaks[n] = peak
    assert peaks[500] <= peaks[100] * 1.10, peaks


def test_kill_9_during_training_then_resume(tmp_path):
    data = write_csv_dataset(tmp_path / "ds", synthetic_faces(12, size=100, seed=3))
    out = tmp_path / "run"
    base = [sys.executable, "-m", "facetrack", "train", "--data", f"csv:{data}", "--backbone", "mobilenet_v2",
            "--no-pretrained", "--batch-size", "4", "--input-size", "64", "--out", str(out), "--threads", "1",
            "--epochs", "6"]
    p = subprocess.Popen(base, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    metrics = out / "metrics.jsonl"
    wait_until(lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 2, "two epochs' metrics", 120,
               0.05, alive=lambda: p.poll() is None)
    p.kill()  # SIGKILL: no chance to clean up
    p.wait()
    done = len(metrics.read_text().splitlines())
    assert 2 <= done < 6
    from pipnet_model import load_model
    load_model(out / "last.safetensors")  # written atomically: never a half file under the final name
    r = subprocess.run(base + ["--resume"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-800:]
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == list(range(1, 7)) and "resuming after epoch" in r.stderr
    r = subprocess.run(base[:-2] + ["--epochs", "8", "--input-size", "96", "--resume"], cwd=ROOT,
                       capture_output=True, text=True)
    assert_one_line_error(r, "different configuration")


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.environ["EVIL_MARKER"],))


@pytest.mark.parametrize("name", ["evil.pth", "evil.pkl"])
def test_pickle_model_is_refused_from_the_cli(name, tmp_path, env):
    marker = tmp_path / "pwned"
    f = tmp_path / name
    os.environ["EVIL_MARKER"] = str(marker)
    try:
        f.write_bytes(pickle.dumps(_Evil()))
    finally:
        del os.environ["EVIL_MARKER"]
    src = write_video(tmp_path / "v.mp4", n=2)
    r = ft(["track", src, "--model", f], {**env, "EVIL_MARKER": str(marker)})
    assert_one_line_error(r, "never unpickles")
    assert not marker.exists()
