"""The people index across an archive (issue 42): `facetrack batch --people` links the IDs of several videos by
appearance. Real faces (ytf68 test people from ../shared), the real model and dlib's descriptor (the reid extra)."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, shared_path


def _two_people(pool):
    """Two people with three frames (views) each."""
    rich = [i for i, p in enumerate(pool) if len(p) >= 3]
    return rich[0], rich[5]


def test_three_clips_give_exactly_two_people(tmp_path, detector_model):
    from facetrack import reid, scenes
    if not reid.available():
        pytest.skip("the people index needs the reid extra (dlib-bin, face_recognition_models)")
    from facetrack.batch import BatchOptions, read_people, run_batch
    from facetrack.pipeline import TrackOptions
    pool = scenes.people(f"csv:{shared_path('data/ytf68/test.csv')}")
    a, b = _two_people(pool)
    arch = tmp_path / "archive"
    scenes.render_appearances([(0, 3, a, 0)], pool, arch / "1_a.mp4")
    scenes.render_appearances([(0, 3, b, 0)], pool, arch / "2_b.mp4")
    # a cut to B elsewhere in the frame, and back to A (the framing changes with each cut, as in an edited video)
    scenes.render_appearances([(0, 2.5, a, 1, 0.3), (2.5, 5, b, 1, 0.7), (5, 7.5, a, 2, 0.3)], pool, arch / "3_aba.mp4",
                              gop=25)  # a keyframe a second: chunks for --chunk-seconds below
    out = tmp_path / "out"
    o = BatchOptions(out=str(out), workers=2, people=True,
                     track=TrackOptions(device="cpu", detector_model=str(detector_model)))
    res = run_batch([str(arch)], o, progress=False)
    assert res["done"] == 3 and res["people"] == 2, res
    rows = read_people(out)
    videos = {p: {r["video"] for r in rows if r["person_id"] == p} for p in {r["person_id"] for r in rows}}
    assert sorted(map(sorted, videos.values())) == [["1_a", "3_aba"], ["2_b", "3_aba"]], rows
    assert all((out / "people" / f"{p}.jpg").is_file() for p in videos)
    a_in_3 = [r for r in rows if r["video"] == "3_aba" and videos[r["person_id"]] == {"1_a", "3_aba"}]
    assert sum(r["seconds"] for r in a_in_3) == pytest.approx(5.0, abs=0.6)  # on screen 0-2.5 s and 5-7.5 s
    # the index's IDs are the ones the videos' own rows carry
    ids_3 = {int(line.split(",")[2]) for line in (out / "3_aba.csv").read_text().splitlines()[1:]}
    assert {r["track_id"] for r in rows if r["video"] == "3_aba"} <= ids_3
    # --resume with one more video: the people already known keep their IDs, the new video is linked to them
    scenes.render_appearances([(0, 3, b, 2)], pool, arch / "4_b.mp4")
    res = run_batch([str(arch)], BatchOptions(out=str(out), workers=2, people=True, resume=True,
                                              track=TrackOptions(device="cpu", detector_model=str(detector_model))),
                    progress=False)
    assert res["skipped"] == 3 and res["done"] == 1 and res["people"] == 2
    again = read_people(out)
    assert {(r["person_id"], r["video"]) for r in rows} <= {(r["person_id"], r["video"]) for r in again}
    assert {r["person_id"] for r in again if r["video"] == "4_b"} == {p for p, v in videos.items() if "2_b" in v}

    # the cut clip in chunks (--chunk-seconds 2: borders at 2, 4, 6 s, A's second appearance begins in a chunk of
    # its own): one people file for the video, A's time on screen summed over the chunks, the chunks' pictures gone
    chunked = tmp_path / "chunked"
    res = run_batch([str(arch / "1_a.mp4"), str(arch / "3_aba.mp4")], BatchOptions(
        out=str(chunked), workers=2, people=True, chunk_seconds=2.0,
        track=TrackOptions(device="cpu", detector_model=str(detector_model))), progress=False)
    assert res["done"] == 2 and res["people"] == 2, res
    assert json.loads((chunked / "manifest.jsonl").read_text().splitlines()[1])["chunks"] == 4
    crows = read_people(chunked)
    a_id = {r["person_id"] for r in crows if r["video"] == "1_a"}
    assert len(a_id) == 1 and {r["person_id"] for r in crows if r["video"] == "3_aba"} == a_id | {2}
    assert sum(r["seconds"] for r in crows if r["person_id"] in a_id and r["video"] == "3_aba") == \
        pytest.approx(5.0, abs=0.6)
    assert {r["track_id"] for r in crows if r["video"] == "3_aba"} <= \
        {int(line.split(",")[2]) for line in (chunked / "3_aba.csv").read_text().splitlines()[1:]}
    assert (chunked / "people" / "2.jpg").is_file() and not list((chunked / ".people").glob("*.chunk*"))

    # the report: the people (their pictures), every video's page with its timeline and curves, self-contained
    from facetrack.report import build_report
    rep = build_report(out)
    assert rep["videos"] == 4 and rep["people"] == 2 and "note" not in rep
    index = (out / "report.html").read_text()
    assert index.count("data:image/jpeg;base64,") >= 2 and "person 1" in index and "person 2" in index
    assert all(f'report/{v}.html' in index for v in ("1_a", "2_b", "3_aba", "4_b"))
    page = (out / "report" / "3_aba.html").read_text()
    assert "Who is on screen" in page and page.count("<polyline") >= 4 and "blinks" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page  # nothing fetched, nothing run
    # a batch without --people: pages still, and one line why there is no index; a damaged index: one-line error
    plain = tmp_path / "plain"
    run_batch([str(arch / "1_a.mp4")], BatchOptions(out=str(plain), track=TrackOptions(
        device="cpu", detector_model=str(detector_model), reid=False)), progress=False)
    r = subprocess.run([sys.executable, "-m", "facetrack", "report", str(plain)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "no people index" in r.stderr and (plain / "report" / "1_a.html").is_file()
    (out / "people.csv").write_text("person_id,video\n1\n")
    r = subprocess.run([sys.executable, "-m", "facetrack", "report", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cluster_people_links_across_videos_never_within_one():
    """The linking rule on made-up descriptors: A in three videos and B in two are linked by their closest views;
    two IDs of one video stay two people however alike (the video's own tracking kept them apart); a stranger
    stays alone."""
    import numpy as np
    from facetrack.batch import cluster_people
    rng = np.random.default_rng(1)
    a, b, c = (rng.normal(size=128) * 0.1 for _ in range(3))

    def views(p, n=2):
        return [(p + rng.normal(size=128) * 0.012).tolist() for _ in range(n)]  # ~0.17 apart: one person
    ids = [("v1", views(a)), ("v2", views(b)), ("v2", views(a)), ("v3", views(a, 1)), ("v3", views(b)),
           ("v4", views(c))]
    g = cluster_people([v for _, v in ids], [r for r, _ in ids], 0.5)
    assert g == [0, 1, 0, 0, 1, 2]  # A, B, a stranger; numbered in the order people first appear
    g = cluster_people([views(a), views(a), views(a)], ["v1", "v5", "v5"], 0.5)  # v5: two IDs of A in one video
    assert g[1] != g[2] and g[0] in (g[1], g[2])  # one of them joins v1's A, the other stays apart
    assert cluster_people([], [], 0.5) == []


def test_people_without_the_reid_extra_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "facetrack", "batch", str(tmp_path), "--out", str(tmp_path / "o"),
                        "--people", "--no-reid"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "--people" in r.stderr and "re-identification" in r.stderr
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "people.csv").write_text("who,where\n1,2\n")
    from facetrack.batch import read_people
    from facetrack.errors import FacetrackError
    with pytest.raises(FacetrackError, match="not a people index"):
        read_people(tmp_path / "o2")
