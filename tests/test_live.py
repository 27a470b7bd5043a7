"""The live-source policy: a source faster than the pipeline keeps its delay bounded and counts its drops; a
file drops nothing. The source is the sample clip played in real time (``realtime``), faces from the truth
detector, and the slow stage a sink that sleeps: no model file, no camera needed. Delay is asserted in frames
(how far the source had got when a frame's result was written), never in wall time; the clocks of the pacer and
the latency statistics are injected where their arithmetic is tested."""
import threading
import time

import pytest

from facetrack.live import LatencyStats, LatestSlot, Pacer
from facetrack.pipeline import FaceTracker, TrackOptions, run
from facetrack.sinks import CSVSink, Sink
from facetrack.video import VideoSource


class SlowSink(Sink):
    """A stage that takes ``seconds`` per frame (as a slow encoder or display would)."""
    kind = "slow"

    def __init__(self, seconds: float, source: VideoSource):
        self.seconds, self.source, self.frames, self.behind = seconds, source, [], []

    def write(self, result) -> None:
        self.frames.append(result.index)
        self.behind.append(self.source.decoded - 1 - result.index)  # frames the source delivered since this one
        time.sleep(self.seconds)


@pytest.fixture(scope="module")
def tracker(clip):
    ft = FaceTracker(TrackOptions(device="cpu", detector="truth", detector_model=str(clip) + ".json"))
    yield ft
    ft.close()


def test_latest_slot_keeps_the_newest_and_counts_the_rest():
    slot = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.get(0.1) == 4 and slot.dropped == 4
    with pytest.raises(Exception):
        slot.get(0.01)
    got = []
    t = threading.Thread(target=lambda: got.append(slot.get(1.0)))
    t.start()
    slot.put("x")
    t.join()
    assert got == ["x"] and slot.dropped == 4


class FakeClock:
    """A monotonic clock that only moves when told, and a stop event whose ``wait`` moves it."""

    def __init__(self):
        self.t, self.waits = 100.0, []

    def __call__(self):
        return self.t

    def wait(self, seconds):
        self.waits.append(round(seconds, 9))
        self.t += seconds
        return False


def test_pacer_delivers_at_the_clip_rate():
    clock = FakeClock()
    p = Pacer(speed=2.0, clock=clock)
    for k in range(6):
        p.wait(10.0 + k * 0.1, clock)  # frames 0.1 s apart at 2x: one every 0.05 s
    assert clock.waits == [0.05] * 5 and clock.t == pytest.approx(100.25)
    clock.t += 0.2  # the reader was late by four frames' worth: the next frames are due at once
    for k in range(6, 9):
        p.wait(10.0 + k * 0.1, clock)
    assert clock.waits == [0.05] * 5


def test_latency_is_read_on_the_sources_clock():
    clock = FakeClock()
    lat = LatencyStats(clock)
    assert lat.summary() is None
    for k in range(20):
        read_at = clock()
        clock.t += 0.010 + 0.001 * k  # the frame's way through the pipeline
        lat.since(read_at)
    assert lat.summary() == {"p50": 19.5, "p95": 28.1, "max": 29.0}


def test_a_file_drops_nothing(clip, tracker, tmp_path):
    tracker.reset()
    s = run(str(clip), [CSVSink(tmp_path / "o.csv")], tracker, progress=False)
    assert s["frames"] == 100 and s["dropped_frames"] == 0 and s["live"] is False and s["latency_ms"] is None


def test_live_source_faster_than_the_pipeline_stays_current(clip, tracker):
    """100 frames delivered in 2 s (2x), a pipeline of >= 100 ms a frame (the source delivers ~5 frames in that
    time): most frames are dropped, and each processed frame is the newest or close to it when its result is
    written. (Before: a queue of 8 paced the source and results fell 8 frames behind.)"""
    tracker.reset()
    with VideoSource(clip, realtime=2.0) as src:
        slow = SlowSink(0.1, src)
        s = run(src, [slow], tracker, progress=False)
    assert s["live"] is True and set(s["latency_ms"]) == {"p50", "p95", "max"}
    assert s["frames"] + s["dropped_frames"] == 100          # every frame is either processed or counted
    assert s["dropped_frames"] >= 50 and s["frames"] >= 8
    assert sorted(slow.behind)[len(slow.behind) // 2] <= 2, slow.behind  # the newest frame, give or take one
    assert slow.frames == sorted(slow.frames) and slow.frames[-1] >= 90  # it kept up with the source's end


def test_no_drop_keeps_every_frame_of_a_live_source(clip, tracker):
    tracker.reset()
    with VideoSource(clip, realtime=4.0, drop=False) as src:
        slow = SlowSink(0.03, src)
        s = run(src, [slow], tracker, progress=False)
    assert s["frames"] == 100 and s["dropped_frames"] == 0 and slow.frames == list(range(100))
    # late, as asked for: frames wait behind a queue of others (the source delivers ~3 frames per 30 ms a frame
    # takes here, into a queue of 8)
    assert max(slow.behind) >= 6, slow.behind
