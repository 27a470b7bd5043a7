"""`facetrack batch`: local pool and Ray (started in-process with 2 CPUs), retries, resume, chunking.

Faces come from the truth detector (the sample clips' known boxes), so these run on a fresh clone with no
detector model: the clips differ only in their noise (seed), so one .json of boxes serves them all."""
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from facetrack.batch import BatchOptions, run_batch
from facetrack.inputs import expand_inputs
from facetrack.pipeline import TrackOptions

from conftest import ROOT


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    pytest.importorskip("skimage")
    from facetrack.samples import ClipSpec, make_clip
    root = tmp_path_factory.mktemp("archive")
    (root / "day1").mkdir()
    make_clip(root / "day1" / "a.mp4", ClipSpec(width=320, height=240, seconds=2.0, second_face=False, seed=1))
    make_clip(root / "day1" / "b.mp4", ClipSpec(width=320, height=240, seconds=2.0, second_face=False, seed=2))
    make_clip(root / "c.mp4", ClipSpec(width=320, height=240, seconds=2.0, second_face=False, seed=3))
    (root / "broken.mp4").write_text("not a video\n" * 20)
    return root


@pytest.fixture(scope="module", autouse=True)
def env(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("FACETRACK_HOME", str(tmp_path_factory.mktemp("home")))
    mp.setenv("OMP_NUM_THREADS", "1")
    yield
    mp.undo()


def rows(p: Path) -> list[dict]:
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def manifest(out: Path) -> dict[str, dict]:
    return {json.loads(line)["rel"]: json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()}


def opts(out, boxes, **kw):
    return BatchOptions(out=str(out), track=TrackOptions(device="cpu", detector="truth", detector_model=str(boxes)), **kw)


def kill_first_worker(out: Path, note: Path) -> threading.Thread:
    """SIGKILL the first worker seen running a job (its ``.running`` marker holds its process ID), as a crash
    would, and note its ID in ``note``. No hook in the product: the worker process is really killed."""
    def watch():
        end = time.monotonic() + 120
        while time.monotonic() < end and not note.exists():
            for f in out.rglob(".*.running") if out.exists() else ():
                try:
                    pid = int(f.read_text())
                except (OSError, ValueError):
                    continue  # being written
                os.kill(pid, signal.SIGKILL)
                note.write_text(str(pid))
                return
            time.sleep(0.005)
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def boxes_of(archive) -> Path:
    return Path(str(archive / "c.mp4") + ".json")


def test_inputs_expand_from_folders_globs_and_lists(archive, tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_text(f"# archive\n{archive / 'c.mp4'}\nrtsp://cam.local/stream1\n")
    items = expand_inputs([str(archive), str(archive / "day1" / "*.mp4"), str(lst)])
    rels = [r for _, r in items]
    assert rels[:4] == ["broken", "c", "day1/a", "day1/b"]
    assert "a" in rels and "c_2" in rels and "cam.local_stream1" in rels


@pytest.mark.parametrize("mode", ["local", "ray"])
def test_batch_matches_single_runs_and_marks_broken_files(archive, tmp_path, mode):
    if mode == "ray":
        pytest.importorskip("ray")
    out = tmp_path / "out"
    res = run_batch([str(archive)], opts(out, boxes_of(archive), workers=2, outputs=("csv", "jsonl"), ray="local" if mode == "ray" else None),
                    progress=False)
    assert res["done"] == 3 and res["failed"] == 1
    m = manifest(out)
    assert m["broken"]["status"] == "failed" and "cannot open video" in m["broken"]["error"]
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 4
    for rel in ("day1/a", "day1/b", "c"):
        src = archive / (rel + ".mp4")
        single = tmp_path / "single.csv"
        r = subprocess.run([sys.executable, "-m", "facetrack", "track", str(src), "--csv", str(single), "--quiet",
                            "--device", "cpu", "--detector", "truth", "--detector-model", str(boxes_of(archive))],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, r.stderr[-500:]
        got, want = rows(out / (rel + ".csv")), rows(single)
        assert len(got) == len(want) == m[rel]["faces"] > 0
        assert [(g["frame"], g["track_id"]) for g in got] == [(w["frame"], w["track_id"]) for w in want]
        assert max(abs(float(g["x30"]) - float(w["x30"])) for g, w in zip(got, want)) < 0.05
        assert len((out / (rel + ".jsonl")).read_text().splitlines()) == len(got)
    assert not list(out.rglob("*.part*"))


@pytest.mark.parametrize("mode", ["local", "ray"])
def test_killed_worker_is_retried_without_duplicates(archive, tmp_path, mode):
    if mode == "ray":
        pytest.importorskip("ray")
    marker = tmp_path / "killed-once"
    out = tmp_path / "out"
    kill_first_worker(out, marker)
    res = run_batch([str(archive / "c.mp4")], opts(out, boxes_of(archive), workers=1, ray="local" if mode == "ray" else None),
                    progress=False)
    assert marker.exists()  # the first attempt's worker was killed mid-job
    assert res["done"] == 1
    got = rows(out / "c.csv")
    frames = [int(r["frame"]) for r in got]
    assert frames == sorted(set(frames)) and len(frames) == manifest(out)["c"]["frames"] == 50


def test_resume_processes_only_what_was_not_done(archive, tmp_path):
    out = tmp_path / "out"
    marker = tmp_path / "killed"
    kill_first_worker(out, marker)
    o = opts(out, boxes_of(archive), workers=1, max_retries=0)
    res = run_batch([str(archive / "day1")], o, progress=False)  # one video's worker dies, no retry
    assert marker.exists() and res["done"] == 1 and res["failed"] == 1
    failed = [r for r, v in manifest(out).items() if v["status"] == "failed"][0]
    assert manifest(out)[failed]["error"].startswith("worker died (exit code -9)")
    assert not (out / (failed + ".csv")).exists() and not list(out.rglob("*.part*"))  # no half file anywhere
    res = run_batch([str(archive / "day1")], opts(out, boxes_of(archive), workers=1, resume=True), progress=False)
    m = manifest(out)
    assert res["done"] == 1 and res["skipped"] == 1 and m[failed]["status"] == "done"
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 2  # one final line per video


@pytest.mark.parametrize("mode", ["local", "ray"])
def test_chunked_long_clip_matches_unchunked(tmp_path, mode):
    if mode == "ray":
        pytest.importorskip("ray")
    pytest.importorskip("skimage")
    from facetrack.samples import ClipSpec, make_clip
    clip = make_clip(tmp_path / "long.mp4", ClipSpec(width=320, height=240, seconds=8.0, second_face=False))
    boxes = Path(str(clip) + ".json")
    whole = run_batch([str(clip)], opts(tmp_path / "whole", boxes, workers=1), progress=False)
    chunked = run_batch([str(clip)], opts(tmp_path / "chunked", boxes, workers=2, chunk_seconds=2.0,
                                          outputs=("csv", "parquet"),
                                          ray="local" if mode == "ray" else None), progress=False)
    assert whole["done"] == chunked["done"] == 1
    m = manifest(tmp_path / "chunked")["long"]
    assert m["chunks"] == 4
    a, b = rows(tmp_path / "whole" / "long.csv"), rows(tmp_path / "chunked" / "long.csv")
    assert len(a) == len(b) == 200
    assert [int(r["frame"]) for r in b] == list(range(200))
    assert len({r["track_id"] for r in b}) == 1  # stitched across the three borders, no collision
    import pyarrow.parquet as pq
    t = pq.read_table(tmp_path / "chunked" / "long.parquet").to_pylist()
    assert [(q["frame"], str(q["track_id"])) for q in t] == [(int(r["frame"]), r["track_id"]) for r in b]
    if mode == "local":  # merged by records: any format alone (before: chunks needed --csv, stitched from its text)
        run_batch([str(clip)], opts(tmp_path / "jl", boxes, workers=2, chunk_seconds=2.0, outputs=("jsonl",)),
                  progress=False)
        jl = [json.loads(x) for x in (tmp_path / "jl" / "long.jsonl").read_text().splitlines()]
        assert [(d["frame"], str(d["track_id"])) for d in jl] == [(int(r["frame"]), r["track_id"]) for r in b]
        assert len([k for k in jl[0] if k.startswith("s") and k[1:].isdigit()]) == 68  # every field kept
        assert not list((tmp_path / "jl").rglob("*.part*"))
