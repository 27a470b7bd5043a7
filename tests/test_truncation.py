"""A file cut short (a download that stopped): track warns with both counts, the summary says `truncated`,
batch marks it `partial` and keeps it on --resume unless --retry-partial."""
import json
import subprocess
import sys
from pathlib import Path

import av
import pytest

from facetrack.batch import BatchOptions, run_batch
from facetrack.pipeline import TrackOptions, run
from facetrack.sinks import CSVSink
from facetrack.video import VideoSource

from conftest import ROOT


@pytest.fixture(scope="module")
def cut_clip(clip, tmp_path_factory):
    """The sample clip remuxed with its index first (faststart, as streamed MP4s are), then cut to 45% of its
    bytes: what decodes is a prefix, while the header still promises all 100 frames."""
    d = tmp_path_factory.mktemp("cut")
    fast = d / "fast.mp4"
    with av.open(str(clip)) as src, av.open(str(fast), "w", options={"movflags": "faststart"}) as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        for pkt in src.demux(vin):
            if pkt.dts is None:
                continue
            pkt.stream = vout
            dst.mux(pkt)
    data = fast.read_bytes()
    cut = d / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.45)])
    Path(str(cut) + ".json").write_text(Path(str(clip) + ".json").read_text())
    return cut


def test_source_reports_what_the_header_promised(cut_clip):
    warnings = []
    with VideoSource(cut_clip, warn=warnings.append) as s:
        n = sum(1 for _ in s)
    assert 10 < n < 90
    assert s.truncation == {"expected_frames": 100, "decoded_frames": n}
    assert any("promises 100 frames but only" in w and str(n) in w for w in warnings)


def test_whole_files_are_not_flagged(clip):
    with VideoSource(clip) as s:
        assert sum(1 for _ in s) == 100
    assert s.truncation is None


def test_track_warns_and_the_summary_says_truncated(cut_clip, tmp_path):
    r = subprocess.run([sys.executable, "-m", "facetrack", "track", str(cut_clip), "--csv", str(tmp_path / "o.csv"),
                        "--quiet", "--detector", "truth", "--detector-model", str(cut_clip) + ".json"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-800:]
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["truncated"] is True and s["expected_frames"] == 100 and s["frames"] < 100
    assert "promises 100 frames" in r.stderr and "Traceback" not in r.stderr


def test_batch_marks_partial_and_resume_keeps_it(cut_clip, clip, tmp_path):
    import shutil
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(cut_clip, inp / "cut.mp4")
    shutil.copy(clip, inp / "whole.mp4")
    track = TrackOptions(device="cpu", detector="truth", detector_model=str(clip) + ".json")
    o = BatchOptions(out=str(tmp_path / "out"), workers=1, track=track)
    res = run_batch([str(inp)], o, progress=False)
    assert res["done"] == 1 and res["partial"] == 1 and res["failed"] == 0
    m = {json.loads(line)["rel"]: json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").open()}
    assert m["cut"]["status"] == "partial" and m["cut"]["expected_frames"] == 100 and m["cut"]["frames"] < 100
    assert (tmp_path / "out" / "cut.csv").is_file()  # what decoded is kept
    again = run_batch([str(inp)], BatchOptions(out=str(tmp_path / "out"), workers=1, track=track, resume=True),
                      progress=False)
    assert again["skipped"] == 2
    retry = run_batch([str(inp)], BatchOptions(out=str(tmp_path / "out"), workers=1, track=track, resume=True,
                                               retry_partial=True), progress=False)
    assert retry["skipped"] == 1 and retry["partial"] == 1


def test_run_summary_of_a_whole_file(clip, tmp_path):
    s = run(str(clip), [CSVSink(tmp_path / "o.csv")],
            TrackOptions(device="cpu", detector="truth", detector_model=str(clip) + ".json"), progress=False)
    assert s["truncated"] is False and s["expected_frames"] is None and s["frames"] == 100
