"""The camera preview: a polite error without a display, and the real window under Xvfb (Debian's xvfb and
xdotool; the test skips where they are not installed, and `make test` installs nothing system-wide)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from facetrack.video import probe_frames

from conftest import ROOT, wait_until


def test_no_display_is_one_line_and_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "facetrack", "camera", "--source", "lavfi:testsrc=size=320x240:rate=25",
                        "--detector", "opencv", "--csv", str(tmp_path / "c.csv")],
                       capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "cannot open a preview window" in r.stderr and "--headless" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.fixture
def xvfb():
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        pytest.skip("Xvfb and xdotool are not installed (Debian packages xvfb, xdotool)")
    for n in range(140, 160):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            break
    p = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.exists(f"/tmp/.X11-unix/X{n}"), "Xvfb's socket", 20, alive=lambda: p.poll() is None)
    except pytest.fail.Exception:
        p.kill()
        pytest.skip("Xvfb did not start")
    yield f":{n}"
    p.kill()
    p.wait()


def test_preview_window_shows_frames_and_q_closes_it(xvfb, clip, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb}
    env.pop("QT_QPA_PLATFORM", None)
    out_csv, out_mp4 = tmp_path / "c.csv", tmp_path / "c.mp4"
    p = subprocess.Popen([sys.executable, "-m", "facetrack", "camera", "--source", str(clip), "--realtime", "1",
                          "--detector", "truth", "--detector-model", str(clip) + ".json", "--csv", str(out_csv),
                          "--out-video", str(out_mp4)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        win = []

        def shown():  # the window is up and frames went through it
            r = subprocess.run(["xdotool", "search", "--name", "facetrack"], capture_output=True, text=True, env=env)
            rows = len(out_csv.read_text().splitlines()) if out_csv.exists() else 0
            win[:] = r.stdout.split()[:1]
            return bool(win) and rows > 10
        wait_until(shown, "a preview window with frames through it", 90, 0.2, alive=lambda: p.poll() is None)
        win = win[0]
        subprocess.run(["xdotool", "key", "--window", win, "q"], env=env, capture_output=True)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and "Traceback" not in err, err[-800:]
    s = json.loads(out.strip().splitlines()[-1])
    assert s["interrupted"] == "quit" and 10 < s["frames"] < 100  # closed by 'q' before the clip's end
    assert probe_frames(out_mp4) == s["frames"]  # the video was finalised with every processed frame
    assert len(out_csv.read_text().splitlines()) - 1 == s["faces"] > 0
